"""Properties of ``pumpsim plan`` on generated one-session tables, checked by other means than
the planner's own search: the planned table passes ``validate``; the closed-form checker
(:mod:`pumpsim.rules.check`, which shares no code with the simulator) puts the worst-case low alarm no
earlier than the planned refill; one more day would reach it at the highest concentration
allowed (when the volume binds); and a 1 % lower concentration would not last as long (the
lowest concentration is chosen)."""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpsim.io.tables import parse_table_bytes
from pumpsim.model.table import Refill
from pumpsim.model.timebase import DAY
from pumpsim.planning.plan import one_session_table, plan
from pumpsim.rules import check
from pumpsim.rules.validate import validate
from tests.strategies.tables import table_specs, to_toml


@st.composite
def tables(draw):
    morphine = draw(st.sampled_from([1.0, 2.5, 5.0, 10.0, 19.0]))
    bupi = draw(st.sampled_from([None, 2.0, 5.0, 10.0]))
    rate = draw(st.sampled_from([0.1, 0.25, 0.4, 0.75, 1.5]))
    model = draw(st.sampled_from(["synchromed-ii-20", "synchromed-ii-40"]))
    reservoir = 20 if model.endswith("20") else 40
    bolus = draw(st.sampled_from(["", 'bolus = { volume = "20 uL", lockout = "4 h", max_per_24h = 4 }',
                                  'bolus = { volume = "0.1 mL", lockout = "8 h", max_per_24h = 3 }']))
    hour = draw(st.integers(0, 23))
    mix = f'morphine = "{morphine} mg/mL"' + (f', bupivacaine = "{bupi} mg/mL"' if bupi else "")
    text = textwrap.dedent(f"""
        schema = "pumpsim.table/1"
        horizon = "10 day"
        [pump]
        model = "{model}"
        [[session]]
        at = 2026-12-01T{hour:02d}:00:00
        refill = {{ volume = "{reservoir} mL", mix = {{ {mix} }} }}
        rate = "{rate} mL/day"
        {bolus}
        """)
    return parse_table_bytes(text.encode(), "gen.toml")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_plan_is_safe_longest_and_least_concentrated(tp):
    t, p = tp
    res = plan(t, p)
    assert res.interval_days is not None, res.notes
    T, k = res.interval_days, res.k
    assert validate(res.planned, p).exit_status == 0
    written = Refill(res.fill_volume, tuple(sorted(res.concentrations.items())))
    low, _ = check.worst_reservoir(one_session_table(t, k, T * DAY, refill=written, steps=res.steps))
    assert low is None or low >= T * DAY - 1e-6 * DAY
    # the rounding of the written table (3 figures, 0.001 mL/day) may cost the exact search's
    # longest interval a day, never more
    exact_low, _ = check.worst_reservoir(one_session_table(t, k, (T + 1) * DAY))
    rounding_cost_a_day = exact_low is None or exact_low >= (T + 1) * DAY - 1e-6 * DAY
    if res.binding == "REFILL-LOW-ALARM":
        # at the highest concentration allowed, each dose kept exactly, one more day than the
        # exact search found reaches the alarm
        k_hi = min(c.k for c in res.upper_caps)
        longest = T + (1 if rounding_cost_a_day else 0)
        low1, _ = check.worst_reservoir(one_session_table(t, k_hi, (longest + 1) * DAY))
        assert low1 is not None and low1 < (longest + 1) * DAY
    lower = max(c.k for c in res.lower_caps) if res.lower_caps else 0.0
    if k * 0.99 > lower and not rounding_cost_a_day:  # the exact search's interval is the written one
        low2, _ = check.worst_reservoir(one_session_table(t, k * 0.99, T * DAY))
        assert low2 is not None and low2 < T * DAY


