"""Kernel v2: the named records, the one draw routine, the per-refill accuracy, the requests
denied without ending a segment, and the window sweep that skips flex-step knots.

Every expected number is derived by hand in the comment above its assertion, or comes from an
independent implementation (the plain-Python reference, the binary-search window maximum).
"""
from __future__ import annotations

import numpy as np
import pytest

from pumpsim.io.tables import read_table
from pumpsim.kernels.draws import draw_conditions
from pumpsim.kernels.pump import simulate_sized
from pumpsim.kernels.rng import standard_exponential, stream
from pumpsim.kernels.structs import OK, capacity, new_work
from pumpsim.kernels.window import max_window, max_window_sweep_columns
from pumpsim.model.results import Scenario
from pumpsim.model.timebase import DAY as _DAY
from pumpsim.sim import engine, montecarlo, reference
from pumpsim.sim.events import EV_BOLUS_DENIED_LOCKOUT, EV_BOLUS_DENIED_MAX24H, EV_BOLUS_GRANTED
from pumpsim.sim.lower import lower
from tests.conftest import REPO, parse

DAY = float(_DAY)  # [s], as the kernels take it (Pump.day)

THREE_REFILLS = """
schema = "pumpsim.table/1"
horizon = "30 day"
[pump]
model = "synchromed-ii-20"
low_alarm = "2 mL"
dead_volume = "0.2 mL"
[[session]]
at = 2026-12-01T09:00:00
refill = { volume = "20 mL", mix = { morphine = "2 mg/mL" } }
rate = "1 mL/day"
[[session]]
at = 2026-12-11T09:00:00
refill = { volume = "20 mL", mix = { morphine = "2 mg/mL" } }
[[session]]
at = 2026-12-21T09:00:00
refill = { volume = "20 mL", mix = { morphine = "2 mg/mL" } }
"""


@pytest.mark.parametrize("eng", [engine, reference], ids=["engine", "reference"])
def test_the_accuracy_can_change_at_every_refill(eng):
    t, _ = parse(THREE_REFILLS)
    sc = Scenario(1.0, "none", session_factors=np.array([1.1, 0.9, 1.0]))
    r = eng.simulate(t, sc)
    # 10 days at 1.1 mL/day, 10 at 0.9, 10 at 1.0: 11 + 9 + 10 = 30 mL pushed, 60 mg of morphine
    assert r.delivered_volume == pytest.approx(30.0, rel=1e-12)
    assert r.total_delivered()["morphine"] == pytest.approx(60.0, rel=1e-12)
    # aspirated at the two refills: 20 - 11 = 9 mL and 20 - 9 = 11 mL
    assert r.aspirated == pytest.approx(20.0, rel=1e-12)
    # the last interval at 1.0 mL/day leaves 10 mL at the horizon
    assert r.remaining == pytest.approx(10.0, rel=1e-12)


def test_a_missed_refill_keeps_the_factor_in_force():
    t, _ = parse(THREE_REFILLS)
    # session[2] (index 1) skipped: 1.1 mL/day for 20 days empties the 20 mL at day 20 - 2/1.1...
    # 20 mL / 1.1 mL/day = 18.18 days, then the refill of session[3] at day 20 (factor 1.0)
    sc = Scenario(1.0, "none", skipped=(1,), session_factors=np.array([1.1, 0.9, 1.0]))
    a, b = engine.simulate(t, sc), reference.simulate(t, sc)
    assert a.empty_at == pytest.approx(20.0 / 1.1 * DAY, rel=1e-12)
    assert b.empty_at == pytest.approx(a.empty_at, rel=1e-12)


BOLUS = """
schema = "pumpsim.table/1"
horizon = "3 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2026-12-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "0.5 mL/day"
bolus = { volume = "0.1 mL", lockout = "4 h", max_per_24h = 2 }
"""


