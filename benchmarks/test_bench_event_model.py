"""Per-run CPU of the Monte-Carlo kernel on mc-365 against a same-class event model (the kernel
v3 issue's yardstick: target <= 2.5x).

The event model is not part of pumpsim: it is read from ``../shared/bench/event_model.py``
relative to the repository when that file exists, and this benchmark is skipped otherwise. Both
are measured in the same process, on one thread, in CPU time (``time.process_time``); the
ratio is reported in ``extra_info`` (never asserted).

Run: ``pytest benchmarks/test_bench_event_model.py --benchmark-only``.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
EVENT_MODEL = REPO.parent / "shared" / "bench" / "event_model.py"
RUNS = 10_000  # as `event_model.py bench 10000`
ROUNDS = 3


def _event_model():
    if not EVENT_MODEL.is_file():
        pytest.skip(f"{EVENT_MODEL} not found (the yardstick lives outside the repository)")
    spec = importlib.util.spec_from_file_location("event_model", EVENT_MODEL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu(fn, rounds: int) -> float:
    """Median CPU seconds of ``fn()`` over ``rounds`` calls."""
    out = []
    for _ in range(rounds):
        c0 = time.process_time()
        fn()
        out.append(time.process_time() - c0)
    return float(np.median(out))


def test_per_run_cpu_against_event_model(benchmark):
    from pumpsim.io.tables import read_table
    from pumpsim.sim import montecarlo

    em = _event_model()
    inputs = em.gen_inputs(RUNS, 365)
    em.run(em.drive_event_serial, em.subset(inputs, 2))  # compile outside the timing
    event_us = _cpu(lambda: em.run(em.drive_event_serial, inputs), ROUNDS) / RUNS * 1e6

    table, profile = read_table(REPO / "benchmarks" / "tables" / "mc-365.toml")
    plan = montecarlo.make_plan(table, profile, 1, None)
    montecarlo.per_run(plan, 0, 64, threads=1)  # load the cache outside the timing
    cpu = []

    def runs():
        c0 = time.process_time()
        montecarlo.per_run(plan, 0, RUNS, threads=1)
        cpu.append(time.process_time() - c0)

    benchmark.pedantic(runs, rounds=ROUNDS, iterations=1)
    pumpsim_us = float(np.median(cpu)) / RUNS * 1e6
    if benchmark.stats is not None:
        benchmark.extra_info["pumpsim_cpu_us_per_run"] = pumpsim_us
        benchmark.extra_info["event_model_cpu_us_per_run"] = event_us
        benchmark.extra_info["ratio"] = pumpsim_us / event_us
    print(f"\nper-run CPU, one thread: pumpsim mc-365 {pumpsim_us:.1f} us, event model {event_us:.1f} us, "
          f"ratio {pumpsim_us / event_us:.2f} (target <= 2.5)")
