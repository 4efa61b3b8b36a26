"""Hand-derived cases run against both engines (the Numba kernel and the plain-Python
reference), in the manner of pvlib's tests/test_spa.py: one set of tests, two paths.

Every expected number is derived by hand in the comment above its assertion.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from pumpsim.model.results import Scenario
from pumpsim.model.timebase import DAY, HOUR
from pumpsim.sim.events import (
    EV_BOLUS_DENIED_LOCKOUT,
    EV_BOLUS_DENIED_MAX24H,
    EV_BOLUS_DENIED_STALL,
    EV_BOLUS_GRANTED,
    EV_EMPTY,
    EV_LOW_ALARM,
    EV_STALL,
    EV_STALL_RECOVERED,
    EVENT_NAMES,
)
from tests.conftest import parse

REL = 1e-12


@pytest.fixture(params=["engine", "reference"])
def eng(request):
    """The engine module under test: pumpsim.sim.engine (Numba) or pumpsim.reference."""
    return importlib.import_module(f"pumpsim.sim.{request.param}")


def table(body: str, pump: str = "", horizon: str = "30 day"):
    text = f"""
schema = "pumpsim.table/1"
horizon = "{horizon}"
[pump]
model = "synchromed-ii-20"
low_alarm = "2 mL"
dead_volume = "0.2 mL"
{pump}
{body}
"""
    return parse(text)[0]


def dose_at(res, t, j=0):
    """Cumulative tip dose after everything at t (right limit)."""
    i = int(np.searchsorted(res.t, t, side="right")) - 1
    if res.t[i] == t or i + 1 == len(res.t):
        return float(res.dose[i, j])
    w = (t - res.t[i]) / (res.t[i + 1] - res.t[i])
    return float(res.dose[i, j] + w * (res.dose[i + 1, j] - res.dose[i, j]))


CONSTANT = """
[[session]]
at = 2026-12-01T09:00:00
refill = { volume = "20 mL", mix = { morphine = "2 mg/mL" } }
rate = "1 mL/day"
"""


def test_constant_rate_empty_and_alarm(eng):
    r = eng.simulate(table(CONSTANT), Scenario.nominal())
    # 20 mL at 1 mL/day: 2 mL left (low alarm) at day 18, empty at day 20
    assert r.low_alarm_at == pytest.approx(18 * DAY, rel=REL)
    assert r.pump_alarm_at == pytest.approx(18 * DAY, rel=REL)
    assert r.empty_at == pytest.approx(20 * DAY, rel=REL)
    # everything delivered: 20 mL x 2 mg/mL = 40 mg; nothing after day 20
    assert r.total_delivered()["morphine"] == pytest.approx(40.0, rel=REL)
    assert dose_at(r, 25 * DAY) == pytest.approx(40.0, rel=REL)
    assert (r.filled, r.delivered_volume, r.aspirated, r.remaining) == pytest.approx((20.0, 20.0, 0.0, 0.0))
    assert EV_EMPTY in r.event_code.tolist()


def test_fast_pump_alarm_comes_late(eng):
    r = eng.simulate(table(CONSTANT), Scenario(accuracy_factor=1.2))
    # the true volume falls at 1.2 mL/day: 2 mL left at 18/1.2 = 15, empty at 20/1.2 ...
    assert r.low_alarm_at == pytest.approx(15 * DAY, rel=REL)
    assert r.empty_at == pytest.approx(20 / 1.2 * DAY, rel=REL)
    # ... but the pump assumes 1 mL/day: its own alarm at day 18, after it is already empty
    assert r.pump_alarm_at == pytest.approx(18 * DAY, rel=REL)
    assert r.pump_alarm_at > r.empty_at
    i = r.event_code.tolist().index(EV_LOW_ALARM)
    assert r.event_t[i] == pytest.approx(18 * DAY, rel=REL)


def test_flex_steps_follow_the_wall_clock(eng):
    body = """
