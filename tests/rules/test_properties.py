"""Properties of the simulation on generated tables (tests/strategies), and the agreement of
the Numba kernel with the plain-Python reference to 1e-9 relative on every output."""
from __future__ import annotations

import copy
import datetime as dt

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pumpsim.model.results import Scenario, SimResult
from pumpsim.model.timebase import DAY
from pumpsim.sim import engine, reference
from tests.conftest import parse
from tests.strategies.tables import table_specs, to_toml

RTOL = 1e-9
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _table(spec, alt=False):
    return parse(to_toml(spec, alt_units=alt))[0]


def _f_right(res: SimResult, x: float) -> np.ndarray:
    """Cumulative dose after everything at x."""
    i = int(np.searchsorted(res.t, x, side="right")) - 1
    if i < 0:
        return np.zeros(res.dose.shape[1])
    if res.t[i] == x or i + 1 == len(res.t):
        return res.dose[i]
    w = (x - res.t[i]) / (res.t[i + 1] - res.t[i])
    return res.dose[i] + w * (res.dose[i + 1] - res.dose[i])


def _close(a, b, scale):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RTOL * max(abs(scale), 1.0)


# ------------------------------------------------------------------ physical properties
@SETTINGS
@given(table_specs())
def test_volume_is_conserved(spec):
    t = _table(spec)
    for sc in (Scenario.nominal(), Scenario.worst(float(t.device.accuracy.value))):
        r = engine.simulate(t, sc)
        # filled = delivered + aspirated at refills + remaining, to rounding
        assert abs(r.filled - (r.delivered_volume + r.aspirated + r.remaining)) <= RTOL * r.filled
        assert r.remaining >= 0.0 and np.all(r.volume_true >= 0.0) and np.all(r.volume_estimate >= 0.0)
        assert np.all(np.diff(r.t) >= 0.0) and np.all(np.diff(r.dose, axis=0) >= -RTOL * max(1.0, r.dose.max()))


@SETTINGS
@given(table_specs())
def test_worst_case_delivers_at_least_the_nominal_dose(spec):
    t = _table(spec)
    nom = engine.simulate(t, Scenario.nominal())
    worst = engine.simulate(t, Scenario.worst(float(t.device.accuracy.value)))
    scale = max(1.0, float(worst.dose.max()))
    # at every instant the fast pump with boluses has pushed at least as much to the tip
    for x in np.concatenate([nom.t, worst.t]):
        assert np.all(_f_right(worst, x) >= _f_right(nom, x) - RTOL * scale)
    if worst.empty_at is None:
        mw, mn = engine.max_24h(worst, t.horizon), engine.max_24h(nom, t.horizon)
        for d in mw:
            assert mw[d][0] >= mn[d][0] - RTOL * scale


@SETTINGS
@given(table_specs(), st.floats(1.0, 2.0))
def test_a_higher_rate_never_empties_later(spec, k):
    faster = copy.deepcopy(spec)
    for s in faster["sessions"]:
        if "rate" in s:
            s["rate"] *= k
        if "steps" in s:
            s["steps"] = [(m, r * k) for m, r in s["steps"]]
    slow = engine.simulate(_table(spec), Scenario.nominal()).empty_at
    fast = engine.simulate(_table(faster), Scenario.nominal()).empty_at
    inf = float("inf")
    assert (inf if fast is None else fast) <= (inf if slow is None else slow) + RTOL * spec["horizon"]


@SETTINGS
@given(table_specs())
# found in a 3000-example run: a greedy bolus exactly 24 h after another; a window end computed
# as (p - 1) + 1 landed an ulp past p and counted 3 boluses where max_per_24h is 2
@example({"model": "synchromed-ii-20", "dead_volume": None, "horizon": 2.0, "start": dt.datetime(2026, 12, 1),
          "sessions": [{"at": dt.datetime(2026, 12, 1), "refill": (4.0, {"bupivacaine": 1.0}), "steps": [(0, 1.0), (15, 1.0)],
                        "bolus": (0.5, 0.4211095678882476, 2, 0.0)}]})
def test_the_same_table_in_other_units_simulates_the_same(spec):
    a, b = _table(spec), _table(spec, alt=True)
    for sc in (Scenario.nominal(), Scenario.worst(float(a.device.accuracy.value))):
        ra, rb = engine.simulate(a, sc), engine.simulate(b, sc)
        assert _close(ra.empty_at, rb.empty_at, a.horizon)
        for d in ra.drugs:
            ma, mb = engine.max_24h(ra, a.horizon)[d][0], engine.max_24h(rb, b.horizon)[d][0]
            assert abs(ma - mb) <= 1e-8 * max(1.0, ma)


# ------------------------------------------------------------------ kernel == reference
def assert_same(k: SimResult, r: SimResult, horizon: float):
    scale_v = max(k.filled, 1.0)
    for name in ("low_alarm_at", "empty_at", "pump_alarm_at"):
        assert _close(getattr(k, name), getattr(r, name), horizon), name
    for name in ("filled", "aspirated", "delivered_volume", "remaining"):
        assert _close(getattr(k, name), getattr(r, name), scale_v), name
    scale_d = max(1.0, float(np.abs(k.dose).max()) if k.dose.size else 1.0)
    for x in np.concatenate([k.t, r.t]):
        assert np.all(np.abs(_f_right(k, x) - _f_right(r, x)) <= RTOL * scale_d), x
    mk, mr = engine.max_24h(k, horizon), reference.max_24h(r, horizon)
    for d in mk:
        assert abs(mk[d][0] - mr[d][0]) <= RTOL * max(1.0, mk[d][0]), d
    assert k.event_code.tolist() == r.event_code.tolist()
    assert np.allclose(k.event_t, r.event_t, rtol=0, atol=RTOL * max(horizon, 1.0))


@st.composite
def monte_carlo_scenarios(draw, horizon: float, n_sessions: int):
    """A scenario with explicit requests, late sessions and stalls, as simulate draws them
    (``horizon`` and every instant in seconds)."""
    factor = draw(st.floats(0.8, 1.2))
    req = sorted(draw(st.lists(st.floats(0.0, horizon), max_size=30)))
    delays = np.array([0.0] + [draw(st.floats(0.0, 5.0)) * DAY for _ in range(n_sessions - 1)])  # [s]
    mods = []
    t = 0.0
    for _ in range(draw(st.integers(0, 3))):
        a = t + draw(st.floats(0.0, horizon / 3))
        b = a + draw(st.floats(0.01, 2.0)) * DAY
        mods.append((a, b, draw(st.sampled_from([0.0, 1.1]))))
        t = b
    return Scenario(factor, "requests", np.array(req), delays, np.array(mods).reshape(-1, 3))


@SETTINGS
@given(table_specs())
def test_kernel_and_reference_agree_on_validate_cases(spec):
    t = _table(spec)
    for sc in (Scenario.nominal(), Scenario.worst(float(t.device.accuracy.value)), Scenario.programmed()):
        assert_same(engine.simulate(t, sc), reference.simulate(t, sc), t.horizon)


@SETTINGS
@given(st.data())
def test_kernel_and_reference_agree_on_monte_carlo_cases(data):
    spec = data.draw(table_specs())
    t = _table(spec)
    sc = data.draw(monte_carlo_scenarios(t.horizon, len(t.sessions)))
    assert_same(engine.simulate(t, sc), reference.simulate(t, sc), t.horizon)