def test_denied_requests_are_logged_in_order_without_a_breakpoint():
    t, _ = parse(BOLUS)
    h = 3600.0
    # requests at 1, 2, 3, 6, 11, 30 h: granted 1 h; 2 h and 3 h in the lockout (until 5 h);
    # 6 h granted; 11 h past the lockout (10 h) but two grants in the last 24 h: denied; 30 h
    # granted (the window (6 h, 30 h) holds none)
    req = np.array([1, 2, 3, 6, 11, 30]) * h
    sc = Scenario(1.0, "requests", req)
    a, b = engine.simulate(t, sc), reference.simulate(t, sc)
    codes = [EV_BOLUS_GRANTED, EV_BOLUS_DENIED_LOCKOUT, EV_BOLUS_DENIED_LOCKOUT, EV_BOLUS_GRANTED,
             EV_BOLUS_DENIED_MAX24H, EV_BOLUS_GRANTED]
    for r in (a, b):
        mask = np.isin(r.event_code, codes)
        assert r.event_code[mask].tolist() == codes
        assert r.event_t[mask].tolist() == req.tolist()
        assert np.all(np.diff(r.event_t) >= 0)
    # a denial changes no slope: the engine keeps no breakpoint at 2, 3 or 11 h
    assert not np.isin(req[[1, 2, 4]], a.t).any()
    # three grants of 0.1 mL at 1 mg/mL plus 3 days of 0.5 mg/day
    assert a.total_delivered()["morphine"] == pytest.approx(1.8, rel=1e-12)
    assert b.total_delivered()["morphine"] == pytest.approx(1.8, rel=1e-12)


def test_the_sized_call_grows_the_buffers_and_simulates_again():
    t, _ = parse(BOLUS.replace('volume = "0.1 mL", lockout = "4 h", max_per_24h = 2',
                               'volume = "1 uL", lockout = "1 min", max_per_24h = 1440'))
    sess, pump, cond = lower(t, Scenario.worst(0.145))
    res, work = simulate_sized(sess, pump, cond, new_work(16, 1))
    assert res.status == OK
    # a bolus every minute for 3 days, two breakpoints each: grown until everything fitted
    assert int(np.sum(work.ev_code[:res.nev] == EV_BOLUS_GRANTED)) == 3 * 1440
    assert work.bp_t.shape[0] >= 2 * 3 * 1440


def _sweep(t, f, irr):
    out = np.empty(f.shape[1])
    max_window_sweep_columns(t, f, len(t), DAY, out, irr, len(irr))
    return out


def test_the_sweep_skips_a_flex_step_only_where_it_recurs():
    # F: 1 per day from 0 to 6 h, 3 per day from 6 h to 24 h, every day (a flex schedule), for
    # 3 days; the worst window holds exactly one day of it: 0.25 + 0.75 * 3 = 2.5
    day = DAY
    knots = [0.0]
    for d in range(3):
        knots += [d * day + 0.25 * day, (d + 1) * day]
    t = np.array(knots)
    rates = [1.0, 3.0]
    f = [0.0]
    for i in range(1, len(t)):
        r = rates[0] if (i % 2 == 1) else rates[1]
        f.append(f[-1] + r * (t[i] - t[i - 1]) / day)
    f = np.array(f).reshape(-1, 1)
    exact = max_window(t, f[:, 0].copy(), DAY, 1e-9)[0]
    assert exact == pytest.approx(2.5, rel=1e-12)
    # with only the first and last instants irregular, the answer is the same
    assert _sweep(t, f, np.array([0.0, 3 * day]))[0] == pytest.approx(2.5, rel=1e-12)
    # a session at 1.5 days that doubles the rate from then on: the worst window is the last
    # day [2 d, 3 d): 2 x 2.5 = 5, found although most knots are flex steps
    t2 = np.sort(np.append(t, 1.5 * day))
    f2 = np.interp(t2, t, f[:, 0])
    f2 = (f2 + np.maximum(0.0, f2 - np.interp(1.5 * day, t, f[:, 0]))).reshape(-1, 1)
    exact2 = max_window(t2, f2[:, 0].copy(), DAY, 1e-9)[0]
    assert exact2 == pytest.approx(5.0, rel=1e-12)
    assert _sweep(t2, f2, np.array([0.0, 1.5 * day, 3 * day]))[0] == pytest.approx(exact2, rel=1e-12)