[[session]]
at = 2026-12-01T09:00:00
refill = { volume = "19.5 mL", mix = { morphine = "1 mg/mL" } }
steps = [ { from = "00:00", rate = "0.5 mL/day" }, { from = "12:00", rate = "1.5 mL/day" } ]
"""
    r = eng.simulate(table(body), Scenario.nominal())
    # 09:00-12:00 (0.125 day) at 0.5 = 0.0625 mL; 12:00-24:00 (0.5 day) at 1.5 = 0.75 mL
    assert dose_at(r, 3 * HOUR) == pytest.approx(0.0625, rel=REL)
    assert dose_at(r, 15 * HOUR) == pytest.approx(0.8125, rel=REL)
    # a whole day uses the mean, 1 mL: after 19 days 0.5 mL remain at 09:00; 0.0625 mL by noon,
    # then 0.4375 mL at 1.5 mL/day takes 0.291666... day: empty at 19.125 + 0.4375/1.5
    assert r.empty_at == pytest.approx((19.125 + 0.4375 / 1.5) * DAY, rel=REL)


BOLUS = """
[[session]]
at = 2026-12-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "1 mL/day"
bolus = { volume = "100 uL", lockout = "6 h", max_per_24h = 3 }
"""


def test_greedy_boluses_follow_lockout_and_rolling_count(eng):
    r = eng.simulate(table(BOLUS, horizon="3 day"), Scenario.worst(0.0))
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED]
    # lockout 6 h: 0, 6, 12 h; the 4th waits until the first leaves the window (0 + 24 h); exact
    assert grants[:7].tolist() == [0, 6 * HOUR, 12 * HOUR, DAY, DAY + 6 * HOUR, DAY + 12 * HOUR, 2 * DAY]
    mx = eng.max_24h(r, 3 * DAY)["morphine"]
    # a window [s, s+1) never holds more than 3 grants: 1 mg basal + 3 x 0.1 mg
    assert mx[0] == pytest.approx(1.3, rel=1e-9)


def test_bolus_is_a_jump_in_the_tip_dose(eng):
    r = eng.simulate(table(BOLUS, horizon="3 day"), Scenario(1.1, "greedy"))
    # at t = 0.25: basal 0.25 x 1.1 = 0.275 mg, plus the first bolus 0.11 mg before; the grant at
    # 0.25 adds 0.11 mg at once (left limit 0.385, right limit 0.495)
    at = np.flatnonzero(r.t == 6 * HOUR)
    assert len(at) >= 2
    assert r.dose[at[0], 0] == pytest.approx(0.385, rel=1e-9)
    assert r.dose[at[-1], 0] == pytest.approx(0.495, rel=1e-9)
    assert eng.max_24h(r, 3 * DAY)["morphine"][0] == pytest.approx(1.43, rel=1e-9)


CHANGE = """
[[session]]
at = 2026-12-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "20 mg/mL" } }
rate = "0.1 mL/day"
[[session]]
at = 2026-12-11T00:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
rate = "0.4 mL/day"
"""


def test_dead_volume_transient_after_a_change_of_mix(eng):
    r = eng.simulate(table(CHANGE, horizon="20 day"), Scenario.nominal())
    # 2 mg/day before and after, but the 0.2 mL left in the line at 20 mg/mL leaves at
    # 0.4 mL/day: 8 mg/day for half a day after the refill
    assert dose_at(r, 10 * DAY) == pytest.approx(20.0, rel=REL)
    assert dose_at(r, 10.5 * DAY) == pytest.approx(24.0, rel=REL)
    assert dose_at(r, 11.5 * DAY) == pytest.approx(26.0, rel=REL)
    # F(H) = integral of c(w - 0.2) over w in [0, 5 mL]: 1.2 mL x 20 + 3.8 mL x 5 = 43 mg
    assert r.total_delivered()["morphine"] == pytest.approx(43.0, rel=REL)
    best, start = eng.max_24h(r, 20 * DAY)["morphine"]
    # any window [s, s+1 day) with s in [9.5, 10] days holds 2(10 - s) + 4 + 2(s - 9.5) = 5 mg;
    # earliest 9.5 days
    assert best == pytest.approx(5.0, rel=1e-9)
    assert start == pytest.approx(9.5 * DAY, abs=1e-9 * DAY)


def test_refill_of_the_same_mix_leaves_the_line_alone(eng):
    body = CHANGE.replace("5 mg/mL", "20 mg/mL").replace("0.4 mL/day", "0.1 mL/day")
    r = eng.simulate(table(body, horizon="20 day"), Scenario.nominal())
    # 20 days x 0.1 mL/day x 20 mg/mL, no transient
    assert r.total_delivered()["morphine"] == pytest.approx(40.0, rel=REL)
    # 19 mL aspirated at day 10, 20 filled twice, 18 remain
    assert (r.filled, r.aspirated, r.remaining) == pytest.approx((40.0, 19.0, 19.0))


def test_empty_pump_delivers_nothing_until_refill(eng):
    body = CONSTANT + """
