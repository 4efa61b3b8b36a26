"""Properties of ``pumpsim plan`` on generated one-session tables, checked by other means than
the planner's own search: the planned table passes ``validate``; the closed-form checker
(:mod:`pumpsim.rules.check`, which shares no code with the simulator) puts the worst-case low alarm no
earlier than the planned refill; one more day would reach it at the highest concentration
allowed (when the volume binds); and a 1 % lower concentration would not last as long (the
lowest concentration is chosen)."""
from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpsim.io.tables import parse_table_bytes
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
    low, _ = check.worst_reservoir(one_session_table(t, k, T * DAY))
    assert low is None or low >= T * DAY - 1e-6 * DAY
    if res.binding == "REFILL-LOW-ALARM":
        k_hi = min(c.k for c in res.upper_caps)
        low1, _ = check.worst_reservoir(one_session_table(t, k_hi, (T + 1) * DAY))
        assert low1 is not None and low1 < (T + 1) * DAY
    lower = max(c.k for c in res.lower_caps) if res.lower_caps else 0.0
    if k * 0.99 > lower:
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
    for d, c in before.mix:
        assert after.daily_dose(d) == pytest.approx(c * before.mean_rate, rel=1e-8)
    assert written.horizon == t.sessions[-1].t + res.interval_days * DAY  # exact: whole seconds