@pytest.mark.parametrize("name", ["mc-365", "concentration-change", "mri-stall", "variability-late-refills"])
def test_the_sweep_equals_the_binary_search_on_simulated_runs(name):
    """Drawn runs with delays, stalls, requests, mix changes: the sweep with its skipped knots
    gives the exact maximum that the binary search over every candidate gives."""
    path = REPO / ("benchmarks/tables" if name == "mc-365" else "scenarios") / f"{name}.toml"
    table, profile = read_table(path)
    plan = montecarlo.make_plan(table, profile, 3, {d: 1.0 for d in table.drugs()})
    var = plan.variation._replace(req_rate=4.0 / DAY, acc_on=True, acc_sd=0.05, acc_clip=0.145, delay_on=True,
                                  delay_high=3 * DAY, stall_rate=6.0 / (365.25 * DAY), stall_low=7200.0,
                                  stall_high=DAY)
    work = new_work(capacity(plan.sessions, plan.pump, 4000, 64), len(plan.drugs))
    for run in range(12):
        cond = draw_conditions(plan.seed, run, plan.sessions, plan.pump, var)
        res, work = simulate_sized(plan.sessions, plan.pump, cond, work)
        m = res.nbp
        out = np.empty(len(plan.drugs))
        max_window_sweep_columns(work.bp_t, work.bp_dose, m, DAY, out, work.irr_t, res.nirr)
        for d in range(len(plan.drugs)):
            exact = max_window(work.bp_t[:m].copy(), work.bp_dose[:m, d].copy(), DAY, 1e-9)[0]
            assert out[d] == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_the_ziggurat_draws_a_standard_exponential():
    from numba import njit

    @njit
    def draws(n):
        s = stream(11, 0)
        out = np.empty(n)
        for i in range(n):
            out[i] = standard_exponential(s)
        return out

    x = draws(400_000)
    # mean 1 and variance 1, within 5 standard errors (sd of the mean 1/sqrt(n) = 0.0016)
    assert abs(x.mean() - 1.0) < 5 / np.sqrt(x.size)
    assert abs(x.var() - 1.0) < 5 * np.sqrt(8 / x.size)
    # the tail beyond the ziggurat's base (r = 7.697): P = exp(-7.697) = 4.5e-4, 181 expected
    tail = int(np.sum(x > 7.69711747013104972))
    assert abs(tail - 400_000 * np.exp(-7.69711747013104972)) < 5 * np.sqrt(181)
    # and a middle quantile: P(X > 1) = exp(-1)
    assert abs(np.mean(x > 1.0) - np.exp(-1.0)) < 5 * np.sqrt(np.exp(-1) * (1 - np.exp(-1)) / x.size)


def test_the_python_side_uses_the_compiled_draws():
    """The reference path's scenario is the kernel's own draw, not a second implementation."""
    table, profile = read_table(REPO / "scenarios" / "variability-late-refills.toml")
    plan = montecarlo.make_plan(table, profile, 5, None)
    cond = draw_conditions(plan.seed, 7, plan.sessions, plan.pump, plan.variation)
    sc = montecarlo.draw_run(plan, 7)
    assert sc.request_times.tolist() == cond.requests.tolist()
    assert (plan.sessions.t + sc.session_delays).tolist() == cond.t_eff.tolist()
    assert sc.accuracy_factor == cond.factor[0]


PER_REFILL = """
schema = "pumpsim.table/1"
horizon = "84 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2027-01-04T09:00:00
refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }
rate = "0.5 mL/day"
[[session]]
at = 2027-02-01T09:00:00
refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }
[[session]]
at = 2027-03-01T09:00:00
refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }
[variability]
seed = 3
pump_accuracy = { dist = "normal", sd = "7.7 %", clip = "30 %"PER }
"""


@pytest.mark.parametrize("per", ["run", "refill"])
def test_simulate_draws_the_accuracy_per_run_or_per_refill(per):
    t, profile = parse(PER_REFILL.replace("PER", f', per = "{per}"'))
    plan = montecarlo.make_plan(t, profile, 3, None)
    out = montecarlo.per_run(plan, 0, 20_000)
    # 28 days at 0.5 mL/day = 14 mL programmed per interval: left before each refill 20 - 14 f,
    # f normal with sd 7.7 %: mean 6 mL, sd 14 x 0.077 = 1.078 mL (the 30 % clip is 3.9 sd away)
    r2, r3 = out.residual[:, 1], out.residual[:, 2]
    for r in (r2, r3):
        assert abs(r.mean() - 6.0) < 5 * 1.078 / np.sqrt(r.size)
        assert abs(r.std() - 1.078) < 0.03
    corr = np.corrcoef(r2, r3)[0, 1]
    if per == "run":
        assert corr == pytest.approx(1.0, abs=1e-9)  # one factor for the whole run
    else:
        assert abs(corr) < 5 / np.sqrt(r2.size)  # a new factor at each refill: independent
