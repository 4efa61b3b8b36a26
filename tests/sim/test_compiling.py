"""The first Monte-Carlo run compiles on two cores (``pumpsim.sim.compiling``).

Every case runs in new processes on an empty Numba cache of its own (a kernel compiled in the
test process itself would hide what a first run does). They prove that the helper compiles
exactly the signatures the main process then uses (the main process loads them from the cache:
Numba's cache hits, no miss, one signature each), that a helper that hangs is ended at the
timeout and changes no number, and that nothing is started when Numba's JIT is off.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

TABLE = REPO / "benchmarks" / "tables" / "mc-365.toml"

PLAN = """
import json, sys
from pumpsim.io.tables import read_table
from pumpsim.sim import compiling, montecarlo
table, profile = read_table(sys.argv[1])
plan = montecarlo.make_plan(table, profile, 7, {})
sigs = compiling.signatures(plan.sessions, plan.pump, plan.variation, plan.grid, len(plan.drugs), plan.n_sess)
names = (*compiling.MAIN_KERNELS, *compiling.HELPER_KERNELS, "montecarlo.run_block")
"""

STATS = """
k = {n: compiling.kernel(n) for n in names}
stats = {"signatures": {n: len(d.signatures) for n, d in k.items()},
         "hits": {n: sum(d.stats.cache_hits.values()) for n, d in k.items()},
         "misses": {n: sum(d.stats.cache_misses.values()) for n, d in k.items()}}
"""

# the helper's signatures, pickled as ensure() sends them
PAYLOAD = PLAN + """
sys.stdout.buffer.write(__import__("pickle").dumps({n: sigs[n] for n in compiling.HELPER_KERNELS}))
"""

# this process's share and run_block, then a chunk of runs, after the helper ran alone
AFTER_HELPER = PLAN + """
compiling.compile_all(sigs, [*compiling.MAIN_KERNELS, "montecarlo.run_block"])
montecarlo.run_summary(plan, 0, 16)  # the runs, then their fan chart folded by fold_grid
""" + STATS + """
print(json.dumps(stats))
"""

# a whole first run; argv[2]: "real" helper or one that "hangs"; argv[3]: the timeout [s]
FIRST_RUN = PLAN + """
if sys.argv[2] == "hangs":
    compiling.HELPER_COMMAND = (sys.executable, "-c", "import time; time.sleep(600)")
elif sys.argv[2] == "fails":
    compiling.HELPER_COMMAND = (sys.executable, "-c", "import sys; sys.exit(3)")
