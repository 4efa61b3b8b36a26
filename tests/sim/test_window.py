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
