"""The compiled cache of the kernels is keyed to their sources (``kernels/cache.py``): editing a
kernel that another one calls changes the result in the next process without deleting any
cache by hand, a user's NUMBA_CACHE_DIR is used, and an unwritable cache folder falls back to a
temporary one with one line on stderr.

Each case runs in a new process on a copy of ``kernels/`` with two small probe kernels added
(a caller in one file, its callee in another: the case where Numba's own timestamp check
keeps stale machine code).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CALLEE = """from numba import njit

from . import cache  # noqa: F401


@njit(cache=True)
def callee(x):
    return x + {add}
"""

CALLER = """from numba import njit

from . import cache  # noqa: F401
from .probe_callee import callee


@njit(cache=True)
def caller(x):
    return 2.0 * callee(x)
"""

RUN = ("import sys; sys.path.insert(0, sys.argv[1]); from kcopy.probe_caller import caller; "
       "print(caller(1.0), sum(caller.stats.cache_hits.values()))")


def _package(tmp_path: Path, add: str) -> Path:
    root = tmp_path / "pkg"
    pkg = root / "kcopy"
    if not pkg.exists():
        shutil.copytree(REPO / "kernels", pkg, ignore=shutil.ignore_patterns("__pycache__"))
        (pkg / "probe_caller.py").write_text(CALLER)
    (pkg / "probe_callee.py").write_text(CALLEE.format(add=add))
    return root


def _run(root: Path, env: dict) -> tuple[float, int, str]:
    r = subprocess.run([sys.executable, "-c", RUN, str(root)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    value, hits = r.stdout.split()
    return float(value), int(hits), r.stderr


def _env(**kw: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(kw)
    return env


def test_a_changed_callee_is_recompiled_without_deleting_the_cache(tmp_path):
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    root = _package(tmp_path, "1.0")
    value, hits, err = _run(root, env)
    assert (value, hits) == (4.0, 0) and "compiling the simulation kernels" in err
    value, hits, err = _run(root, env)  # a new process: loaded from the cache, silently
    assert (value, hits) == (4.0, 1) and "compiling" not in err
    _package(tmp_path, "2.0")  # only the callee's file changes; the caller's is untouched
    value, hits, err = _run(root, env)
    assert (value, hits) == (6.0, 0) and "compiling the simulation kernels" in err
    # the user's NUMBA_CACHE_DIR holds one folder per version of the sources
    folders = sorted(p.name for p in (tmp_path / "numba" / "pumpsim").iterdir())
    assert len(folders) == 2 and all(f.startswith("kernels-") for f in folders)
    assert not list((root / "kcopy").glob("**/*.nbi"))  # nothing written next to the sources


def test_an_unwritable_cache_folder_falls_back_to_a_temporary_one(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = _env(XDG_CACHE_HOME=str(blocker / "cache"), HOME=str(blocker))
    value, hits, err = _run(_package(tmp_path, "1.0"), env)
    assert value == 4.0
    assert "cannot write the kernel cache" in err and len([ln for ln in err.splitlines() if "cannot write" in ln]) == 1


def test_loading_the_kernels_imports_no_scipy_linalg_and_numba_linear_algebra_still_works():
    """The kernels skip Numba's BLAS probe (an import of scipy.linalg, 0.15-0.35 s of every
    simulate): a Monte-Carlo run loads no scipy.linalg, and np.dot compiled afterwards in the
    same process still calls SciPy's BLAS."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from pumpsim.io.tables import read_table\n"
        "from pumpsim.sim import montecarlo\n"
        f"table, profile = read_table({str(REPO / 'scenarios' / 'mri-stall.toml')!r})\n"
        "plan = montecarlo.make_plan(table, profile, 1, None)\n"
        "out = montecarlo.per_run(plan, 0, 4, threads=1)\n"
        "assert out.max24.shape[0] == 4\n"
        "print('linalg before dot:', 'scipy.linalg' in sys.modules)\n"
        "from numba import njit\n"
        "dot = njit(lambda a, b: np.dot(a, b))\n"
        "print('dot:', dot(np.arange(3.0), np.arange(3.0)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "linalg before dot: False" in res.stdout
    assert "dot: 5.0" in res.stdout
