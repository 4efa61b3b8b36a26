"""The detection table of `pumpsim fleet scan` (docs/FLEET.md §3): signal delay of a faulty lot and
false group signals per fleet-year, with the information limit beside them.

Two measurements:

* ``--model`` (default): fleets drawn from the statistical model of ``pumpsim fleet simulate``
  (the same lots, models, programs and refill periods, its tables' per-refill spread: a factor
  1 + clip(mean_i + sd N, +/-30 %) per interval with the pump's own mean_i, refills up to 2 days
  late, a fault multiplying delivery from its onset, the interval that holds the onset
  partly), judged by the group test's own functions (:mod:`pumpsim.telemetry.fleet.grouptest`).
  Fast: whole fleets of 10,000 pumps, many times.
* ``--pipeline``: a few fleets through the real commands (fleet simulate, ingest, scan; every
  pump reconciled), to check that the model measurement is what the tool does.

    python scripts/fleet_detection.py                    # the docs' table (model; a few minutes)
    python scripts/fleet_detection.py --quick            # a smoke run (seconds)
    python scripts/fleet_detection.py --pipeline 1000    # one real-pipeline check per fault, 1,000 pumps
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pumpsim.io.library import device_library
from pumpsim.model import units
from pumpsim.telemetry.fleet import adapter
from pumpsim.telemetry.fleet.grouptest import cusum, fleet_data, innovations, parameters
from pumpsim.telemetry.fleet.simulate import _mean_rate, implanted_models

FAULTS = [("+5 %", 1.05), ("+10 %", 1.10), ("-10 %", 0.90)]
LOTS = (20, 100, 500)


def periods() -> dict[str, list[float]]:
    """Refill period [days] of each program template on each implanted model, as fleet simulate's tables."""
    sim = fleet_data()["simulate"]
    residual = units.parse_quantity(sim["residual"]["value"], units.VOLUME)
    clip = units.parse_quantity(sim["clip"], units.FRACTION)
    late = units.parse_quantity(sim["refill_delay_max"], units.TIME)
    out = {}
    for m in implanted_models():
        res = units.parse_quantity(device_library()[m]["reservoir"]["value"], units.VOLUME)
        out[m] = [max(1, min(int(sim["max_period_days"]), math.floor((res - residual) / (_mean_rate(t) * (1 + clip)) - late)))
                  for t in sim["template"]]
    return out


def fleet_rows(rng, pumps: int, lot_size: int, years: float, fault: tuple[int, float, float] | None):
    """Per lot: (model, rows of (time [days], pump, ln ratio, interval days)). fault = (lot index, factor, onset day)."""
    per = periods()
    models = implanted_models()
    sim = fleet_data()["simulate"]
    sd = float(adapter.per_refill_sd().value)
    tau = float(fleet_data()["between_pump_sd"]["value"])
    clip = units.parse_quantity(sim["clip"], units.FRACTION)
    late = units.parse_quantity(sim["refill_delay_max"], units.TIME)
    horizon = 365 * years
    lots = []
    for j in range(math.ceil(pumps / lot_size)):
        model = models[int(rng.integers(len(models)))]
        rows = []
        for i in range(j * lot_size, min(pumps, (j + 1) * lot_size)):
            p = per[model][int(rng.integers(len(per[model])))]
            mean = math.expm1(rng.normal(0.0, tau))
            sched = np.arange(0.0, horizon, p)
            eff = sched + np.concatenate([[0.0], rng.uniform(0.0, late, len(sched) - 1)])
            a, b = eff[:-1], eff[1:]
            f = 1.0 + np.clip(mean + sd * rng.standard_normal(len(a)), -clip, clip)
            if fault is not None and fault[0] == j:
                onset = fault[2]
                frac = np.clip((b - np.maximum(a, onset)) / (b - a), 0.0, 1.0)
                f = f * (1.0 + (fault[1] - 1.0) * frac)
            x = np.log(f)
            rows += [(float(t), f"P{i:05d}", float(v), float(e - s)) for t, v, s, e in zip(b, x, a, b)]
        lots.append((model, rows))
    return lots


def judge(rows, params):
    """(signal time [days] or None, cycle days) of one group, by the group test's functions."""
    rows.sort(key=lambda r: (r[0], r[1]))
    z = innovations([(r[0], r[1], r[2]) for r in rows], float(params.sigma.value), float(params.tau.value))
    _, _, first = cusum(z, float(params.k.value), float(params.h.value))
    return (None if first is None else rows[first][0]), statistics.median(r[3] for r in rows)


