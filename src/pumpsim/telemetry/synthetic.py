"""Simulated telemetry records (``pumpsim telemetry TABLE --records``): what a pump would report.

One run of the table through the public :func:`pumpsim.sim.engine.simulate` interface, with the
table's ``[variability]`` drawn once by the kernels' draw routine (run 0 of the stream of
``--seed``, :func:`pumpsim.sim.draws.telemetry_conditions`) and faults injected (``--fault SPEC``):

=========================================  =====================================================
SPEC                                        effect
=========================================  =====================================================
``over:FACTOR@WHEN[/DURATION]``             true delivery x FACTOR (> 1) from WHEN (to the end)
``under:FACTOR@WHEN[/DURATION]``            true delivery x FACTOR (< 1)
``stall@WHEN/DURATION``                     delivery stops (motor stall); an ``alarm`` row motor-stall
``mri@WHEN/DURATION``                       an MRI at WHEN stalls the motor for DURATION (``mri`` row)
``occlusion@WHEN[/DURATION]``               catheter occluded: nothing leaves the reservoir, no alarm
``pocket:VOLUME@WHEN``                      VOLUME of the refill nearest WHEN never reaches the reservoir
``program:FACTOR@WHEN``                     from the first session at or after WHEN the pump holds
                                            every programmed rate x FACTOR (another program)
=========================================  =====================================================

WHEN is a local date (``2027-01-10``, midnight) or date-time (``2027-01-10T14:00``); DURATION
and VOLUME carry their unit (``36h``, ``2 day``, ``2 mL``). Rate faults are scenario modifiers
(``Scenario.modifiers``, multiplied where they overlap); a pocket fill and another program
transform the table before the simulation (:func:`dataclasses.replace`) while the records keep
the table's nominal values: the pump's displayed estimate is that of the volume entered in it.

Per-refill pump accuracy (``[variability].pump_accuracy`` with ``per = "refill"``) is one
factor drawn at each refill and in force until the next (``Scenario.session_factors``): it
scales the basal flow and every bolus alike, as the run's single factor does otherwise
(docs/TELEMETRY.md §2).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

import numpy as np

from pumpsim.io.records import Record
from pumpsim.io.tables import resolve_programs
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem
from pumpsim.model.results import Scenario, SimResult
from pumpsim.model.table import Step, Table
from pumpsim.model.timebase import DAY
from pumpsim.sim import draws, engine
from pumpsim.sim.events import EV_BOLUS_GRANTED, EV_LOW_ALARM, EV_SESSION
from pumpsim.telemetry.eventlog import volumes_after
from pumpsim.telemetry.evidence import duration, instant, moment, span, thresholds

KINDS = ("over", "under", "stall", "mri", "occlusion", "pocket", "program")
_SPEC = re.compile(r"^(?P<kind>[a-z]+)(?::(?P<value>[^@]+))?@(?P<when>[^/]+)(?:/(?P<dur>.+))?$")


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    when: dt.datetime
    value: float | None = None  # factor [-] or volume [mL]
    length: dt.timedelta | None = None  # None: to the end of the horizon
    text: str = ""


def parse_faults(specs: Sequence[str], table: Table) -> list[Fault]:
    """Parse every ``--fault`` SPEC; :class:`InputError` naming each bad one."""
    problems: list[Problem] = []
    out: list[Fault] = []
    for n, spec in enumerate(specs, 1):
        where = f"--fault[{n}]"

        def bad(msg: str, fix: str, where: str = where, spec: str = spec) -> None:
            problems.append(Problem("command line", where, f"{spec!r}: {msg}", fix))

        m = _SPEC.match(spec.strip())
        if not m:
            bad("not a fault", "write KIND[:VALUE]@WHEN[/DURATION], e.g. over:1.3@2027-01-10 or stall@2027-01-10T14:00/36h")
            continue
        kind, value, when_s, dur_s = m["kind"], m["value"], m["when"], m["dur"]
        if kind not in KINDS:
            from pumpsim.model.errors import nearest

            bad(f"unknown fault {kind!r}", nearest(kind, KINDS))
            continue
        try:
            when = dt.datetime.fromisoformat(when_s.strip())
        except ValueError:
            bad(f"{when_s!r} is not a date or date-time", "write e.g. 2027-01-10 or 2027-01-10T14:00")
            continue
        if when.tzinfo is not None:
            bad("a date-time with a UTC offset", "write a local date-time, as in the table")
            continue
        length = None
        if dur_s is not None:
            try:
                length = duration(units.parse_duration(dur_s.strip()))
            except units.QuantityError as e:
                bad(f"duration: {e.message}", e.fix or "write e.g. 36h or 2 day")
                continue
        x = None
        needs_value = kind in ("over", "under", "pocket", "program")
        if needs_value and value is None:
            bad(f"{kind} needs a value", {"over": "e.g. over:1.3@2027-01-10", "under": "e.g. under:0.8@2027-01-10",
                                          "pocket": "e.g. pocket:2mL@2027-02-02", "program": "e.g. program:1.25@2027-01-05"}[kind])
            continue
        if not needs_value and value is not None:
            bad(f"{kind} takes no value", f"e.g. {kind}@2027-01-10T14:00/36h")
            continue
        if kind == "pocket":
            try:
                x = units.parse_quantity(value.strip(), units.VOLUME)
            except units.QuantityError as e:
                bad(f"volume: {e.message}", e.fix or "write e.g. pocket:2mL@2027-02-02")
                continue
        elif value is not None:
            try:
                x = float(value)
            except ValueError:
                bad(f"{value!r} is not a factor", "write a plain number, e.g. 1.3")
                continue
            ok = {"over": x > 1.0, "under": 0.0 <= x < 1.0, "program": x > 0.0}[kind]
            if not ok:
                bad(f"factor {x:g} out of range for {kind}",
                    {"over": "give a factor above 1", "under": "give a factor from 0 up to 1",
                     "program": "give a factor above 0 (1 is the table's program)"}[kind])
                continue
        if kind in ("stall", "mri") and length is None:
            bad(f"{kind} needs a duration", f"e.g. {kind}@2027-01-10T14:00/36h")
            continue
        if kind in ("pocket", "program") and length is not None:
            bad(f"{kind} takes no duration", f"e.g. {kind}:{value}@{when_s}")
            continue
        if not table.start <= when < moment(table, table.horizon):
            bad(f"{when.isoformat()} is outside the simulated span "
                f"({table.start.isoformat()} to {moment(table, table.horizon).isoformat()})", "give a date within the horizon")
            continue
        out.append(Fault(kind, when, x, length, spec))
    if problems:
        raise InputError(problems)
    return out


# --------------------------------------------------------------------------- the run
def _merge(rows: list[tuple[float, float, float]]) -> np.ndarray | None:
    """Non-overlapping (start, end, factor) rows: the product of the factors on each piece."""
    if not rows:
        return None
    cuts = sorted({x for a, b, _ in rows for x in (a, b)})
    out: list[list[float]] = []
    for a, b in zip(cuts, cuts[1:]):
        f = 1.0
        for s, e, g in rows:
            if s <= a and b <= e:
                f *= g
        if f == 1.0:
            continue
        if out and out[-1][1] == a and out[-1][2] == f:
            out[-1][1] = b
        else:
            out.append([a, b, f])
    return np.array(out, dtype=np.float64) if out else None


def _nearest_refill(table: Table, when: dt.datetime, spec: str) -> int:
    refills = [i for i, s in enumerate(table.sessions) if s.refill is not None]
    best = min(refills, key=lambda i: abs(table.sessions[i].at - when))
    if span(abs(table.sessions[best].at - when)) > thresholds().match_window:
        raise InputError([Problem("command line", "--fault", f"{spec!r}: no refill of the table within "
                                  f"{thresholds().match_window / DAY:g} days of {when.isoformat()}",
                                  "give the date of a refill session")])
    return best


def transform(table: Table, faults: list[Fault]) -> tuple[Table, dict[int, float]]:
    """The table the pump really runs: pocket fills shorten a refill, another program scales rates.

    Returns the table and the volume [mL] missing from each affected refill (0-based session).
    """
    sessions = list(table.sessions)
    pocket: dict[int, float] = {}
    for f in faults:
        if f.kind == "pocket":
            i = _nearest_refill(table, f.when, f.text)
            r = sessions[i].refill
            lost = min(float(f.value), r.volume)
            pocket[i] = pocket.get(i, 0.0) + lost
            sessions[i] = dataclasses.replace(sessions[i], refill=dataclasses.replace(r, volume=max(r.volume - lost, 0.0)))
        elif f.kind == "program":
            first = next((i for i, s in enumerate(sessions) if s.at >= f.when), None)
            if first is None:
                continue
            for i in range(first, len(sessions)):
                steps = sessions[i].steps
                if steps is None and i == first:
                    steps = table.programs[i].steps
                if steps is not None:
                    sessions[i] = dataclasses.replace(
                        sessions[i], steps=tuple(Step(st.start, st.rate * float(f.value)) for st in steps))
    if not pocket and not any(f.kind == "program" for f in faults):
        return table, pocket
    return dataclasses.replace(table, sessions=tuple(sessions), programs=resolve_programs(sessions)), pocket


def scenario(table: Table, faults: list[Fault], seed: int) -> tuple[Scenario, list[dt.datetime]]:
    """The run's scenario (draws of [variability] by the kernels' routine, faults as modifiers) and the
    sessions' effective times."""
    drawn = draws.telemetry_conditions(table, seed)
    end = table.horizon
    delays = drawn.session_delays
    effective = [s.at if delays is None else moment(table, s.t + float(delays[i])) for i, s in enumerate(table.sessions)]
    mods: list[tuple[float, float, float]] = []
    for f in faults:
        if f.kind in ("pocket", "program"):
            continue
        a = instant(table, f.when)
        b = end if f.length is None else min(instant(table, f.when + f.length), end)
        g = {"over": f.value, "under": f.value}.get(f.kind, 0.0)
        mods.append((a, b, float(g)))
    return dataclasses.replace(drawn, modifiers=_merge(mods)), effective


