"""``pumpsim bench``: the Numba engine and the plain-Python reference on the same workload, in one
process, with their throughputs and ratio.

Both are timed through the same entry point, ``simulate(table, scenario)`` (lowering and
result objects included for the engine). The workload is generated (no file needed): a 365-day table with a 3-step flex schedule, two
drugs, a bolus policy and a refill every 28 days, simulated with patient requests drawn as in
Monte-Carlo runs (Poisson, 3 a day, from the run's own stream). The engine runs ``runs``
scenarios; the reference, about 100 times slower, runs ``reference_runs`` of the same scenarios
and its time is scaled per scenario. Both must give the same doses (checked on every reference
run): a benchmark that compares two different computations would be meaningless.
"""
from __future__ import annotations

import datetime as dt
import time

from pumpsim.io.tables import parse_table_bytes
from pumpsim.model.results import Scenario
from pumpsim.model.timebase import DAY
from pumpsim.sim import draws, engine, reference

DAYS = 365
REQUESTS_PER_DAY = 3.0


def workload_table(days: int = DAYS):
    """The generated table (a 3-step flex schedule, morphine + ropivacaine, boluses, refills)."""
    start = dt.datetime(2027, 1, 1, 9)
    parts = [f'schema = "pumpsim.table/1"\nhorizon = "{days} day"\n[pump]\nmodel = "synchromed-ii-40"\n']
    for i, d in enumerate(range(0, days, 28)):
        extra = ""
        if i == 0:
            extra = ('steps = [ { from = "00:00", rate = "0.3 mL/day" }, { from = "08:00", rate = "0.5 mL/day" },'
                     ' { from = "20:00", rate = "0.4 mL/day" } ]\n'
                     'bolus = { volume = "20 uL", lockout = "4 h", max_per_24h = 4 }\n')
        parts.append(f"[[session]]\nat = {(start + dt.timedelta(days=d)).isoformat()}\n"
                     f'refill = {{ volume = "20 mL", mix = {{ morphine = "10 mg/mL", ropivacaine = "7.5 mg/mL" }} }}\n{extra}')
    return parse_table_bytes("\n".join(parts).encode(), "bench-workload.toml")[0]


def scenarios(n: int, days: int, seed: int = 0) -> list[Scenario]:
    """n request scenarios, each from its own stream (the Monte-Carlo generator)."""
    return [Scenario(1.0, "requests", draws.request_times(seed, r, REQUESTS_PER_DAY / DAY, float(days * DAY), 0.375 * DAY))
            for r in range(n)]


def run(runs: int = 2000, reference_runs: int = 20, days: int = DAYS) -> dict:
    table = workload_table(days)
    sc = scenarios(max(runs, reference_runs), days)
    engine.simulate(table, sc[0])  # compile or load the cache outside the timing
    t0 = time.perf_counter()
    fast = [engine.simulate(table, s) for s in sc[:runs]]
    t_engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    slow = [reference.simulate(table, s) for s in sc[:reference_runs]]
    t_reference = time.perf_counter() - t0
    for a, b in zip(fast, slow):  # the same numbers, or the comparison means nothing
        for d in table.drugs():
            x, y = a.total_delivered()[d], b.total_delivered()[d]
            if abs(x - y) > 1e-9 * max(1.0, abs(x)):
                raise AssertionError(f"engine and reference disagree on {d}: {x} vs {y}")
    per_engine = t_engine / runs
    per_reference = t_reference / reference_runs
    us_engine, us_reference = per_engine * 1e6, per_reference * 1e6
    return {
        "workload": {"days": days, "flex_steps": 3, "drugs": len(table.drugs()), "requests_per_day": REQUESTS_PER_DAY,
                     "refills": sum(1 for s in table.sessions if s.refill is not None)},
        "engine": {"runs": runs, "seconds": t_engine, "us_per_run": us_engine,
                   "scenario_days_per_s": days / per_engine},
        "reference": {"runs": reference_runs, "seconds": t_reference, "us_per_run": us_reference,
                      "scenario_days_per_s": days / per_reference},
        "ratio": us_reference / us_engine,  # from the reported figures, so that it is their exact ratio
    }


def render(r: dict) -> str:
    e, ref = r["engine"], r["reference"]
    w = r["workload"]
    return (f"workload: {w['days']} days, {w['flex_steps']}-step flex schedule, {w['drugs']} drugs, "
            f"{w['requests_per_day']:g} bolus requests a day, {w['refills']} refills\n"
            f"numba engine : {e['runs']:>6} runs in {e['seconds']:.3f} s = {e['us_per_run']:10.1f} us/run, "
            f"{e['scenario_days_per_s'] / 1e6:8.3f} M scenario-days/s\n"
            f"reference    : {ref['runs']:>6} runs in {ref['seconds']:.3f} s = {ref['us_per_run']:10.1f} us/run, "
            f"{ref['scenario_days_per_s'] / 1e6:8.3f} M scenario-days/s\n"
            f"ratio        : the Numba engine is {r['ratio']:.0f}x faster (same doses on every compared run)\n")
