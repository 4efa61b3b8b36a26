"""Monte-Carlo runs of one table: each run draws its own conditions (``kernels/draws.py``,
keyed by the seed and the run's index) and is simulated by ``kernels/pump.py``. The entry point
:func:`run_block` computes a block of runs with one set of buffers and releases the GIL
(``nogil``): the caller spreads blocks over threads (Numba's ``parallel=True`` cost about 8 s of
compilation for the same thing). A run's numbers depend on (seed, run index) only, never on the
number of threads or the blocks.

Per run the kernel keeps a handful of numbers, not trajectories (:data:`Outputs`, row ``r``
for run ``first + r``): the accuracy factor of the first session, the first empty and
low-alarm instants, which refills the pump ran dry before, each drug's exact maximum over
rolling 24 h windows, the true volume left in the reservoir just before each refill, and the
true volume at a fixed grid of instants (the fan chart of the reservoir).

On the first run after an install, :mod:`pumpsim.sim.compiling` compiles the callees of
:func:`run_block` in two processes before it. The kernels of this module, ``draws.py``,
``rng.py`` and ``structs.py`` compile with ``no_cfunc_wrapper=True``: nothing takes their
address as a C function, and the wrapper Numba would otherwise make for each costs compile time
(about 0.1 s of CPU for ``run_block``).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from . import cache  # noqa: F401  (keys the compiled cache to the sources; before any kernel)
from .draws import draw_conditions
from .events import EV_EMPTY
from .pump import simulate_pump
from .structs import OK, capacity, grown, new_work
from .window import max_window_sweep_columns

#: Per-run results of a chunk (one row per run).
Outputs = namedtuple("Outputs", [
    "factor",  # (runs,) accuracy factor of the first session [-]
    "empty",  # (runs,) first instant the true volume is 0 [s], NaN if never
    "low",  # (runs,) first instant the true volume <= low alarm [s], NaN if never
    "max24",  # (runs, drugs) maximum dose in any rolling 24 h window [dose unit]
    "residual",  # (runs, sessions) true volume just before each refill [mL], NaN if not reached
    "dry",  # (runs, sessions + 1) int8: 1 if the pump ran dry in the period ending at that refill
    "fan",  # (runs, instants) true volume at the instants of the grid [mL]
])


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def sample_grid(bp_t, bp_v, nbp, grid, out, row):
    """The piecewise-linear volume (breakpoints bp_t, bp_v; the first nbp rows) at the sorted
    instants ``grid``, into out[row, :]. At an instant that is a breakpoint the value is that of
    the last row at that instant: the state after everything that happens then (after a refill,
    after a bolus). One linear merge over the breakpoints, not a search per instant."""
    k = 0
    for j in range(grid.shape[0]):
        g = grid[j]
        while k + 1 < nbp and bp_t[k + 1] <= g:
            k += 1
        if bp_t[k] >= g or k + 1 >= nbp:
            out[row, j] = bp_v[k]
        else:
            t0 = bp_t[k]
            out[row, j] = bp_v[k] + (bp_v[k + 1] - bp_v[k]) * ((g - t0) / (bp_t[k + 1] - t0))


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def fold_grid(values, lo, hi, counts):
    """Add runs x instants of ``values`` to ``counts`` (instants x bins): bins of equal width
    over [lo, hi], values outside clamped to the end bins (as ``Histogram.add`` does)."""
    bins = counts.shape[1]
    width = (hi - lo) / bins if hi > lo else 1.0
    for r in range(values.shape[0]):
        for j in range(values.shape[1]):
            b = int((values[r, j] - lo) / width)
            if b < 0:
                b = 0
            elif b > bins - 1:
                b = bins - 1
            counts[j, b] += 1


@njit(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)
def run_block(first, lo, hi, seed, sess, pump, var, grid, out):
    """Runs ``first + lo`` .. ``first + hi - 1`` into rows ``lo`` .. ``hi - 1`` of ``out``.

    Parameters
    ----------
    first : int
        Index of the run written in row 0 of ``out`` [-].
    lo, hi : int
        The rows of this block [-]; blocks of one ``out`` may run at once on several threads
        (the GIL is released), each writes only its rows.
    seed : int
        The simulation's seed [-]: run r draws from the stream keyed by (seed, r).
    sess, pump : Sessions, Pump
        The lowered table (``kernels/structs.py``; instants [s], volumes [mL], flows [mL/s]).
    var : Variation
        The lowered variability (``kernels/draws.py``; [s], [1/s]).
    grid : numpy.ndarray
        Sorted instants of the fan chart [s].
    out : Outputs
        Per-run results, one row per run (instants [s], doses [dose unit], volumes [mL]).

    Notes
    -----
    One set of buffers serves the whole block (grown when a run needs more); the block changes
    nothing in the numbers.
    """
    # np.int64(0), not the literal 0: the same compiled capacity as the engine's (two int64)
    cap = capacity(sess, pump, int(var.req_rate * pump.horizon * 1.5) + 8, np.int64(0))
    work = new_work(cap, pump.conc.shape[1])
    n = sess.t.shape[0]
    for r in range(lo, hi):
        # run first + r into row r (written here, not in a helper: a helper inlined by Numba is
        # copied and retyped at each compilation: about 0.06 s of CPU more on the first run)
        cond = draw_conditions(seed, first + r, sess, pump, var)
        while True:
            res = simulate_pump(sess, pump, cond, work)
            if res.status == OK:
                break
            work = grown(work)
        nbp = res.nbp
        t_eff = cond.t_eff
        out.factor[r] = cond.factor[0]
        out.low[r] = res.low_alarm_at
        out.empty[r] = res.empty_at
        # dry before which refill: dry[r, i] = 1 if the pump was empty at some time in the
        # period that ends with the refill of session i (its effective instant); column n: the
        # period that ends with the horizon
        for i in range(n + 1):
            out.dry[r, i] = 0
        for e in range(res.nev if not np.isnan(res.empty_at) else 0):  # no EV_EMPTY if never empty
            if work.ev_code[e] == EV_EMPTY:
                nxt = n
                for i in range(1, n):
                    if sess.refill[i] == 1 and cond.skip[i] == 0 and t_eff[i] < pump.horizon and t_eff[i] > work.ev_t[e]:
                        nxt = i
                        break
                out.dry[r, nxt] = 1
        max_window_sweep_columns(work.bp_t, work.bp_dose, nbp, pump.day, out.max24[r], work.irr_t, res.nirr)
        # the true volume just before each refill (at its effective instant), NaN if not reached
        k = 0
        for i in range(n):
            out.residual[r, i] = np.nan
            if i > 0 and sess.refill[i] == 1 and cond.skip[i] == 0 and t_eff[i] < pump.horizon:
                while k < nbp and work.bp_t[k] < t_eff[i]:
                    k += 1
                if k < nbp:
                    out.residual[r, i] = work.bp_v[k]
        sample_grid(work.bp_t, work.bp_v, nbp, grid, out.fan, r)
