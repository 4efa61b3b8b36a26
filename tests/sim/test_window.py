"""The exact rolling-window maximum: the binary-search and the linear-sweep versions agree,
and both give the hand-derived values of small cases."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pumpsim.kernels.window import max_window, max_window_sweep_columns


def every_knot(t):
    """Every knot marked irregular: the sweep then skips no flex-step knot (arbitrary F)."""
    return np.unique(t)


def sweep(t, f):
    out = np.empty(1)
    irr = every_knot(t)
    max_window_sweep_columns(t, f.reshape(-1, 1).copy(), len(t), 1.0, out, irr, len(irr))
    return out[0]


@st.composite
def cumulative(draw):
    """Breakpoints of a non-decreasing piecewise-linear F with jumps (duplicated times)."""
    n = draw(st.integers(1, 40))
    gaps = draw(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 0.3333, 2.0]), min_size=n - 1, max_size=n - 1))
    incs = draw(st.lists(st.floats(0.0, 5.0), min_size=n - 1, max_size=n - 1))
    t = np.concatenate([[0.0], np.cumsum(gaps)]) if n > 1 else np.array([0.0])
    f = np.concatenate([[0.0], np.cumsum(incs)]) if n > 1 else np.array([0.0])
    return t, f


@settings(max_examples=1500, deadline=None)
@given(cumulative())
def test_sweep_equals_binary_search(tf):
    t, f = tf
    a = max_window(t, f, 1.0, 1e-9)[0]
    cols = np.stack([f, 2 * f, np.zeros_like(f)], axis=1)
    out = np.empty(3)
    irr = every_knot(t)
    max_window_sweep_columns(t, cols, len(t), 1.0, out, irr, len(irr))
    assert out == pytest.approx([a, 2 * a, 0.0], rel=1e-12, abs=1e-12)


def test_a_jump_at_the_window_end_is_excluded_and_one_at_the_start_included():
    # F: a bolus of 1 at t = 0 and another at t = 1, nothing else: [0, 1) holds one bolus
    t = np.array([0.0, 0.0, 1.0, 1.0])
    f = np.array([0.0, 1.0, 1.0, 2.0])
    assert max_window(t, f, 1.0, 1e-9)[0] == 1.0
    assert sweep(t, f) == 1.0
    # with the second bolus at 0.999 both fit in a window
    t2 = np.array([0.0, 0.0, 0.999, 0.999])
    assert max_window(t2, f, 1.0, 1e-9)[0] == 2.0
    assert sweep(t2, f) == 2.0


def test_linear_ramp():
    # 2 per day for 3 days then flat: any 24 h window inside holds 2
    t = np.array([0.0, 3.0, 5.0])
    f = np.array([0.0, 6.0, 6.0])
    assert max_window(t, f, 1.0, 1e-9) == (pytest.approx(2.0), 0.0)
    assert sweep(t, f) == pytest.approx(2.0)


def periodic_with_boluses(rates, starts, bolus_at, bolus, days):
    """Breakpoints of F: a daily schedule (``rates`` [per day] from each of ``starts`` [day
    fraction]) repeated for ``days`` days, plus a jump of ``bolus`` at each of ``bolus_at``
    [days]. Only the first instant and the last are irregular: the slopes repeat every day."""
    knots = sorted({d + s for d in range(days) for s in starts} | {float(days)} | set(bolus_at))
    t, f = [], []
    total = 0.0
    prev = 0.0
    for x in knots:
        # basal from prev to x, step by step
        a = prev
        while a < x:
            frac = a - np.floor(a)
            k = max(i for i, s in enumerate(starts) if s <= frac + 1e-12)
            nxt = np.floor(a) + (starts[k + 1] if k + 1 < len(starts) else 1.0)
            b = min(nxt, x)
            total += rates[k] * (b - a)
            a = b
        prev = x
        t.append(x)
        f.append(total)
        if x in bolus_at:
            total += bolus
            t.append(x)
            f.append(total)
    return np.array(t), np.array(f)


def test_a_window_ending_at_a_bolus_is_found_through_the_one_starting_at_the_first_bolus():
    # 1 per day, boluses of 1 at 0.5 and 1.2 days: the window (0.2, 1.2] holds both boluses and
    # a day of basal, 3; so does [0.5, 1.5), the window starting at the first bolus after 0.2
    t, f = periodic_with_boluses([1.0], [0.0], [0.5, 1.2], 1.0, 3)
    assert max_window(t, f, 1.0, 1e-9)[0] == pytest.approx(3.0, rel=1e-12)
    out = np.empty(1)
    max_window_sweep_columns(t, f.reshape(-1, 1).copy(), len(t), 1.0, out, np.array([0.0, 3.0]), 2)
    assert out[0] == pytest.approx(3.0, rel=1e-12)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0]), min_size=1, max_size=3),
       st.lists(st.integers(1, 95), min_size=0, max_size=12, unique=True),
       st.floats(0.0, 2.0))
def test_the_sweep_skipping_windows_that_end_at_a_bolus_equals_the_binary_search(rates, slots, bolus):
    """A periodic schedule and boluses on a quarter-hour grid, only the ends irregular: the
    sweep (which evaluates no window ending at a bolus there) finds the exact maximum."""
    starts = [i / len(rates) for i in range(len(rates))]
    bolus_at = [s / 24.0 for s in slots]  # within the first 4 days
    t, f = periodic_with_boluses(rates, starts, bolus_at, bolus, 5)
    exact = max_window(t, f.copy(), 1.0, 1e-9)[0]
    out = np.empty(1)
    max_window_sweep_columns(t, f.reshape(-1, 1).copy(), len(t), 1.0, out, np.array([0.0, 5.0]), 2)
    assert out[0] == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_a_window_ending_at_a_bolus_is_evaluated_when_a_slope_changed_within_a_day_before():
    # 10 per day until a session at 1 day, then 1 per day; a bolus of 10 at 1.5 days. The worst
    # window is (0.5, 1.5]: half a day at 10, half a day at 1 and the bolus, 15.5; it ends at
    # the bolus, and the session at 1 day (irregular) breaks the daily repetition behind it
    t = np.array([0.0, 1.0, 1.5, 1.5, 4.0])
    f = np.array([0.0, 10.0, 10.5, 20.5, 23.0])
    assert max_window(t, f, 1.0, 1e-9)[0] == pytest.approx(15.5, rel=1e-12)
    out = np.empty(1)
    max_window_sweep_columns(t, f.reshape(-1, 1).copy(), len(t), 1.0, out, np.array([0.0, 1.0, 4.0]), 3)
    assert out[0] == pytest.approx(15.5, rel=1e-12)


def test_a_flex_knot_within_a_day_before_a_session_is_a_candidate_after_a_run_of_skipped_ones():
    # 0 then 10 per day in each half day for 3 days; a session at 3 days swaps the halves (10
    # then 0). Every knot before 2 days is skipped (its change recurs a day later); the worst
    # window, [2.5, 3.5), takes the last high half before the session and the first after: 10
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0])
    f = np.array([0.0, 0.0, 5.0, 5.0, 10.0, 10.0, 15.0, 20.0, 20.0, 25.0, 25.0])
    assert max_window(t, f, 1.0, 1e-9) == (pytest.approx(10.0, rel=1e-12), 2.5)
    out = np.empty(1)
    max_window_sweep_columns(t, f.reshape(-1, 1).copy(), len(t), 1.0, out, np.array([0.0, 3.0, 5.0]), 3)
    assert out[0] == pytest.approx(10.0, rel=1e-12)
