"""The reference simulator: the model of docs/SIMULATION.md in plain Python, for reading.

It shares no code with the Numba kernel (``kernels/pump.py``) and formulates the dead volume
differently: the line is an explicit first-in-first-out queue of parcels ``[volume, mix]``
(the kernel uses push coordinates). Tests run both on the same generated tables and require
agreement to 1e-9 relative on every output; ``pumpsim bench`` compares their speed.

Same API as :mod:`pumpsim.sim.engine`: :func:`simulate` and :func:`max_24h`.
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from pumpsim.model.results import Scenario, SimResult
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY
from pumpsim.sim.events import (
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

WINDOW = DAY  # [s]
PLATEAU_RTOL = 1e-9


@dataclass
class Line:
    """Pump tubing plus catheter: parcels of fluid, oldest (next to leave the tip) first."""

    capacity: float
    parcels: deque = field(default_factory=deque)  # of [volume, mix dict]

    def push(self, volume: float, mix: dict[str, float], dose: dict[str, float]) -> None:
        """Push ``volume`` of ``mix`` in at the pump; what leaves the tip adds to ``dose``.

        The line's contents stay ``capacity`` [mL]: as much leaves the tip, oldest parcels first.

        Parameters
        ----------
        volume : float
            Volume pushed out of the reservoir [mL].
        mix : dict of str to float
            The reservoir's mix: drug -> concentration [dose unit/mL]; the same object for
            the same fill (parcels are merged by identity).
        dose : dict of str to float
            Drug -> cumulative dose delivered at the catheter tip [dose unit, mg or mcg],
            updated in place.
        """
        if self.parcels and self.parcels[-1][1] is mix:
            self.parcels[-1][0] += volume
        else:
            self.parcels.append([volume, mix])
        excess = volume
        while excess > 0.0 and self.parcels:
            front = self.parcels[0]
            out = min(front[0], excess)
            for drug, c in front[1].items():
                dose[drug] += c * out
            excess -= out
            if out >= front[0]:
                self.parcels.popleft()
            else:
                front[0] -= out

    def volume_to_next_mix(self, reservoir_mix: dict[str, float]) -> float:
        """Volume still to leave before the tip receives another mix (inf if it never will).

        Parameters
        ----------
        reservoir_mix : dict of str to float
            The reservoir's mix (drug -> concentration [dose unit/mL]), compared by identity.

        Returns
        -------
        float
            Volume of the oldest parcel when another mix follows it [mL]; ``math.inf`` when the
            line holds only the reservoir's mix.
        """
        if len(self.parcels) >= 2 or (self.parcels and self.parcels[0][1] is not reservoir_mix):
            return self.parcels[0][0]
        return math.inf


def _day_boundaries(steps, clock0: int, t: float) -> list[tuple[float, int]]:
    """Start instants [s] of the steps from the day before ``t`` to the day after, with step index."""
    day = (clock0 + t) // DAY
    out = []
    for d in (day - 1, day, day + 1):
        for k, s in enumerate(steps):
            out.append(((d * DAY + s.start) - clock0, k))
    return out


def _step_at(steps, clock0: int, t: float) -> tuple[int, float]:
    """(index of the step in force at t, instant of the next step change)."""
    bounds = _day_boundaries(steps, clock0, t)
    current = max(i for i, (x, _) in enumerate(bounds) if x <= t)
    return bounds[current][1], bounds[current + 1][0]


def simulate(table: Table, scenario: Scenario) -> SimResult:
    """Simulate one pump over the horizon, event by event (docs/SIMULATION.md).

    The state is held in instants [s] (whole where the table makes them whole), volumes [mL]
    and rates [mL/s]; the line is a first-in-first-out queue of parcels (:class:`Line`).

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
    H = table.horizon
    f = scenario.accuracy_factor
    drugs = table.drugs()
    low = None if table.device.low_alarm is None else float(table.device.low_alarm.value)
    line = Line(table.device.dead_volume_mL)

    # when each session takes effect
    times = [s.t for s in table.sessions]
    if scenario.session_delays is not None:
        for i in range(1, len(times)):
            times[i] = table.sessions[i].t + max(float(scenario.session_delays[i]), 0.0)
            if i + 1 < len(times):
                times[i] = min(times[i], table.sessions[i + 1].t)
    pending = [(times[i], i) for i in range(len(times)) if times[i] < H and i not in scenario.skipped]

    requests = list(scenario.request_times) if scenario.bolus == "requests" else []
    mods = [] if scenario.modifiers is None else [tuple(map(float, row)) for row in np.asarray(scenario.modifiers).reshape(-1, 3)]

    # state (instants in seconds: whole where the table makes them whole; rates in mL/s)
    t = 0
    volume = 0.0  # true reservoir [mL]
    estimate = 0.0  # the pump's own estimate [mL]
    pushed = 0.0  # cumulative volume out of the reservoir [mL]
    dose = {d: 0.0 for d in drugs}
    filled = aspirated = 0.0
    mix: dict[str, float] = {}
    mix_key = None
    program = None
    step = 0
    next_step = math.inf
    grants: list[float] = []
    extended_until = None  # end of an extended bolus under way
    extended_rate = 0.0  # its programmed rate [mL/s]
    modifier = 1.0
    mod_index = 0
    in_mod = False
    first = {"low": None, "empty": None, "pump": None}
    empty_armed = pump_armed = True

    rows_t: list[float] = []
    rows_dose: list[list[float]] = []
    rows_v: list[float] = []
    rows_e: list[float] = []
    events: list[tuple[float, int, float]] = []

    def record() -> None:
        """Append a breakpoint: the instant [s], the cumulative doses [dose unit], the volumes [mL]."""
        rows_t.append(t)
        rows_dose.append([dose[d] for d in drugs])
        rows_v.append(volume)
        rows_e.append(estimate)

    def log(code: int, value: float = 0.0) -> None:
        """Append a telemetry event at the current instant [s].

        Parameters
        ----------
        code : int
            The event's ``EV_*`` code (:mod:`pumpsim.sim.events`).
        value : float
            Its value: bolus or refill volume [mL], the pump's estimate at the low alarm [mL],
            a stall's duration [s], the 1-based session number; 0 when none.
        """
        events.append((t, code, value))

    while True:
        record()
        if t >= H:
            break
        jumped = False

        # modifiers ending or starting now
        while mod_index < len(mods):
            start, end, factor = mods[mod_index]
            if in_mod and end <= t:
                if factor == 0.0:
                    log(EV_STALL_RECOVERED)
                in_mod, modifier = False, 1.0
                mod_index += 1
            elif not in_mod and start <= t:
                in_mod, modifier = True, factor
                if factor == 0.0:
                    log(EV_STALL, end - start)
            else:
                break

        if extended_until is not None and extended_until <= t:
            extended_until = None

        # sessions taking effect now
        while pending and pending[0][0] <= t:
            _, i = pending.pop(0)
            session = table.sessions[i]
            log(EV_SESSION, i + 1)
            if scenario.session_factors is not None:  # an accuracy that changes at each refill
                f = float(scenario.session_factors[i])
            if session.refill is not None:
                aspirated += volume
                filled += session.refill.volume
                volume = estimate = session.refill.volume
                jumped = True
                empty_armed = pump_armed = True
                if session.refill.mix != mix_key:
                    # a new object: parcels of different mixes are never merged
                    mix = dict(session.refill.mix)
                    if mix_key is None and line.capacity > 0:
                        line.parcels.append([line.capacity, mix])  # the first mix primes the line
                    mix_key = session.refill.mix
                log(EV_REFILL, session.refill.volume)
            program = table.programs[i]
            step, next_step = _step_at(program.steps, table.clock0, t)

        # boluses: requests now, or (worst case) every grant the policy allows now
        policy = program.bolus if program is not None else None
        while True:
            if scenario.bolus == "requests":
                if not requests or requests[0] > t:
                    break
                requests.pop(0)
            elif scenario.bolus != "greedy" or policy is None:
                break
            if policy is None:
                reason = EV_BOLUS_DENIED_OFF
            elif volume <= 0.0:
                reason = EV_BOLUS_DENIED_EMPTY
            elif modifier == 0.0:
                reason = EV_BOLUS_DENIED_STALL
            elif extended_until is not None:
                reason = EV_BOLUS_DENIED_LOCKOUT
            elif grants and not (t >= grants[-1] + policy.lockout):
                reason = EV_BOLUS_DENIED_LOCKOUT
            elif len(grants) - bisect.bisect_right(grants, t - WINDOW) >= policy.max_per_24h:  # grants after t - 24 h
                reason = EV_BOLUS_DENIED_MAX24H
            else:
                reason = EV_BOLUS_GRANTED
            if reason != EV_BOLUS_GRANTED:
                if scenario.bolus == "greedy":
                    break
                log(reason)
                continue
            grants.append(t)
            log(EV_BOLUS_GRANTED, policy.volume)
            if policy.duration > 0.0:
                extended_until = t + policy.duration
                extended_rate = policy.volume / policy.duration
            else:
                amount = min(f * policy.volume, volume)
                line.push(amount, mix, dose)
                pushed += amount
                volume = volume - amount if amount < volume else 0.0
                estimate = max(estimate - policy.volume, 0.0) if estimate > policy.volume else 0.0
                jumped = True

        # what the state says now
        if volume <= 0.0:
            extended_until = None
            if empty_armed:
                empty_armed = False
                if first["empty"] is None:
                    first["empty"] = t
                log(EV_EMPTY)
        if low is not None:
            if first["low"] is None and volume <= low:
                first["low"] = t
            if pump_armed and estimate <= low:
                pump_armed = False
                if first["pump"] is None:
                    first["pump"] = t
                log(EV_LOW_ALARM, estimate)
        if jumped:
            record()

        # the next event
        programmed = program.steps[step].rate / DAY + (extended_rate if extended_until is not None else 0.0)
        out_rate = f * modifier * programmed if volume > 0.0 else 0.0
        est_rate = programmed if estimate > 0.0 else 0.0
        candidates = {"horizon": H, "step": next_step}
        if pending:
            candidates["session"] = pending[0][0]
        if mod_index < len(mods):
            candidates["modifier"] = mods[mod_index][1] if in_mod else mods[mod_index][0]
        if extended_until is not None:
            candidates["extended"] = extended_until
        if scenario.bolus == "requests" and requests:
            candidates["request"] = requests[0]
        if scenario.bolus == "greedy" and policy is not None and volume > 0.0 and modifier != 0.0:
            nxt = -math.inf
            if grants:
                nxt = grants[-1] + policy.lockout
                if len(grants) >= policy.max_per_24h:
                    nxt = max(nxt, grants[-policy.max_per_24h] + WINDOW)
            if extended_until is not None:
                nxt = max(nxt, extended_until)
            if nxt > t:
                candidates["greedy"] = nxt
        if out_rate > 0.0:
            candidates["empty"] = t + volume / out_rate
            if low is not None and volume > low:
                candidates["low"] = t + (volume - low) / out_rate
            to_next = line.volume_to_next_mix(mix)
            if to_next < math.inf:
                candidates["tip"] = t + to_next / out_rate
        if est_rate > 0.0:
            candidates["estimate empty"] = t + estimate / est_rate
            if low is not None and pump_armed and estimate > low:
                candidates["estimate low"] = t + (estimate - low) / est_rate
        t_next = max(min(candidates.values()), t)
        hit = {k for k, x in candidates.items() if x == t_next}

        # advance: flows are constant until t_next
        dt = t_next - t
        if out_rate > 0.0:
            if "empty" in hit:
                amount = volume
            elif "low" in hit:
                amount = volume - low
            elif "tip" in hit:
                amount = line.volume_to_next_mix(mix)
            else:
                amount = min(out_rate * dt, volume)
            line.push(amount, mix, dose)
            pushed += amount
            volume = 0.0 if ("empty" in hit or amount >= volume) else (low if "low" in hit else volume - amount)
        if est_rate > 0.0:
            if "estimate empty" in hit:
                estimate = 0.0
            elif "estimate low" in hit:
                estimate = low
            else:
                estimate = max(estimate - est_rate * dt, 0.0)
        t = t_next
        if program is not None and t >= next_step:
            step, next_step = _step_at(program.steps, table.clock0, t)

    events.append((H, EV_END, 0.0))
    return SimResult(
        drugs=drugs, t=np.array(rows_t), dose=np.array(rows_dose).reshape(len(rows_t), len(drugs)),
        volume_true=np.array(rows_v), volume_estimate=np.array(rows_e),
        low_alarm_at=first["low"], empty_at=first["empty"], pump_alarm_at=first["pump"],
        filled=filled, aspirated=aspirated, delivered_volume=pushed, remaining=volume,
        event_t=np.array([e[0] for e in events]), event_code=np.array([e[1] for e in events], dtype=np.int64),
        event_value=np.array([e[2] for e in events]))


