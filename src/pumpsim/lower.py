"""Lowering: a :class:`~pumpsim.model.Table` and a :class:`~pumpsim.results.Scenario` to the
plain arrays the Numba kernel takes (``kernels/pump.py``), in base units.

Only sessions that take effect before the horizon are passed. A session's delay never moves
it past the scheduled time of the next session, and the first session is never delayed
(docs/SIMULATION.md §1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import DAY, Table
from .results import Scenario

# TEMPORARY (kernel v2 replaces this): the model and scenarios are in seconds, the old kernel
# takes float days; lower() divides every instant and duration by this.
_KERNEL_DAY = float(DAY)

BOLUS_MODES = {"none": 0, "greedy": 1, "requests": 2}


@dataclass
class Lowered:
    """The kernel's positional arguments, by name (see ``kernels.pump.simulate_pump``)."""

    s_t: np.ndarray
    s_refill: np.ndarray
    s_volume: np.ndarray
    s_mix: np.ndarray
    s_nsteps: np.ndarray
    s_starts: np.ndarray
    s_rates: np.ndarray
    s_bolus: np.ndarray
    s_bvol: np.ndarray
    s_block: np.ndarray
    s_bmax: np.ndarray
    s_bdur: np.ndarray
    conc: np.ndarray
    clock0: float
    horizon: float
    factor: float
    low_alarm: float
    dead_volume: float
    bolus_mode: int
    requests: np.ndarray
    mod_start: np.ndarray
    mod_end: np.ndarray
    mod_factor: np.ndarray

    def args(self) -> tuple:
        return tuple(getattr(self, f) for f in self.__dataclass_fields__)


def effective_times(table: Table, delays: np.ndarray | None) -> np.ndarray:
    """Instant each session takes effect [s]: scheduled time plus its delay, capped."""
    sched = np.array([s.t for s in table.sessions], dtype=np.float64)
    if delays is None:
        return sched
    eff = sched.copy()
    for i in range(1, len(sched)):
        eff[i] = sched[i] + max(float(delays[i]), 0.0)
        if i + 1 < len(sched) and eff[i] > sched[i + 1]:
            eff[i] = sched[i + 1]
    return eff


def mixes(table: Table) -> tuple[list[tuple], np.ndarray]:
    """The distinct mixes of the table (as written) and their concentration matrix."""
    drugs = table.drugs()
    seen: list[tuple] = []
    for s in table.sessions:
        if s.refill is not None and s.refill.mix not in seen:
            seen.append(s.refill.mix)
    conc = np.zeros((len(seen), len(drugs)))
    for i, mix in enumerate(seen):
        for d, c in mix:
            conc[i, drugs.index(d)] = c
    return seen, conc


def lower(table: Table, scenario: Scenario) -> Lowered:
    eff = effective_times(table, scenario.session_delays)
    keep = [i for i in range(len(table.sessions)) if eff[i] < table.horizon and i not in scenario.skipped]
    n = len(keep)
    kmax = max(len(table.programs[i].steps) for i in keep)
    seen, conc = mixes(table)
    ar = {name: np.zeros(n, dtype) for name, dtype in (
        ("s_refill", np.int64), ("s_volume", np.float64), ("s_mix", np.int64), ("s_nsteps", np.int64),
        ("s_bolus", np.int64), ("s_bvol", np.float64), ("s_block", np.float64), ("s_bmax", np.int64),
        ("s_bdur", np.float64))}
    starts = np.zeros((n, kmax))
    rates = np.zeros((n, kmax))
    mix_now = -1
    for row, i in enumerate(keep):
        sess, prog = table.sessions[i], table.programs[i]
        if sess.refill is not None:
            ar["s_refill"][row] = 1
            ar["s_volume"][row] = sess.refill.volume
            mix_now = seen.index(sess.refill.mix)
        ar["s_mix"][row] = mix_now
        ar["s_nsteps"][row] = len(prog.steps)
        for k, st in enumerate(prog.steps):
            starts[row, k] = st.start / _KERNEL_DAY  # TEMPORARY (kernel v2 replaces this)
            rates[row, k] = st.rate
        if prog.bolus is not None:
            b = prog.bolus
            ar["s_bolus"][row] = 1
            ar["s_bvol"][row] = b.volume
            ar["s_block"][row] = b.lockout / _KERNEL_DAY  # TEMPORARY (kernel v2 replaces this)
            ar["s_bmax"][row] = b.max_per_24h
            ar["s_bdur"][row] = b.duration / _KERNEL_DAY  # TEMPORARY (kernel v2 replaces this)
    mods = np.zeros((0, 3)) if scenario.modifiers is None else np.asarray(scenario.modifiers, dtype=np.float64).reshape(-1, 3)
    mods = mods * np.array([1.0 / _KERNEL_DAY, 1.0 / _KERNEL_DAY, 1.0])  # TEMPORARY (kernel v2 replaces this)
    low = table.device.low_alarm
    return Lowered(
        # TEMPORARY (kernel v2 replaces this): instants and durations to float days
        s_t=np.ascontiguousarray(eff[keep] / _KERNEL_DAY), s_starts=starts, s_rates=rates, conc=conc,
        clock0=table.clock0 / _KERNEL_DAY, horizon=table.horizon / _KERNEL_DAY, factor=float(scenario.accuracy_factor),
        low_alarm=float("nan") if low is None else float(low.value), dead_volume=table.device.dead_volume_mL,
        bolus_mode=BOLUS_MODES[scenario.bolus],
        requests=(np.ascontiguousarray(np.asarray(scenario.request_times, dtype=np.float64) / _KERNEL_DAY)
                  if scenario.bolus == "requests" else np.empty(0)),
        mod_start=np.ascontiguousarray(mods[:, 0]), mod_end=np.ascontiguousarray(mods[:, 1]),
        mod_factor=np.ascontiguousarray(mods[:, 2]), **ar)
