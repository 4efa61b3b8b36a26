"""Throughput of ``pumpsim fleet`` in-process (pytest-benchmark): ingest and scan of a small
simulated fleet (40 pumps x 1 year), per pump. The 10,000-pump figures of docs/FLEET.md §5 are
measured with ``/usr/bin/time -v`` on the commands.

Run: ``pytest benchmarks/test_bench_fleet.py --benchmark-only``.
"""
from __future__ import annotations

import pytest

pytest.importorskip("duckdb")

from pumpsim.telemetry.fleet.ingest import ingest  # noqa: E402
from pumpsim.telemetry.fleet.scan import scan  # noqa: E402
from pumpsim.telemetry.fleet.simulate import simulate_fleet  # noqa: E402


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleet")
    simulate_fleet(out / "f", 40, 1, seed=2, lot_size=10, workers=1)
    return out


def test_fleet_ingest(benchmark, fleet):
    counter = iter(range(1000))

    def fresh():
        return ingest(fleet / f"db{next(counter)}.duckdb", fleet / "f" / "manifest.csv")

    res = benchmark.pedantic(fresh, rounds=2, iterations=1)
    assert res.new_pumps == 40


def test_fleet_scan(benchmark, fleet):
    db = fleet / "scan.duckdb"
    ingest(db, fleet / "f" / "manifest.csv")
    rep = benchmark.pedantic(scan, args=(db,), kwargs={"workers": 1}, rounds=2, iterations=1)
    assert len(rep.pumps) == 40 and len(rep.groups) == 4
