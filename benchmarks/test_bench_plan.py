"""Latency of ``pumpsim plan`` in-process (pytest-benchmark): the worst-case search (a few
hundred exact simulations) and the Monte-Carlo search (one batch of runs per concentration tried).

Run: ``pytest benchmarks/test_bench_plan.py --benchmark-only``.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from pumpsim.io.tables import read_table
from pumpsim.planning.plan import plan

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name,runs", [("late-refill.toml", None), ("bolus-lockout.toml", None),
                                       ("mri-stall.toml", 10_000)])
def test_plan_latency(benchmark, name, runs):
    table, profile = read_table(REPO / "scenarios" / name)
    res = benchmark.pedantic(plan, args=(table, profile), kwargs={"runs": runs}, rounds=3, iterations=1,
                             warmup_rounds=1)
    assert res.interval_days is not None