def model_table(fleets: int, pumps: int, years: float, seed: int, h: float | None, by_model_too: bool = False,
                false_only: bool = False) -> None:
    params = parameters(adapter.per_refill_sd())
    if h is not None:
        params = params.__class__(params.sigma, params.tau, params.k, params.h.__class__(h, "", False, str(h)))
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    false, groups, mfalse, mgroups = 0, 0, 0, 0
    for _ in range(fleets):
        by_model: dict[str, list] = {}
        for model, rows in fleet_rows(rng, pumps, 100, years, None):
            groups += 1
            false += judge(rows, params)[0] is not None
            if by_model_too:
                by_model.setdefault(model, []).extend(rows)
        for rows in by_model.values():
            mgroups += 1
            mfalse += judge(rows, params)[0] is not None
    fy = fleets * years
    print(f"false group signals: {false} in {fleets} fault-free fleets of {pumps} pumps x {years:g} years "
          f"({groups} lot groups of 100): {false / fy:.3f} per fleet-year  (k {params.k.value:g}, h {params.h.value:g}; "
          f"{time.perf_counter() - t0:.0f} s)")
    if by_model_too:
        print(f"  --by model: {mfalse} in the same fleets ({mgroups} model groups): {mfalse / fy:.3f} per fleet-year")
    if false_only:
        return
    sd = float(params.sigma.value)
    print("\n| fault | lot of | signalled | delay, median [refill cycles] | (p10-p90) | limit [cycles] |")
    print("|---|---|---|---|---|---|")
    for label, factor in FAULTS:
        for lot in LOTS:
            delays, hits, n = [], 0, max(4, fleets * 2)
            for _ in range(n):
                onset = 365.0 * years / 2 + rng.uniform(0, 28)
                # the faulty lot alone: the other lots of the fleet do not touch its statistic
                (_, rows), = fleet_rows(rng, lot, lot, years, (0, factor, onset))
                at, cycle = judge(rows, params)
                if at is not None and at > onset:
                    hits += 1
                    delays.append((at - onset) / cycle)
            d = abs(math.log(factor)) / math.sqrt(sd ** 2)
            # Lorden 1971: at least ln(A) / (d^2 / 2) observations at one false alarm every A
            a_ref = 1.0 / (1.0 / (pumps * 365.0 / 28.0))  # one false alarm per fleet-year, in refills
            limit = math.log(a_ref) / (d * d / 2) / lot
            q = np.percentile(delays, [10, 50, 90]) if delays else [math.nan] * 3
            print(f"| {label} | {lot} | {hits}/{n} | {q[1]:.2f} | {q[0]:.2f}-{q[2]:.2f} | {limit:.2f} |")


def pipeline(pumps: int, years: float, seed: int) -> None:
    exe = str(Path(sys.executable).parent / "pumpsim")
    for label, factor in FAULTS:
        with tempfile.TemporaryDirectory() as tmp:
            spec = f"lot=L3:{'over' if factor > 1 else 'under'}:{factor}@2027-07-01"
            t0 = time.perf_counter()
            subprocess.run([exe, "fleet", "simulate", f"{tmp}/f", "--pumps", str(pumps), "--years", str(years),
                            "--seed", str(seed), "--fault", spec], check=True, capture_output=True)
            subprocess.run([exe, "fleet", "ingest", f"{tmp}/f.duckdb", f"{tmp}/f/manifest.csv"], check=True, capture_output=True)
            out = subprocess.run([exe, "fleet", "scan", f"{tmp}/f.duckdb", "--format", "json"], capture_output=True, text=True)
            import json

            rep = json.loads(out.stdout)
            onset = dt.datetime(2027, 7, 1)
            for g in rep["groups"]:
                if g["signal"] or g["value"] == "L3":
                    delay = ((dt.datetime.fromisoformat(g["signal_at"]) - onset).days / g["cycle_days"]
                             if g["signal_at"] else None)
                    print(f"{label} on L3 ({pumps} pumps, {years:g} y): group {g['value']} signal={g['signal']} "
                          f"at {g['signal_at']} delay {'-' if delay is None else f'{delay:.2f}'} cycles "
                          f"(cycle {g['cycle_days']:.1f} d), mean ratio {g['mean_ratio']}  [{time.perf_counter() - t0:.0f} s]")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fleets", type=int, default=10)
    ap.add_argument("--pumps", type=int, default=10000)
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--h", type=float, help="try another threshold than the data's")
    ap.add_argument("--pipeline", type=int, metavar="PUMPS")
    ap.add_argument("--by-model", action="store_true", help="also count false signals of the model groups")
    ap.add_argument("--false-only", action="store_true", help="the false-alarm count alone")
    a = ap.parse_args()
    if a.pipeline:
        pipeline(a.pipeline, 2.0, a.seed)
    elif a.quick:
        model_table(1, 1000, 1.0, a.seed, a.h)
    else:
        model_table(a.fleets, a.pumps, a.years, a.seed, a.h, a.by_model, a.false_only)


if __name__ == "__main__":
    main()
