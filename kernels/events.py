"""The telemetry event codes: the one place they are defined.

The kernel writes them into ``Work.ev_code``; the Python side imports them from here (and
names them for the telemetry CSV). Plain ints, so that compiled code reads them as constants.
"""
from __future__ import annotations

EV_SESSION = 0
EV_REFILL = 1
EV_BOLUS_GRANTED = 2
EV_BOLUS_DENIED_LOCKOUT = 3
EV_BOLUS_DENIED_MAX24H = 4
EV_BOLUS_DENIED_EMPTY = 5
EV_LOW_ALARM = 6  # the pump's own alarm: its *estimated* volume reached the low-alarm volume
EV_EMPTY = 7  # the true reservoir reached 0: delivery stops
EV_STALL = 8
EV_STALL_RECOVERED = 9
EV_END = 10
EV_BOLUS_DENIED_OFF = 11  # a request while bolus is off (dropped)
EV_BOLUS_DENIED_STALL = 12  # a request while the motor is stalled (MRI)
