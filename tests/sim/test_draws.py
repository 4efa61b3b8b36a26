"""Every random number comes from the kernels' streams: the refill delays of plan too."""
from __future__ import annotations

import numpy as np

from pumpsim.io.tables import read_table
from pumpsim.kernels.rng import stream, uniform
from pumpsim.model.timebase import DAY
from pumpsim.sim import draws
from tests.conftest import REPO


def test_plan_refill_delays_are_the_kernel_stream_uniforms_scaled_to_the_tables_range():
    table, _ = read_table(REPO / "scenarios" / "variability-late-refills.toml")
    rd = table.variability.refill_delay
    assert rd is not None and rd.dist == "uniform"
    lo, hi = rd.params["low"], rd.params["high"]
    d = draws.refill_delays(table, seed=5, n=200, k=2)
    assert d.shape == (200, 2) and (d >= lo).all() and (d <= hi).all() and d.std() > 0.1 * DAY
    for r in (0, 17, 199):  # run r: two uniforms of stream (seed, PLAN_DELAY_STREAMS + r), in order
        s = stream(5, draws.PLAN_DELAY_STREAMS + r)
        assert d[r, 0] == lo + (hi - lo) * uniform(s) and d[r, 1] == lo + (hi - lo) * uniform(s)
    assert np.array_equal(d, draws.refill_delays(table, seed=5, n=200, k=2))  # same seed, same numbers
    assert not np.array_equal(d, draws.refill_delays(table, seed=6, n=200, k=2))


def test_a_table_without_refill_delays_draws_none():
    table, _ = read_table(REPO / "scenarios" / "late-refill.toml")
    assert table.variability is None or table.variability.refill_delay is None
    assert draws.refill_delays(table, seed=1, n=3).shape == (3, 2)
    assert not draws.refill_delays(table, seed=1, n=3).any()


def _requests_on_the_array(seed, run, rate, horizon, hourly, clock0, day):
    """The request instants drawn the plain way, the state in its array: exponential gaps at
    the peak rate, each kept with probability hourly[h] / peak (h the wall-clock hour)."""
    from pumpsim.kernels.rng import standard_exponential

    s = stream(seed, run)
    peak, low = max(hourly), min(hourly)
    r = rate * peak
    out = []
    t = standard_exponential(s) / r
    while t < horizon:
        keep = True
        if low != peak:
            y = (clock0 + t) * (1.0 / day)
            h = min(int((y - np.floor(y)) * 24.0), 23)
            keep = uniform(s) * peak < hourly[h]
        if keep:
            out.append(t)
        t += standard_exponential(s) / r
    return np.array(out), uniform(s)


def test_requests_drawn_with_the_state_in_registers_are_those_of_the_array_state():
    """draw_requests keeps the xoshiro state in four locals: the same instants, and the stream
    left where the plain draws leave it, with flat and with uneven hourly weights."""
    from pumpsim.kernels.draws import draw_requests

    uneven = np.array([0.2] * 7 + [2.0] * 3 + [1.0] * 10 + [1.5] * 4)
    for hourly in (np.ones(24), uneven / uneven.mean()):
        for run in range(40):
            want, next_u = _requests_on_the_array(3, run, 6.0 / DAY, 30 * DAY, hourly, 9 * 3600.0, float(DAY))
            s = stream(3, run)
            got = draw_requests(s, 6.0 / DAY, 30 * DAY, hourly, 9 * 3600.0, float(DAY))
            assert len(got) > 100
            assert np.array_equal(got, want)
            assert uniform(s) == next_u
