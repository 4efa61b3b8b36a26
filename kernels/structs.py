"""The few named records the kernels take and return: one lowered table, one run's
conditions, the work buffers, and the named outcome of a run.

Every kernel of ``kernels/`` takes these records, never dozens of positional arrays, so that
adding a session field means adding it to :class:`Sessions`, to :mod:`pumpsim.lower` that
fills it, and to the kernel that reads it (and to the plain-Python reference, which reads the
table itself). They are plain ``namedtuple`` classes of NumPy arrays and scalars: Numba types
them as records, Python code reads them by name.

Units inside the kernels: time in seconds [s] (instants since the first session, float64
holding whole numbers wherever the table typed whole seconds, so sums of typed durations are
exact); volume [mL]; flow [mL/s]; dose in each drug's dose unit; concentration [dose unit/mL].
The length of a day (the rolling window of DOSE-MAX, the period of a flex schedule, the wall
clock of the hourly request weights) is not a constant here: it is ``Pump.day``, set by the
lowering from the model's ``DAY``, its one owner.

:func:`capacity` is the one owner of buffer sizing: the engine and the Monte-Carlo runs both
start from it and both grow buffers with :func:`grown` when a kernel reports an overflow.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from . import cache  # noqa: F401  (keys the compiled cache to the sources; before any kernel)

#: The lowered table: one row per session (all sessions, in time order, the first at 0).
Sessions = namedtuple("Sessions", [
    "t",  # (n,) scheduled instant [s]
    "refill",  # (n,) int64: 1 if the session refills
    "volume",  # (n,) fill volume [mL]
    "mix",  # (n,) int64: row of Pump.conc of the mix filled (the previous one if no refill)
    "nsteps",  # (n,) int64: flex steps in force
    "starts",  # (n, K) step starts [s after midnight]
    "rates",  # (n, K) step rates [mL/s]
    "bolus",  # (n,) int64: 1 if a bolus policy is in force
    "bvol",  # (n,) bolus volume [mL]
    "block",  # (n,) lockout [s]
    "bmax",  # (n,) int64: max grants per rolling 24 h
    "bdur",  # (n,) bolus duration [s] (0: at once)
])

#: The pump and the horizon.
Pump = namedtuple("Pump", [
    "conc",  # (n_mix, n_drugs) [dose unit/mL]
    "clock0",  # wall-clock time of t = 0 [s after midnight]
    "horizon",  # [s]
    "low_alarm",  # [mL], NaN when the device has none
    "dead_volume",  # [mL]
    "day",  # [s]: the rolling window of DOSE-MAX and the period of a flex schedule (the model's DAY)
])

#: The conditions of one run (drawn by ``kernels/draws.py`` or set by :mod:`pumpsim.lower`).
Conditions = namedtuple("Conditions", [
    "t_eff",  # (n,) instant each session takes effect [s] (sorted; delays capped)
    "skip",  # (n,) int64: 1 if the session does not happen (a missed refill visit)
    "factor",  # (n,) accuracy factor in force from each session on (true = factor x programmed)
    "bolus_mode",  # BOLUS_NONE, BOLUS_GREEDY or BOLUS_REQUESTS
    "requests",  # sorted request instants [s]
    "mod_start",  # outflow modifiers on [start, end) [s], sorted, non-overlapping
    "mod_end",
    "mod_factor",  # delivery multiplied by this (0: a stall)
])

#: Output and work buffers of one simulation, ``cap`` rows each.
Work = namedtuple("Work", [
    "bp_t",  # (cap,) breakpoint instants [s]
    "bp_dose",  # (cap, n_drugs) cumulative dose at the catheter tip
    "bp_v",  # (cap,) true reservoir volume [mL]
    "bp_vest",  # (cap,) the pump's own estimate [mL]
    "ev_t",  # (cap,) telemetry events: instant [s], code (EV_*), value
    "ev_code",
    "ev_val",
    "grants",  # (cap,) grant instants [s] (work)
    "chg_u",  # (cap,) push coordinates where the reservoir's mix changed (work)
    "chg_mix",  # (cap,) int64: the mix from there on (work)
    "irr_t",  # (cap,) instants where a flow may change other than by a flex step [s] (for the window sweep)
])

#: What a simulation returns besides the buffers it filled.
Outcome = namedtuple("Outcome", [
    "status",  # OK, or OVERFLOW_*: a buffer was too small, the outputs are incomplete
    "nbp",  # breakpoints written
    "nev",  # events written
    "nirr",  # irregular instants written (``Work.irr_t``)
    "low_alarm_at",  # first instant the true volume <= low alarm [s], NaN if never
    "empty_at",  # first instant the true volume is 0 [s], NaN if never
    "pump_alarm_at",  # first instant the pump's estimate <= low alarm [s], NaN if never
    "filled",  # total volume filled [mL]
    "aspirated",  # total volume aspirated at refills [mL]
    "delivered_volume",  # total volume pushed out of the reservoir [mL]
    "remaining",  # true volume at the horizon [mL]
])

OK = 0
OVERFLOW = 1

BOLUS_NONE = 0
BOLUS_GREEDY = 1
BOLUS_REQUESTS = 2


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def capacity(sess, pump, n_requests, n_mods):
    """Rows a simulation is likely to need: a first guess, doubled on overflow (:func:`grown`).

    Per day, at most one breakpoint and one event per flex step, plus a few for alarms; per
    session a refill, a mix change and their events; per request or modifier a grant (two
    breakpoints) and its event.

    Parameters
    ----------
    sess, pump : Sessions, Pump
        The lowered table (horizon and day [s]).
    n_requests, n_mods : int
        Bolus requests and outflow modifiers of the run [-].

    Returns
    -------
    int
        Rows of every buffer of :data:`Work` [-].
    """
    k = sess.starts.shape[1]
    days = pump.horizon / pump.day
    return 64 + int(days * (8.0 + 2.0 * k)) + 4 * sess.t.shape[0] + 3 * n_requests + 4 * n_mods


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def new_work(cap, n_drugs):
    return Work(np.empty(cap), np.empty((cap, n_drugs)), np.empty(cap), np.empty(cap),
                np.empty(cap), np.empty(cap, np.int64), np.empty(cap), np.empty(cap),
                np.empty(cap), np.empty(cap, np.int64), np.empty(cap))


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def grown(work):
    """Fresh buffers twice as large (after an overflow: the run is simply redone)."""
    return new_work(2 * work.bp_t.shape[0], work.bp_dose.shape[1])
