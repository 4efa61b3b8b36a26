"""The first Monte-Carlo run after an install compiles its kernels on both cores.

Numba compiles while holding the GIL, so one process compiles on one core. When the kernels'
cache folder (``kernels/cache.py``) holds no compiled ``run_block`` yet, :func:`ensure` starts
a helper process (``python -m pumpsim.sim.compiling``) that compiles, and so writes into the
cache, the kernels of :data:`HELPER_KERNELS` (the draws, the 24 h window sweep, the buffers, the
fan chart), while this process compiles those of :data:`MAIN_KERNELS` (the event loop
``simulate_pump``, the largest kernel). If this process is done first, it takes the helper's
kernels from the end of its list (compiling them, or loading those the helper has written
meanwhile) until only the one the helper is on remains, and waits for that one. Then it
compiles ``run_block``, whose callees are all in memory: nothing is compiled twice.

The helper compiles exactly the signatures this process asks for: they are taken here by
``numba.typeof`` of the real arguments (the plan's records, its outputs and work buffers) and
sent pickled to the helper, so a record typed differently (a bool field instead of an int)
cannot make a signature that is never used. If the helper cannot start, fails, or outlives
:data:`HELPER_TIMEOUT`, it is ended and this process compiles what is missing itself: the
compiled code, and so every number, is the same either way. Two processes started at once on
an empty cache each start a helper; Numba writes every cache file under a temporary name and
renames it, so none reads a half-written file (at worst a kernel is compiled twice).

Nothing happens when ``run_block`` is already compiled in this process or in the cache, when
Numba's JIT is disabled, or when the cache is a temporary folder of this process only. The
engine's one-run path (``simulate_sized``) is not concerned: it compiles in its own process.
"""
from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO

#: Seconds to wait for the helper's last kernel once this process has compiled everything else
#: (the helper needs about 5 s in all on an idle 2-core machine); past this it is ended and
#: that kernel compiled here.
HELPER_TIMEOUT = 120.0

#: The helper's command line (its signatures arrive pickled on stdin).
HELPER_COMMAND = (sys.executable, "-m", "pumpsim.sim.compiling")

#: Kernels this process compiles while the helper compiles the others ("module.function" of
#: ``pumpsim.kernels``).
MAIN_KERNELS = ("pump.simulate_pump",)

#: Kernels the helper process compiles into the cache, in this order (the largest first); this
#: process takes them from the end when it has finished its own share before the helper (so a
#: kernel's callee comes after it: ``new_work`` after ``grown``, which calls it).
HELPER_KERNELS = ("draws.draw_conditions", "window.max_window_sweep_columns", "structs.capacity",
                  "structs.grown", "structs.new_work", "montecarlo.sample_grid", "montecarlo.fold_grid")


def announced() -> bool:
    """Whether this process has already said on stderr that the kernels are compiling (read
    without importing them, so that a command that never loads Numba never does here)."""
    cache = sys.modules.get("pumpsim.kernels.cache")
    return bool(cache is not None and cache.announced())


@dataclass
class Report:
    """What :func:`ensure` did (read by the tests and the benchmarks)."""

    helper: str = "not needed"  # "not needed", "done", "failed (...)", "timed out", "not started (...)"
    seconds: dict[str, float] = field(default_factory=dict)  # wall and CPU time at each step [s]


#: What the last call of :func:`ensure` in this process did.
last = Report()


def signatures(sessions, pump, variation, grid, n_drugs: int, n_sess: int) -> dict[str, tuple]:
    """The argument types of ``run_block`` and of each kernel it calls, as this process calls them.

    Parameters
    ----------
    sessions, pump : Sessions, Pump
        The lowered table (``kernels/structs.py``).
    variation : Variation
        The lowered variability (``kernels/draws.py``).
    grid : numpy.ndarray
        Instants of the fan chart [s].
    n_drugs, n_sess : int
        Drugs and sessions of the table [-].

    Returns
    -------
    dict of str to tuple of numba types
        ``"module.function"`` -> argument types, for ``run_block`` and every kernel of
        :data:`MAIN_KERNELS` and :data:`HELPER_KERNELS`.
    """
    import numpy as np
    from numba import typeof

    from pumpsim.kernels.montecarlo import Outputs
    from pumpsim.kernels.structs import Conditions, new_work

    n = len(sessions.t)
    i64, f8 = typeof(0), typeof(0.0)
    f8_1, f8_2 = typeof(np.empty(1)), typeof(np.empty((1, 1)))
    s, p, v, g = typeof(sessions), typeof(pump), typeof(variation), typeof(grid)
    out = typeof(Outputs(np.empty(1), np.empty(1), np.empty(1), np.empty((1, n_drugs)), np.empty((1, n_sess)),
                         np.zeros((1, n_sess + 1), np.int8), np.empty((1, len(grid)))))
    work = typeof(getattr(new_work, "py_func", new_work)(1, n_drugs))  # in Python: cheap
    cond = typeof(Conditions(np.empty(n), np.zeros(n, np.int64), np.empty(n), 0, np.empty(1), np.empty(1),
                             np.empty(1), np.empty(1)))
    return {
        "montecarlo.run_block": (i64, i64, i64, i64, s, p, v, g, out),
        "pump.simulate_pump": (s, p, cond, work),
        "draws.draw_conditions": (i64, i64, s, p, v),
        "structs.capacity": (s, p, i64, i64),
        "structs.new_work": (i64, i64),
        "structs.grown": (work,),
        "window.max_window_sweep_columns": (f8_1, f8_2, i64, f8, f8_1, f8_1, i64),
        "montecarlo.sample_grid": (f8_1, f8_1, i64, g, f8_2, i64),
        "montecarlo.fold_grid": (f8_2, f8, f8, typeof(np.zeros((1, 1), np.int64))),
    }


