"""Exact time (issue 13, FORMAT.md §4 "Time is exact arithmetic").

In float days 6 x (1/6 day) falls short of 1 day, so with a 4 h lockout the grant 24 h after the
first landed inside the half-open window [0, 24 h) and the worst 24 h dose counted one bolus too
many. In whole seconds 6 x 14,400 is exactly 86,400. For every lockout that divides 24 h, with
``max_per_24h`` above 24 h / lockout (so the lockout binds, not the count), the greedy worst case
grants at 0, L, 2L, ... and the worst window [s, s + 24 h) holds exactly 24 h / L grants, in the
reference simulator, in the independent check and in the Numba engine.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.cli.main import main
from pumpsim.model.results import Scenario
from pumpsim.model.timebase import DAY, HOUR, MINUTE
from pumpsim.rules import check
from pumpsim.sim import engine, reference
from pumpsim.sim.events import EV_BOLUS_GRANTED
from tests.conftest import parse

# lockouts that divide 24 h, as typed and in seconds
DIVIDING = [("1 h", HOUR), ("2 h", 2 * HOUR), ("3 h", 3 * HOUR), ("4 h", 4 * HOUR), ("6 h", 6 * HOUR),
            ("8 h", 8 * HOUR), ("12 h", 12 * HOUR), ("20 min", 20 * MINUTE), ("30 min", 30 * MINUTE),
            ("40 min", 40 * MINUTE), ("90 min", 90 * MINUTE), ("1.5 h", 90 * MINUTE), ("0.2 h", 12 * MINUTE),
            ("0.25 day", 6 * HOUR), ("0.125 day", 3 * HOUR), ("2.4 h", 144 * MINUTE), ("45 min", 45 * MINUTE)]

RATE = 0.3  # [mL/day] of morphine 10 mg/mL: 3 mg/day
CONC = 10.0  # [mg/mL]
BOLUS = 0.02  # [mL]: 0.2 mg


def lockout_table(lockout: str, max_per_24h: int, at: str = "2026-12-01T09:07:00", horizon: str = "3 day"):
    """Morphine 10 mg/mL at 0.3 mL/day, a 0.02 mL bolus, an exact pump (0 %), no dead volume."""
    return parse(f"""