[[session]]
at = 2026-12-26T09:00:00
refill = { volume = "20 mL", mix = { morphine = "2 mg/mL" } }
"""
    r = eng.simulate(table(body), Scenario.nominal())
    # empty at 20, flat until the refill at 25, then 1 mL/day again: 40 + 5 x 2 = 50 mg at 30
    assert dose_at(r, 24.9 * DAY) == pytest.approx(40.0, rel=REL)
    assert r.total_delivered()["morphine"] == pytest.approx(50.0, rel=REL)
    assert r.filled == pytest.approx(40.0)
    assert r.filled == pytest.approx(r.delivered_volume + r.aspirated + r.remaining, abs=1e-12)


def test_explicit_requests_are_granted_or_denied_with_the_reason(eng):
    sc = Scenario(1.0, "requests", request_times=np.array([0.1, 0.2, 0.4, 0.7, 0.96, 5.0]) * DAY)
    r = eng.simulate(table(BOLUS, horizon="6 day"), sc)
    codes = [int(c) for t, c in zip(r.event_t, r.event_code) if 0.0 < t < 6 * DAY]
    # 0.1 granted; 0.2 within 6 h; 0.4 granted; 0.7 granted (3rd in 24 h);
    # 0.96: 6 h passed but 3 grants in (t - 1, t) = (-0.04, 0.96); 5.0 granted
    assert codes == [EV_BOLUS_GRANTED, EV_BOLUS_DENIED_LOCKOUT, EV_BOLUS_GRANTED, EV_BOLUS_GRANTED,
                     EV_BOLUS_DENIED_MAX24H, EV_BOLUS_GRANTED]


def test_mri_stall_suspends_delivery(eng):
    sc = Scenario(1.0, "requests", request_times=np.array([5.5 * DAY]), modifiers=np.array([[5 * DAY, 6 * DAY, 0.0]]))
    r = eng.simulate(table(BOLUS.replace("20 mL", "10 mL"), horizon="20 day"), sc)
    # a day without delivery: 10 mL at 1 mL/day empty at day 11 instead of 10
    assert r.empty_at == pytest.approx(11 * DAY, rel=REL)
    codes = r.event_code.tolist()
    assert EV_STALL in codes and EV_STALL_RECOVERED in codes and EV_BOLUS_DENIED_STALL in codes
    assert dose_at(r, 6 * DAY) == pytest.approx(dose_at(r, 5 * DAY), rel=REL)
    assert r.event_value[r.event_code == EV_STALL].tolist() == [DAY]  # the stall's length [s]


def test_a_late_refill_moves_the_session(eng):
    body = CONSTANT + """
[[session]]
at = 2026-12-19T09:00:00
refill = { volume = "20 mL", mix = { morphine = "2 mg/mL" } }
"""
    late = Scenario(1.0, "none", session_delays=np.array([0, 3 * DAY]))
    r = eng.simulate(table(body), late)
    # booked at day 18, done at day 21: empty from day 20 to 21
    assert r.empty_at == pytest.approx(20 * DAY, rel=REL)
    assert r.aspirated == pytest.approx(0.0)
    assert r.total_delivered()["morphine"] == pytest.approx(40.0 + 9 * 2.0, rel=REL)


def test_every_event_code_of_the_kernel_has_a_name():
    from pumpsim.kernels import events
    codes = {getattr(events, n) for n in dir(events) if n.startswith("EV_")}
    assert len(codes) == len([n for n in dir(events) if n.startswith("EV_")])  # distinct
    assert codes == set(EVENT_NAMES)


FLUSH_WITH_BOLUS = """
[[session]]
at = 2026-12-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "4 mg/mL" } }
rate = "0.25 mL/day"
[[session]]
at = 2026-12-03T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "1 mL/day"
bolus = { volume = "100 uL", lockout = "6 h", max_per_24h = 3 }
"""


def test_programmed_case_is_the_exact_pump_with_every_bolus_and_the_flush(eng):
    r = eng.simulate(table(FLUSH_WITH_BOLUS, horizon="5 day"), Scenario.programmed())
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED]
    # the policy takes effect at day 2: grants at 2, 2.25, 2.5, then 3 days (the 4th waits for the window)
    assert grants[:4].tolist() == [2 * DAY, 2 * DAY + 6 * HOUR, 2 * DAY + 12 * HOUR, 3 * DAY]
    # [2, 3) pushes 1 mL basal + 3 x 0.1 mL with an exact pump; its first 0.2 mL is the old 4 mg/mL
    # mix in the dead volume: 0.2 x 4 + 1.1 x 1 = 1.9 mg (= 1.3 mg programmed + 0.2 x (4 - 1) flushed).
    # Before day 2: 0.25 x 4 = 1 mg/day; after the flush: 1 + 0.3 = 1.3 mg
    assert eng.max_24h(r, 5 * DAY)["morphine"][0] == pytest.approx(1.9, rel=1e-9)
    # the worst case differs only by the factor on the volume pushed: 1.145 x 1.3 mL, of which
    # the first 0.2 mL at 4 mg/mL: 0.8 + (1.4885 - 0.2) x 1 = 2.0885 mg
    w = eng.simulate(table(FLUSH_WITH_BOLUS, horizon="5 day"), Scenario.worst(0.145))
    assert eng.max_24h(w, 5 * DAY)["morphine"][0] == pytest.approx(2.0885, rel=1e-9)
