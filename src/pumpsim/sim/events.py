"""The telemetry event codes of a simulated run (``SimResult.event_code``) and their names.

The codes are defined once, in ``kernels/events.py`` (the kernel writes them; plain ints, a
module that imports nothing, so reading them never starts Numba); they are re-exported here,
the package that may import the kernels, for the rest of pumpsim. The names are what the
telemetry CSV prints.
"""
from __future__ import annotations

from pumpsim.kernels.events import (  # noqa: F401  (re-exported)
    EV_BOLUS_DENIED_EMPTY,
    EV_BOLUS_DENIED_LOCKOUT,
    EV_BOLUS_DENIED_MAX24H,
    EV_BOLUS_DENIED_OFF,
    EV_BOLUS_DENIED_STALL,
    EV_BOLUS_GRANTED,
    EV_EMPTY,
    EV_END,
    EV_LOW_ALARM,
    EV_REFILL,
    EV_SESSION,
    EV_STALL,
    EV_STALL_RECOVERED,
)

EVENT_NAMES = {
    EV_SESSION: "session",
    EV_REFILL: "refill",
    EV_BOLUS_GRANTED: "bolus granted",
    EV_BOLUS_DENIED_LOCKOUT: "bolus denied: lockout",
    EV_BOLUS_DENIED_MAX24H: "bolus denied: max per 24 h",
    EV_BOLUS_DENIED_EMPTY: "bolus denied: reservoir empty",
    EV_LOW_ALARM: "low alarm",
    EV_EMPTY: "empty",
    EV_STALL: "stall",
    EV_STALL_RECOVERED: "stall recovered",
    EV_END: "end",
    EV_BOLUS_DENIED_OFF: "bolus request dropped: bolus off",
    EV_BOLUS_DENIED_STALL: "bolus denied: pump stalled",
}
