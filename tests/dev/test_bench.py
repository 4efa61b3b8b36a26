"""`pumpsim bench`: both engines on one workload, the same doses, the figures reported."""
import json

from pumpsim.cli.main import main
from pumpsim.dev import bench


def test_bench_reports_both_engines_and_their_ratio(capsys):
    assert main(["bench", "--runs", "10", "--reference-runs", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["engine"]["runs"] == 10 and r["reference"]["runs"] == 2
    assert r["workload"]["days"] == 365 and r["workload"]["refills"] == 14
    assert r["ratio"] == r["reference"]["us_per_run"] / r["engine"]["us_per_run"]
    assert "faster" in bench.render(r)


def test_scenarios_are_the_same_for_the_same_seed():
    a, b = bench.scenarios(3, 30, seed=4), bench.scenarios(3, 30, seed=4)
    assert all((x.request_times == y.request_times).all() for x, y in zip(a, b))
    assert len(a[0].request_times) != len(a[1].request_times) or (a[0].request_times != a[1].request_times).any()