def max_24h(result: SimResult, horizon: float) -> dict[str, tuple[float, float]]:
    """Each drug's largest dose in a window [s, s + 24 h) and the earliest s reaching it.

    The dose in [s, s + W) (W = 24 h = 86,400 s) is G(s) = F⁻(s + W) - F⁻(s) (left limits: a bolus
    at s + W is not in the window, one at s is). Between the candidates {p, p - W : p a
    breakpoint} G is linear, so its supremum is G or its right limit at a candidate; each
    candidate window keeps its breakpoint as an exact end ([p, p + W) or [p - W, p)). Candidates
    within 1e-9 relative of the maximum count as reaching it.

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
    t = list(map(float, result.t))

    def value(col: list[float], x: float, left: bool) -> float:
        """The cumulative dose at ``x``, its left limit F⁻(x) or its right limit F⁺(x).

        Parameters
        ----------
        col : list of float
            One drug's cumulative dose at each breakpoint [dose unit].
        x : float
            The instant [s since the table's first session].
        left : bool
            True: the left limit (delivered strictly before x); False: the right limit.

        Returns
        -------
        float
            The cumulative dose [dose unit]: 0 before the first breakpoint, the last value after
            the last, linear in between.
        """
        if x < t[0] or (left and x == t[0]):
            return 0.0
        if x > t[-1] or (not left and x == t[-1]):
            return col[-1]
        lo, hi = bisect.bisect_left(t, x), bisect.bisect_right(t, x)
        if hi > lo:  # breakpoints at x: the first is the state before any jump, the last after
            return col[lo] if left else col[hi - 1]
        i = lo - 1
        return col[i] + (col[i + 1] - col[i]) * (x - t[i]) / (t[i + 1] - t[i])

    out = {}
    # windows [p, p + W) and [p - W, p): the breakpoint itself is one end, never p - W + W
    windows = sorted({(p, p + WINDOW) for p in t} | {(p - WINDOW, p) for p in t})
    for j, d in enumerate(result.drugs):
        col = [float(x) for x in result.dose[:, j]]
        vals = [(max(value(col, b, True) - value(col, a, True), value(col, b, False) - value(col, a, False)), a)
                for a, b in windows]
        best = max(v for v, _ in vals)
        start = min(a for v, a in vals if v >= best - PLATEAU_RTOL * abs(best))
        out[d] = (best, min(max(start, 0.0), horizon))
    return out