rep = compiling.ensure(plan, timeout=float(sys.argv[3]))
out = montecarlo.per_run(plan, 0, 64)
""" + STATS + """
stats["helper"] = rep.helper
stats["taken"] = rep.seconds.get("taken from the helper")
stats["out"] = {f: getattr(out, f).tobytes().hex() for f in out._fields}
print(json.dumps(stats))
"""


def _env(cache) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "NUMBA_DISABLE_JIT")}
    env["NUMBA_CACHE_DIR"] = str(cache)
    return env


def _python(script: str, *args, env: dict, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], input=stdin, capture_output=True, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr.decode()
    return r


def test_after_the_helper_this_process_loads_its_kernels_from_the_cache(tmp_path):
    env = _env(tmp_path / "numba")
    payload = _python(PAYLOAD, TABLE, env=env).stdout
    assert set(pickle.loads(payload)) == {"draws.draw_conditions", "window.max_window_sweep_columns",
                                          "structs.capacity", "structs.new_work", "structs.grown",
                                          "montecarlo.sample_grid", "montecarlo.fold_grid"}
    helper = subprocess.run([sys.executable, "-m", "pumpsim.sim.compiling"], input=payload, capture_output=True,
                            env=env, timeout=600)
    assert helper.returncode == 0, helper.stderr.decode()
    stats = json.loads(_python(AFTER_HELPER, TABLE, env=env).stdout)
    for name in ("draws.draw_conditions", "window.max_window_sweep_columns", "structs.capacity",
                 "structs.new_work", "structs.grown", "montecarlo.sample_grid", "montecarlo.fold_grid"):
        # loaded, not compiled again, and run_block asked for no other signature
        assert (stats["hits"][name], stats["misses"][name], stats["signatures"][name]) == (1, 0, 1), name
    # the event loop and run_block were not in the cache: compiled here, once each
    assert (stats["hits"]["pump.simulate_pump"], stats["misses"]["pump.simulate_pump"]) == (0, 1)
    assert stats["signatures"]["pump.simulate_pump"] == 1  # the one run_block calls
    assert (stats["misses"]["montecarlo.run_block"], stats["signatures"]["montecarlo.run_block"]) == (1, 1)


@pytest.fixture(scope="module")
def first_runs(tmp_path_factory):
    """A first run with the real helper, and one whose helper hangs (ended after 1 s)."""
    out = {}
    for kind, timeout in (("real", 120), ("hangs", 1)):
        cache = tmp_path_factory.mktemp(kind)
        r = _python(FIRST_RUN, TABLE, kind, timeout, env=_env(cache))
        out[kind] = json.loads(r.stdout) | {"stderr": r.stderr.decode(), "cache": cache}
    return out


def test_a_first_run_compiles_every_kernel_once(first_runs):
    stats = first_runs["real"]
    assert stats["helper"] == "done"
    for name, n in stats["signatures"].items():
        assert n == 1, name
        # each kernel either loaded from what the helper wrote, or compiled here (taken from
        # the end of the helper's list when this process was done first): never both
        assert stats["hits"][name] + stats["misses"][name] == 1, name
    taken = [n for n in ("window.max_window_sweep_columns", "structs.capacity", "structs.new_work",
                         "structs.grown", "montecarlo.sample_grid", "montecarlo.fold_grid")
             if stats["misses"][n] == 1]
    assert stats["hits"]["draws.draw_conditions"] == 1  # the helper's first: never taken
    # a kernel taken may still load: the helper can write it while this process starts on it
    assert len(taken) <= stats["taken"]
    # one line says why the process waits; the helper's own line is not shown
    assert stats["stderr"].count("compiling the simulation kernels") == 1


def test_a_helper_that_hangs_is_ended_and_changes_no_number(first_runs):
    hung, real = first_runs["hangs"], first_runs["real"]
    assert hung["helper"] == "timed out"
    # everything compiled here, the helper's first kernel after the timeout
    assert all(v == 0 for v in hung["hits"].values()) and all(v == 1 for v in hung["misses"].values())
    assert hung["taken"] == 6
    assert hung["out"] == real["out"]  # bit for bit


def test_a_helper_that_fails_leaves_this_process_to_compile(tmp_path, first_runs):
    # the first run's cache without run_block: this process starts a helper again, which fails
    shutil.copytree(first_runs["real"]["cache"], tmp_path / "numba")
    for f in (tmp_path / "numba").rglob("montecarlo.run_block-*"):
        f.unlink()
    stats = json.loads(_python(FIRST_RUN, TABLE, "fails", 120, env=_env(tmp_path / "numba")).stdout)
    assert stats["helper"] == "failed (exit status 3)"
    assert stats["misses"]["montecarlo.run_block"] == 1 and stats["hits"]["pump.simulate_pump"] == 1
    assert stats["out"] == first_runs["real"]["out"]


def test_nothing_is_started_without_the_jit(tmp_path):
    env = _env(tmp_path / "numba") | {"NUMBA_DISABLE_JIT": "1"}
    script = PLAN + """
compiling.HELPER_COMMAND = (sys.executable, "-c", "import sys; sys.exit(3)")
print(compiling.ensure(plan).helper)
"""
    assert _python(script, TABLE, env=env).stdout.decode().strip() == "not needed"
