"""The simulation engine: a table and a scenario in, a :class:`~pumpsim.results.SimResult` out,
computed by the Numba kernel of ``kernels/pump.py`` (model: docs/SIMULATION.md).

:func:`max_24h` gives each drug's exact maximum dose over all rolling 24 h windows
(``kernels/window.py`` documents the algorithm).
"""
from __future__ import annotations

import math

import numpy as np

from pumpsim.kernels.pump import OK, simulate_pump
from pumpsim.kernels.window import max_window

from .lower import lower
from .model import DAY, Table
from .results import EV_STALL, Scenario, SimResult

WINDOW = DAY  # the rolling window of DOSE-MAX: 24 h [s]
_KERNEL_DAY = float(DAY)  # TEMPORARY (kernel v2 replaces this): the old kernel counts in days


def _seconds(x):
    """TEMPORARY (kernel v2 replaces this): kernel days to seconds, a change of unit only. The
    old kernel's instants keep their rounding through binary fractions of a day (a grant 24 h
    after another may sit an ulp early), and :func:`max_24h` works on the kernel's own days, so
    its over-count (issue 13) stays visible until kernel v2."""
    return np.asarray(x, dtype=np.float64) * _KERNEL_DAY
PLATEAU_RTOL = 1e-9  # candidates this close to the maximum count as reaching it (earliest wins)


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(_seconds(x))  # TEMPORARY (kernel v2 replaces this)


def _buffers(cap: int, n_drugs: int) -> tuple:
    """Output and work buffers of the kernel, ``cap`` rows each."""
    return (np.empty(cap), np.empty((cap, n_drugs)), np.empty(cap), np.empty(cap),
            np.empty(cap), np.empty(cap, np.int64), np.empty(cap), np.empty(cap), np.empty(cap), np.empty(cap, np.int64))


def simulate(table: Table, scenario: Scenario) -> SimResult:
    """Simulate one pump over the table's horizon."""
    low = lower(table, scenario)
    n_drugs = low.conc.shape[1]
    # a first guess from the schedule; doubled until the kernel reports no overflow
    cap = 64 + int(low.horizon * (8 + int(low.s_nsteps.max()) * 2)) + 4 * len(low.s_t) + 2 * len(low.requests)
    while True:
        buf = _buffers(cap, n_drugs)
        nbp, nev, status, sc = simulate_pump(*low.args(), *buf)
        if status == OK:
            break
        cap *= 2
    bp_t, bp_dose, bp_v, bp_vest, ev_t, ev_code, ev_val = (b[:n] for b, n in zip(buf[:7], (nbp,) * 4 + (nev,) * 3))
    # TEMPORARY (kernel v2 replaces this): the kernel's days back to seconds
    days = bp_t  # TEMPORARY (kernel v2 replaces this): max_24h works on the kernel's own days
    bp_t, ev_t = _seconds(bp_t), _seconds(ev_t)
    ev_val = np.where(ev_code == EV_STALL, _seconds(ev_val), ev_val)  # a stall's length
    res = SimResult(drugs=table.drugs(), t=bp_t, dose=bp_dose, volume_true=bp_v, volume_estimate=bp_vest,
                    low_alarm_at=_opt(sc[0]), empty_at=_opt(sc[1]), pump_alarm_at=_opt(sc[2]),
                    filled=float(sc[3]), aspirated=float(sc[4]), delivered_volume=float(sc[5]),
                    remaining=float(sc[6]), event_t=ev_t, event_code=ev_code, event_value=ev_val)
    res._kernel_days = days  # TEMPORARY (kernel v2 replaces this)
    return res


def max_24h(result: SimResult, horizon: float) -> dict[str, tuple[float, float]]:
    """Each drug's maximum dose in any window [t, t + 24 h) and the start of the worst window [s]."""
    out = {}
    # TEMPORARY (kernel v2 replaces this): the window over the kernel's own days, where its
    # breakpoints and their 24 h partners are consistent (seconds = days x 86400 are not)
    days = getattr(result, "_kernel_days", None)
    if days is None:
        days = result.t / _KERNEL_DAY
    for j, d in enumerate(result.drugs):
        best, at = max_window(days, result.dose[:, j].copy(), 1.0, PLATEAU_RTOL)
        out[d] = (float(best), float(min(max(at * _KERNEL_DAY, 0.0), horizon)))
    return out
