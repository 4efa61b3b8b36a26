"""The telemetry log: what interrogations of the pump would show over the horizon.

One row per event of a simulated run (session, refill, bolus granted or denied with the
reason, the pump's low alarm, empty, stall, stall recovered, end) with the pump's estimated
reservoir, the true reservoir and the programmed rate in force. The volumes are read from the
run's breakpoints *after* everything that happens at the event's instant. The ``day`` column
is the instant in days since the first session (the model counts seconds).
"""
from __future__ import annotations

import csv
import io

import numpy as np

from pumpsim.model.results import SimResult
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY
from pumpsim.sim.events import EV_BOLUS_GRANTED, EV_REFILL, EVENT_NAMES

HEADER = ["time", "day", "event", "value", "value_unit", "reservoir_estimate_mL", "reservoir_true_mL",
          "programmed_rate_mL_per_day"]


def programmed_rate(table: Table, t: float) -> float:
    """The programmed basal rate in force at ``t`` [s] in mL/day (flex steps on the wall clock)."""
    prog = table.programs[0]
    for p in table.programs:
        if p.session.t <= t:
            prog = p
    clock = (table.clock0 + t) % DAY  # [s after midnight]
    rate = prog.steps[0].rate
    for st in prog.steps:
        if st.start <= clock:
            rate = st.rate
    return rate


def volumes_after(result: SimResult, t: float) -> tuple[float, float]:
    """(estimate, true) reservoir volume at ``t``, after the events of that instant [mL]."""
    i = int(np.searchsorted(result.t, t, side="right")) - 1
    i = max(i, 0)
    if result.t[i] == t or i + 1 >= len(result.t):
        return float(result.volume_estimate[i]), float(result.volume_true[i])
    # linear between breakpoints
    t0, t1 = result.t[i], result.t[i + 1]
    w = (t - t0) / (t1 - t0)
    est = result.volume_estimate[i] + w * (result.volume_estimate[i + 1] - result.volume_estimate[i])
    true = result.volume_true[i] + w * (result.volume_true[i + 1] - result.volume_true[i])
    return float(est), float(true)


def to_csv(table: Table, result: SimResult) -> str:
    """The telemetry log as CSV text, with a header."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for t, code, value in zip(result.event_t, result.event_code, result.event_value):
        est, true = volumes_after(result, float(t))
        unit = "mL" if int(code) in (EV_BOLUS_GRANTED, EV_REFILL) else ""
        w.writerow([table.iso(float(t)), f"{float(t) / DAY:.6f}", EVENT_NAMES[int(code)],
                    f"{float(value):.6g}" if unit else "", unit, f"{est:.6f}", f"{true:.6f}",
                    f"{programmed_rate(table, float(t)):.6g}"])
    return buf.getvalue()