schema = "pumpsim.table/1"
horizon = "{horizon}"
[pump]
model = "synchromed-ii-20"
accuracy = "0 %"
dead_volume = "0 mL"
[[session]]
at = {at}
refill = {{ volume = "20 mL", mix = {{ morphine = "{CONC:g} mg/mL" }} }}
rate = "{RATE:g} mL/day"
bolus = {{ volume = "{BOLUS:g} mL", lockout = "{lockout}", max_per_24h = {max_per_24h} }}
""")[0]


def expected_worst(grants: int) -> float:
    """Basal over 24 h plus that many boluses [mg]."""
    return RATE * CONC + grants * BOLUS * CONC


def grants_in_worst_window(times: list[float]) -> int:
    """The most grants in any half-open window [s, s + 24 h): a window starting at a grant."""
    times = sorted(times)
    return max(sum(1 for u in times if g <= u < g + DAY) for g in times)


def _cases():
    for text, seconds in DIVIDING:
        n = DAY // seconds
        assert n * seconds == DAY  # the lockout divides 24 h
        for mx in (n + 1, n + 5):
            yield pytest.param(text, seconds, mx, id=f"{text.replace(' ', '')}-max{mx}")


@pytest.mark.parametrize("text,seconds,max_per_24h", list(_cases()))
def test_reference_worst_window_holds_24h_over_lockout_grants(text, seconds, max_per_24h):
    t = lockout_table(text, max_per_24h)
    assert t.programs[0].bolus.lockout == seconds and type(t.programs[0].bolus.lockout) is int
    r = reference.simulate(t, Scenario.worst(0.0))
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED]
    n = DAY // seconds
    # the greedy schedule: a grant every lockout, exactly (whole seconds)
    assert grants.tolist() == [k * seconds for k in range(len(grants))]
    assert grants_in_worst_window(grants.tolist()) == n
    best, start = reference.max_24h(r, t.horizon)["morphine"]
    assert best == pytest.approx(expected_worst(n), rel=1e-12)
    assert start == 0.0


@pytest.mark.parametrize("text,seconds,max_per_24h", list(_cases()))
def test_check_worst_window_holds_24h_over_lockout_grants(text, seconds, max_per_24h):
    t = lockout_table(text, max_per_24h)
    best, start = check.worst_max_24h(t)["morphine"]
    assert best == pytest.approx(expected_worst(DAY // seconds), rel=1e-12)
    assert start == 0.0


@pytest.mark.parametrize("text,seconds,max_per_24h", list(_cases()))
def test_engine_worst_window_holds_24h_over_lockout_grants(text, seconds, max_per_24h):
    t = lockout_table(text, max_per_24h)
    r = engine.simulate(t, Scenario.worst(0.0))
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED]
    assert grants_in_worst_window(grants.tolist()) == DAY // seconds
    best, _ = engine.max_24h(r, t.horizon)["morphine"]
    assert best == pytest.approx(expected_worst(DAY // seconds), rel=1e-12)


def test_when_the_count_binds_the_grant_24h_later_is_outside_the_window():
    # 4 h lockout, at most 4 a day: grants at 0, 4, 8, 12 h, then exactly 24 h after the first
    t = lockout_table("4 h", 4)
    r = reference.simulate(t, Scenario.worst(0.0))
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED].tolist()
    assert grants[:6] == [0, 4 * HOUR, 8 * HOUR, 12 * HOUR, DAY, DAY + 4 * HOUR]
    for best in (reference.max_24h(r, t.horizon)["morphine"][0], check.worst_max_24h(t)["morphine"][0]):
        assert best == pytest.approx(expected_worst(4), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(lock=st.sampled_from([(f"{m} min", m * MINUTE) for m in (10, 15, 20, 30, 40, 45, 48, 60, 72, 80, 90, 96, 120,
                                                                  144, 160, 180, 240, 288, 360, 480, 720)]
                            + [(f"{h:g} h", round(h * HOUR)) for h in (0.5, 1, 1.2, 1.5, 2, 2.4, 3, 4, 4.8, 6, 8, 12)]
                            + [(f"{d:g} day", round(d * DAY)) for d in (0.0625, 0.125, 0.1, 0.2, 0.25, 0.5)]),
       extra=st.integers(1, 6), hour=st.integers(0, 23), minute=st.sampled_from([1, 7, 13, 29, 31, 47, 59]))
def test_property_worst_window_at_odd_start_minutes(lock, extra, hour, minute):
    """Any lockout dividing 24 h, typed in min, h or day, any start at an odd minute: the worst
    window of the reference and of the check holds exactly 24 h / lockout grants."""
    text, seconds = lock
    assert DAY % seconds == 0
    n = DAY // seconds
    t = lockout_table(text, n + extra, at=f"2026-12-01T{hour:02d}:{minute:02d}:00", horizon="2 day")
    assert t.programs[0].bolus.lockout == seconds
    r = reference.simulate(t, Scenario.worst(0.0))
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED].tolist()
    assert grants_in_worst_window(grants) == n
    want = expected_worst(n)
    assert reference.max_24h(r, t.horizon)["morphine"][0] == pytest.approx(want, rel=1e-12)
    assert check.worst_max_24h(t)["morphine"][0] == pytest.approx(want, rel=1e-12)


ISSUE_EXAMPLE = """schema = "pumpsim.table/1"
horizon = "3 day"
[pump]
model = "synchromed-ii-20"
accuracy = "0 %"
dead_volume = "0 mL"
[[session]]
at = 2026-12-01T09:07:00
refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }
rate = "0.3 mL/day"
bolus = { volume = "0.02 mL", lockout = "4 h", max_per_24h = 8 }
"""


def test_issue_example_end_to_end_through_validate(tmp_path, capsys):
    """Morphine 10 mg/mL, 0.3 mL/day, bolus 0.02 mL, lockout 4 h, max 8: grants at 0, 4, ..., 20 h
    and the next at exactly 24 h, so [0, 24 h) holds 6: 3 mg + 6 x 0.2 mg = 4.2 mg (not 4.4)."""
    p = tmp_path / "lockout-4h.toml"
    p.write_text(ISSUE_EXAMPLE)
    code = main(["validate", str(p), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert out["drugs"]["morphine"]["max_24h_dose"] == pytest.approx(0.3 * 10 + 6 * 0.02 * 10, rel=1e-12)
    assert not [v for v in out["violations"] if v["rule"] == "CROSS-CHECK"]
    assert code == 0


def test_zic_interval_of_exactly_48_h_is_allowed_and_a_second_less_is_not():
    from pumpsim.io.library import load_profile
    from pumpsim.rules.static import zic_interval

    def table(second_at: str):
        return parse(f"""
schema = "pumpsim.table/1"
horizon = "10 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2026-12-01T09:07:00
refill = {{ volume = "20 mL", mix = {{ ziconotide = "25 mcg/mL" }} }}
rate = "0.048 mL/day"
[[session]]
at = 2026-12-03T09:07:00
rate = "0.05 mL/day"
[[session]]
at = {second_at}
rate = "0.052 mL/day"
""")[0]

    profile = load_profile("fr-ait-2020")
    assert profile.limit("ziconotide", "step_interval").value == 48 * HOUR
    assert zic_interval(table("2026-12-05T09:07:00"), profile) == []  # exactly 48 h later
    found = [v for v in zic_interval(table("2026-12-05T09:06:59"), profile) if v.rule == "ZIC-INTERVAL"]
    assert len(found) == 1
    assert found[0].value == pytest.approx(48 - 1 / 3600, rel=1e-12) and found[0].limit == 48.0


def test_instants_of_a_simulation_are_whole_seconds_where_the_table_makes_them_whole():
    t = lockout_table("90 min", 40)
    for eng in (engine, reference):
        r = eng.simulate(t, Scenario.worst(0.0))
        grants = r.event_t[r.event_code == EV_BOLUS_GRANTED]
        assert np.array_equal(grants, np.arange(len(grants)) * 90.0 * MINUTE)