BINDINGS = {"REFILL-LOW-ALARM", "REFILL-STABILITY", "RATE-RANGE", "HORIZON"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(table_specs(max_sessions=4, max_horizon=60.0).filter(lambda s: "refill" in s["sessions"][-1]), st.booleans())
def test_plan_on_any_table_ending_with_a_refill(spec, keep):
    """Never a crash; a plan is written as a table that validate passes with each daily dose
    kept; no plan names a rule."""
    import tomllib

    from pumpsim.planning.plan import planned_toml
    from pumpsim.rules.kit import catalogue

    text = to_toml(spec)
    t, p = parse_table_bytes(text.encode(), "gen.toml")
    res = plan(t, p, keep_concentration=keep)
    if res.interval_days is None:
        assert res.exit_status == 1 and res.binding in catalogue()
        return
    assert res.binding in BINDINGS and 1 <= res.interval_days <= 365
    out = planned_toml(tomllib.loads(text), t, res, "gen.toml", "pumpsim plan gen.toml")
    written, wp = parse_table_bytes(out.encode(), "planned.toml")
    assert validate(written, wp).exit_status == 0
    before, after = t.programs[-1], written.programs[-2]
    for d, c in before.mix:  # kept to the rounding: 3 figures (1 % at most) and 0.001 mL/day
        dev = after.daily_dose(d) / (c * before.mean_rate) - 1
        assert abs(dev) <= 0.01 + 0.001 / after.mean_rate + 1e-9, (d, dev)
        assert after.daily_dose(d) == pytest.approx(res.daily_doses[d], rel=1e-12)  # the numbers reported
    assert written.horizon == t.sessions[-1].t + res.interval_days * DAY  # exact: whole seconds


def _covers_the_last_session(spec) -> bool:
    """The table simulates past its last session (else the plan's longer horizon judges earlier
    intervals the input never reached)."""
    last = spec["sessions"][-1]
    return "refill" in last and spec["start"] + dt.timedelta(days=spec["horizon"]) > last["at"] + dt.timedelta(days=1)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(table_specs(max_sessions=3, max_horizon=60.0).filter(_covers_the_last_session))
def test_a_written_plan_adds_no_violation_the_input_did_not_have(spec):
    """FORMAT.md §5: every table ``plan -o`` writes validates with no violation (rule, drug) the
    input did not have (no DOSE-MAX-WORST, no GRANULOMA-RISK, no REFILL-* added...)."""
    import tomllib

    from pumpsim.planning.plan import planned_toml

    text = to_toml(spec)
    t, p = parse_table_bytes(text.encode(), "gen.toml")
    res = plan(t, p)
    if res.interval_days is None:
        return
    out = planned_toml(tomllib.loads(text), t, res, "gen.toml", "pumpsim plan gen.toml")
    written, wp = parse_table_bytes(out.encode(), "planned.toml")
    had = {(v.rule, v.drug) for v in validate(t, p).violations}
    added = [v for v in validate(written, wp).violations if (v.rule, v.drug) not in had]
    assert added == [], [(v.rule, v.drug, v.message) for v in added]


@st.composite
def ziconotide_with_boluses(draw):
    """Ziconotide 25 mcg/mL started at 2.4 mcg/day for 10 days, then a refill at up to 4.8
    mcg/day with a bolus policy: the case where a presentation (100 mcg/mL) could carry the
    boluses over the 21.6 mcg/day ceiling."""
    rate = draw(st.sampled_from([0.096, 0.12, 0.144, 0.168, 0.192]))
    volume = draw(st.sampled_from([10, 20, 40, 80]))
    lockout = draw(st.sampled_from([4, 6, 8]))
    count = draw(st.integers(1, 4))
    return textwrap.dedent(f"""
        schema = "pumpsim.table/1"
        horizon = "30 day"
        [pump]
        model = "synchromed-ii-20"
        [[session]]
        at = 2026-12-01T09:00:00
        refill = {{ volume = "20 mL", mix = {{ ziconotide = "25 mcg/mL" }} }}
        rate = "0.096 mL/day"
        [[session]]
        at = 2026-12-11T09:00:00
        refill = {{ volume = "20 mL", mix = {{ ziconotide = "25 mcg/mL" }} }}
        rate = "{rate} mL/day"
        bolus = {{ volume = "{volume} uL", lockout = "{lockout} h", max_per_24h = {count} }}
        """)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ziconotide_with_boluses())
def test_a_ziconotide_plan_adds_no_dose_ceiling_violation(text):
    import tomllib

    from pumpsim.planning.plan import planned_toml

    t, p = parse_table_bytes(text.encode(), "zic.toml")
    res = plan(t, p)
    assert res.interval_days is not None, res.notes  # 25 mcg/mL itself is always a safe plan
    out = planned_toml(tomllib.loads(text), t, res, "zic.toml", "pumpsim plan zic.toml")
    written, wp = parse_table_bytes(out.encode(), "planned.toml")
    had = {(v.rule, v.drug) for v in validate(t, p).violations}
    added = [(v.rule, v.message) for v in validate(written, wp).violations if (v.rule, v.drug) not in had]
    assert added == []
