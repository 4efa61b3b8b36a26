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
    """An upper estimate of the breakpoints of one simulation: per session interval, one per flex
    step and day and two per bolus the policy could grant; two per request; a few per session."""
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
    return estimated_breakpoints(table, scenario) <= REFERENCE_MAX_BREAKPOINTS


def simulate(table: Table, scenario: Scenario) -> SimResult:
    """Simulate one pump over the table's horizon (reference or kernel, see the module text)."""
    if uses_reference(table, scenario):
        from pumpsim.sim import reference

        return reference.simulate(table, scenario)
    from pumpsim.sim import engine

    return engine.simulate(table, scenario)


def max_24h(result: SimResult, horizon: float) -> dict[str, tuple[float, float]]:
    """Each drug's exact maximum dose in any window [t, t + 24 h) and the start of the worst
    window [s], by the implementation that matches the result's size."""
    if len(result.t) <= REFERENCE_MAX_BREAKPOINTS:
        from pumpsim.sim import reference

        return reference.max_24h(result, horizon)
    from pumpsim.sim import engine

    return engine.max_24h(result, horizon)
