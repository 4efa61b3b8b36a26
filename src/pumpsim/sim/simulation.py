"""One simulation of one table, by whichever of the two tested-equal simulators costs least.

pumpsim has two simulators of the same model (docs/SIMULATION.md): the Numba kernel behind
:mod:`pumpsim.sim.engine` and the plain-Python :mod:`pumpsim.sim.reference`; the tests run both on the
same cases and require agreement to 1e-9. The kernel is about a hundred times faster per event
but costs Numba's start-up in every new process (loading its cache, about 0.9 s on the 2-core
machine; compiling, several seconds, the first time). A single ``validate`` of an ordinary table
needs a few hundred breakpoints, which plain Python simulates in milliseconds; so this module
sends a simulation to the reference when its estimated size is below
:data:`REFERENCE_MAX_BREAKPOINTS`, and to the kernel otherwise (long horizons with frequent
boluses, and every Monte-Carlo run). The numbers are the same either way.
"""
from __future__ import annotations

import math

from pumpsim.model.results import Scenario, SimResult
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY

#: Below this estimated number of breakpoints one simulation runs in plain Python: about 20 us a
#: breakpoint there, so at most about 0.2 s, against about 0.9 s for Numba's start-up (measured
#: on the 2-core machine, docs/PERFORMANCE.md).
REFERENCE_MAX_BREAKPOINTS = 10_000


def estimated_breakpoints(table: Table, scenario: Scenario) -> int:
    """An upper estimate of the breakpoints of one simulation.

    Per session interval, one per flex step and day and two per bolus the policy could grant
    (greedy mode); two per request; a few per session.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table: session instants and horizon [s since the table's first session], bolus
        lockouts [s] and maximum grants per 24 h [count].
    scenario : pumpsim.model.results.Scenario
        The conditions of the run: its bolus mode and request instants [s] count.

    Returns
    -------
    int
        Estimated number of breakpoints [count].
    """
    total = 16 + 8 * len(table.sessions) + 2 * len(scenario.request_times)
    bounds = [s.t for s in table.sessions] + [table.horizon]
    for i, prog in enumerate(table.programs):
        days = max(0.0, min(bounds[i + 1], table.horizon) - bounds[i]) / DAY
        per_day = len(prog.steps)
        if scenario.bolus == "greedy" and prog.bolus is not None:
            b = prog.bolus
            per_day += 2 * min(b.max_per_24h, math.ceil(DAY / max(b.lockout, 1)))
        total += int(math.ceil(days)) * per_day
    return total


def uses_reference(table: Table, scenario: Scenario) -> bool:
    """Whether :func:`simulate` sends this simulation to the plain-Python reference.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table to simulate (instants [s], volumes [mL], rates [mL/day]).
    scenario : pumpsim.model.results.Scenario
        The conditions of the run (bolus mode, request instants [s]).

    Returns
    -------
    bool
        True when :func:`estimated_breakpoints` is at most :data:`REFERENCE_MAX_BREAKPOINTS`
        [count]; False: the Numba kernel.
    """
    return estimated_breakpoints(table, scenario) <= REFERENCE_MAX_BREAKPOINTS


def simulate(table: Table, scenario: Scenario) -> SimResult:
    """Simulate one pump over the table's horizon (reference or kernel, see the module text).

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
    if uses_reference(table, scenario):
        from pumpsim.sim import reference

        return reference.simulate(table, scenario)
    from pumpsim.sim import engine

    return engine.simulate(table, scenario)


def max_24h(result: SimResult, horizon: float) -> dict[str, tuple[float, float]]:
    """Each drug's exact maximum dose in any window [t, t + 24 h) and the start of the worst window [s].

    By the implementation that matches the result's size: the reference up to
    :data:`REFERENCE_MAX_BREAKPOINTS` breakpoints, the kernel beyond (the same numbers).

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
    if len(result.t) <= REFERENCE_MAX_BREAKPOINTS:
        from pumpsim.sim import reference

        return reference.max_24h(result, horizon)
    from pumpsim.sim import engine

    return engine.max_24h(result, horizon)