def kernel(name: str):
    """The dispatcher of ``"module.function"`` of ``pumpsim.kernels``.

    Parameters
    ----------
    name : str
        ``"module.function"``, e.g. ``"pump.simulate_pump"``.

    Returns
    -------
    numba.core.registry.CPUDispatcher
        The compiled kernel's dispatcher.
    """
    import importlib

    module, _, fn = name.partition(".")
    return getattr(importlib.import_module(f"pumpsim.kernels.{module}"), fn)


def compile_all(sigs: dict[str, tuple], names) -> None:
    """Compile (or load from the cache) each kernel of ``names`` for its signature in ``sigs``.

    Parameters
    ----------
    sigs : dict of str to tuple of numba types
        As :func:`signatures` returns.
    names : iterable of str
        Keys of ``sigs``.
    """
    for name in names:
        kernel(name).compile(sigs[name])


def _stamp(step: str, t0: float) -> None:
    last.seconds[step] = time.perf_counter() - t0
    last.seconds[f"{step} cpu"] = time.process_time()


def _start_helper(sigs: dict[str, tuple]) -> tuple[subprocess.Popen, IO[bytes]] | None:
    # stdin and stderr are files, not pipes: writing cannot block on a helper that does not
    # read, and its messages are kept for the report if it fails
    payload = tempfile.TemporaryFile()
    pickle.dump({k: sigs[k] for k in HELPER_KERNELS}, payload)
    payload.seek(0)
    err = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen(list(HELPER_COMMAND), stdin=payload, stdout=subprocess.DEVNULL, stderr=err)
    except OSError as e:
        err.close()
        last.helper = f"not started ({e})"
        return None
    finally:
        payload.close()
    return proc, err


def _finish_helper(proc: subprocess.Popen, err: IO[bytes], timeout: float) -> None:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        last.helper = "timed out"
    else:
        if proc.returncode == 0:
            last.helper = "done"
        else:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-1:]
            last.helper = f"failed (exit status {proc.returncode}{': ' + tail[0] if tail else ''})"
    err.close()


def ensure(plan, timeout: float | None = None) -> Report:
    """Compile ``run_block`` for ``plan`` before its first call, on two cores when it is not cached.

    Parameters
    ----------
    plan : pumpsim.sim.montecarlo.Plan
        The lowered table, its variability and the fan chart's grid.
    timeout : float or None
        Seconds to wait for the helper [s]; None: :data:`HELPER_TIMEOUT`.

    Returns
    -------
    Report
        Whether a helper ran and how it ended, and the time of each step [s].
    """
    global last
    last = Report()
    from numba.core import config

    if config.DISABLE_JIT:
        return last
    from pumpsim.kernels import cache
    from pumpsim.kernels.montecarlo import run_block

    t0 = time.perf_counter()
    sigs = signatures(plan.sessions, plan.pump, plan.variation, plan.grid, len(plan.drugs), plan.n_sess)
    if (sigs["montecarlo.run_block"] in run_block.overloads or not cache.persistent()
            or cache.compiled("montecarlo", "run_block")):
        return last
    _stamp("start", t0)
    helper = _start_helper(sigs)
    left = list(HELPER_KERNELS)
    try:
        compile_all(sigs, MAIN_KERNELS)
        _stamp("main share", t0)
        if helper is not None:
            proc, err = helper
            # take the helper's kernels from the end while it works on the others (never the
            # one it is on: all those before it are in the cache), then wait for it
            while left and proc.poll() is None and not _in_cache(left[-1]):
                if all(_in_cache(name) for name in left[:-1]):
                    break
                compile_all(sigs, [left.pop()])
            last.seconds["taken from the helper"] = len(HELPER_KERNELS) - len(left)
            _finish_helper(proc, err, HELPER_TIMEOUT if timeout is None else timeout)
            helper = None
            _stamp("helper", t0)
    finally:
        if helper is not None:  # interrupted: leave no helper behind
            helper[0].kill()
            helper[0].wait()
            helper[1].close()
    compile_all(sigs, left)  # loaded from the cache, or compiled here if the helper failed
    compile_all(sigs, ["montecarlo.run_block"])
    _stamp("run_block", t0)
    return last


def _in_cache(name: str) -> bool:
    from pumpsim.kernels import cache

    return cache.compiled(*name.split("."))


def helper_main() -> int:
    """The helper process: compile into the cache the signatures pickled on stdin.

    Returns
    -------
    int
        The exit status (0).
    """
    sigs = pickle.loads(sys.stdin.buffer.read())
    compile_all(sigs, list(sigs))
    return 0


if __name__ == "__main__":
    sys.exit(helper_main())
