"""The kernel v3 issue's end-to-end figures, each a new process as a user starts it.

- the first ``pumpsim simulate`` after an install (an empty Numba cache: the kernels compile);
- ``pumpsim simulate benchmarks/tables/mc-365.toml --runs 10000`` with a warm cache;
- ``pumpsim validate scenarios/example.toml`` with a warm cache.

Wall time of the whole process (pytest-benchmark's figure); the CPU time of the child processes
is in ``extra_info`` (for the first run it includes the helper process that compiles half of the
kernels on the second core, ``pumpsim.sim.compiling``: on a 2-core machine the wall time is
about the larger share, not the sum). Measured, never asserted. Run:
``pytest benchmarks/test_bench_end_to_end.py --benchmark-only``.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PUMPSIM = [sys.executable, "-m", "pumpsim.cli"]
TABLE = str(REPO / "benchmarks" / "tables" / "mc-365.toml")


def _run(args: list[str], env: dict | None = None) -> None:
    r = subprocess.run(PUMPSIM + args, cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr  # 1: findings, still a full run


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def _bench(benchmark, rounds: int, fn) -> None:
    c0 = _children_cpu()
    benchmark.pedantic(fn, rounds=rounds, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["cpu_s_per_round"] = (_children_cpu() - c0) / rounds


def test_first_simulate_with_an_empty_cache(benchmark, tmp_path):
    rounds = iter(range(100))

    def first():
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / f"cache{next(rounds)}"))
        _run(["simulate", TABLE, "--runs", "1000", "--quiet"], env)

    _bench(benchmark, 3, first)  # each round a new empty cache


def test_simulate_10000_runs_warm(benchmark):
    _run(["simulate", TABLE, "--runs", "100", "--quiet"])  # fill the cache outside the timing
    _bench(benchmark, 3, lambda: _run(["simulate", TABLE, "--runs", "10000", "--quiet"]))


def test_validate_warm(benchmark):
    example = str(REPO / "scenarios" / "example.toml")
    _run(["validate", example])
    _bench(benchmark, 5, lambda: _run(["validate", example]))
