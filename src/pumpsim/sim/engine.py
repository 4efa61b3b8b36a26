"""The simulation engine: a table and a scenario in, a :class:`~pumpsim.model.results.SimResult` out,
computed by the Numba kernel of ``kernels/pump.py`` (model: docs/SIMULATION.md).

:func:`max_24h` gives each drug's exact maximum dose over all rolling 24 h windows
(``kernels/window.py`` documents the algorithm). Times are seconds since the first session.
"""
from __future__ import annotations

import math

from pumpsim.kernels.pump import simulate_sized
from pumpsim.kernels.structs import capacity, new_work
from pumpsim.kernels.window import max_window
from pumpsim.model.results import Scenario, SimResult
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY
from pumpsim.sim.lower import lower

WINDOW = float(DAY)  # [s]: the rolling window of DOSE-MAX
PLATEAU_RTOL = 1e-9  # candidates this close to the maximum count as reaching it (earliest wins)


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def simulate(table: Table, scenario: Scenario) -> SimResult:
    """Simulate one pump over the table's horizon with the Numba kernel (docs/SIMULATION.md).

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The sessions, programs and device: instants in whole seconds [s] since the table's first
        session, volumes [mL], flow rates [mL/day], concentrations [dose unit/mL].
    scenario : pumpsim.model.results.Scenario
        The conditions of the run: accuracy factor [-], bolus mode and request instants [s],
        session delays [s], outflow modifiers (start [s], end [s], factor [-]), skipped sessions,
        per-session accuracy factors [-].

    Returns
    -------
    pumpsim.model.results.SimResult
        Breakpoint instants ``t`` [s], cumulative doses at the catheter tip ``dose`` [dose unit,
        mg or mcg], true and estimated reservoir volumes [mL], the first low-alarm, empty and
        pump-alarm instants [s] (None if never), the volumes filled, aspirated, delivered and
        remaining [mL], and the telemetry events (instant [s], ``EV_*`` code, value).
    """
    sess, pump, cond = lower(table, scenario)
    work = new_work(capacity(sess, pump, len(cond.requests), len(cond.mod_start)), pump.conc.shape[1])
    out, work = simulate_sized(sess, pump, cond, work)
    nbp, nev = out.nbp, out.nev
    return SimResult(drugs=table.drugs(), t=work.bp_t[:nbp], dose=work.bp_dose[:nbp], volume_true=work.bp_v[:nbp],
                     volume_estimate=work.bp_vest[:nbp], low_alarm_at=_opt(out.low_alarm_at),
                     empty_at=_opt(out.empty_at), pump_alarm_at=_opt(out.pump_alarm_at),
                     filled=float(out.filled), aspirated=float(out.aspirated),
                     delivered_volume=float(out.delivered_volume), remaining=float(out.remaining),
                     event_t=work.ev_t[:nev], event_code=work.ev_code[:nev], event_value=work.ev_val[:nev])


def max_24h(result: SimResult, horizon: float) -> dict[str, tuple[float, float]]:
    """Each drug's maximum dose in any window [t, t + 24 h) and the start of the worst window [s].

    Exact, not sampled: the supremum over the candidate windows of docs/SIMULATION.md §6
    (``kernels/window.max_window``); candidates within 1e-9 relative of the maximum count as
    reaching it, the earliest wins.

    Parameters
    ----------
    result : pumpsim.model.results.SimResult
        A simulated run: breakpoint instants ``t`` [s] and cumulative doses ``dose`` [dose unit].
    horizon : float
        End of the simulation [s since the table's first session]; the start reported is
        clamped to [0, horizon].

    Returns
    -------
    dict of str to tuple of (float, float)
        Drug name -> (maximum dose delivered in any window [t, t + 24 h) [dose unit, mg or
        mcg], start t of the earliest worst window [s]).
    """
    out = {}
    for j, d in enumerate(result.drugs):
        best, at = max_window(result.t, result.dose[:, j].copy(), WINDOW, PLATEAU_RTOL)
        out[d] = (float(best), float(min(max(at, 0.0), horizon)))
    return out