def _before(r: SimResult, t: float) -> tuple[float, float]:
    """(estimate, true) reservoir volume just before the events at ``t`` [mL]."""
    i = int(np.searchsorted(r.t, t, side="left"))
    if i < len(r.t) and r.t[i] == t:
        return float(r.volume_estimate[i]), float(r.volume_true[i])
    return volumes_after(r, t)


def records(table: Table, faults: list[Fault], seed: int = 0) -> list[Record]:
    """The records a pump running ``table`` with ``faults`` would produce (one seeded run).

    True volumes (aspirates), grants and alarms come from the run of the table the pump really
    runs. After a pocket fill the pump's displayed estimate still starts from the volume entered
    in it: it is read from a second run of the table as entered (another program kept), exact
    pump, the same stalls and exactly the grants of the first run.
    """
    real, _ = transform(table, faults)
    sc, _ = scenario(table, faults, seed)
    r = engine.simulate(real, sc)
    grants = r.event_t[r.event_code == EV_BOLUS_GRANTED]
    shown = r
    if any(f.kind == "pocket" for f in faults):
        entered, _ = transform(table, [f for f in faults if f.kind == "program"])
        stalls = None if sc.modifiers is None else sc.modifiers[sc.modifiers[:, 2] == 0.0]
        shown = engine.simulate(entered, Scenario(1.0, "requests" if len(grants) else "none", grants.copy(),
                                                  sc.session_delays, stalls if stalls is not None and len(stalls) else None))
    out: list[tuple[dt.datetime, int, Record]] = []
    prev: float | None = None

    def count(t: float) -> int:
        """Grants in (previous row, t]; for the first row, from the first refill."""
        return int(np.sum(grants <= t)) if prev is None else int(np.sum((grants > prev) & (grants <= t)))

    for t, code, value in zip(r.event_t, r.event_code, r.event_value):
        if int(code) != EV_SESSION:
            continue
        t = float(t)
        i = int(value) - 1
        when = moment(table, t)
        if table.sessions[i].refill is not None and i > 0:
            est, _ = _before(shown, t)
            _, true = _before(r, t)
            out.append((when, 0, Record(0, when, "interrogation", None, est, count(t))))
            prev = t
            out.append((when, 1, Record(0, when, "refill", max(true, 0.0), None, 0)))
        else:
            est, _ = volumes_after(shown, t)
            out.append((when, 0, Record(0, when, "interrogation", None, est, count(t))))
        prev = t
    for t in r.event_t[r.event_code == EV_LOW_ALARM]:
        when = moment(table, float(t))
        out.append((when, 2, Record(0, when, "alarm", note="low-reservoir")))
    for f in faults:
        if f.kind == "stall":
            out.append((f.when, 2, Record(0, f.when, "alarm", note="motor-stall")))
        elif f.kind == "mri":
            out.append((f.when, 2, Record(0, f.when, "mri", note=f"motor stalled {f.length}")))
    out.sort(key=lambda x: (x[0], x[1]))
    return [dataclasses.replace(rec, line=k + 2) for k, (_, _, rec) in enumerate(out)]
