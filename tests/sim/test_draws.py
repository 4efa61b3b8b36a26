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
