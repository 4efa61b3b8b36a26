"""The calendar of a program: courses, continuous infusions, day k, and the units of a report.

Calendar conventions (docs/PROGRAMS.md §2): day k of an infusion or a course is the calendar
date of its first ``at`` plus k days (the start is day 0); "between day 5 and day 7" includes
both days. A course is the administrations of one drug with no gap longer than ``course_gap``
between the end of one and the start of the next. A continuous administration that starts
before the previous continuous one of the same drug ends replaces it from its ``at`` (a dose
change); such a chain is one infusion, judged from its first ``at``.

Every day count goes through :mod:`pumpsim.model.timebase` (its ``DAY`` in seconds and
:func:`~pumpsim.model.timebase.days_between`); administrations keep their durations in days.
"""
from __future__ import annotations

import datetime as dt

from pumpsim.io.ketamine import KetamineConfig
from pumpsim.io.programs import Administration, ProgramFile
from pumpsim.model.timebase import DAY, HOUR, MINUTE, days_between
from pumpsim.model.tolerances import above

MIN_PER_DAY = DAY / MINUTE  # [min/day]
HOURS_PER_DAY = DAY / HOUR  # [h/day]


def plus_days(d: dt.date, k: int) -> dt.date:
    """The calendar date ``k`` days after ``d`` (day k of a course starting on ``d``)."""
    return d + dt.timedelta(seconds=k * DAY)


def midnight(d: dt.date) -> dt.datetime:
    """The first instant of the calendar date ``d``."""
    return dt.datetime.combine(d, dt.time())


def span_days(a: dt.datetime, b: dt.datetime) -> float:
    """The time from ``a`` to ``b`` [day] (fractional)."""
    return (b - a).total_seconds() / DAY


def day_of(d: dt.date | dt.datetime, day0: dt.date) -> int:
    """The course day of ``d`` (day 0 is ``day0``)."""
    return days_between(day0, d)


def iso(t: dt.datetime | dt.date | None) -> str | None:
    if t is None:
        return None
    return t.isoformat(timespec="seconds") if isinstance(t, dt.datetime) else t.isoformat()


def to_minutes(days: float) -> float:
    """Days as minutes for a report, rounded to a microminute (60 min is 60, not 60.00000000000001)."""
    return round(days * MIN_PER_DAY, 6)


def clock(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def of(p: ProgramFile, agent: str) -> list[Administration]:
    """The administrations giving ``agent`` (ketamine or esketamine), in time order."""
    return [a for a in p.administrations if a.agent == agent]


def effective_ends(p: ProgramFile, agent: str = "ketamine") -> dict[int, dt.datetime]:
    """End of each administration, a continuous one cut where the next continuous one of the
    same drug replaces it (a dose change)."""
    out: dict[int, dt.datetime] = {}
    cont = [a for a in of(p, agent) if a.continuous]
    for a in of(p, agent):
        out[a.index] = a.end
    for a, b in zip(cont, cont[1:]):
        if b.at <= a.end:
            out[a.index] = b.at
    return out


def continuous_runs(p: ProgramFile, agent: str = "ketamine") -> list[list[Administration]]:
    """Chains of continuous administrations, each starting before the previous one ends."""
    runs: list[list[Administration]] = []
    for a in (x for x in of(p, agent) if x.continuous):
        if runs and a.at <= runs[-1][-1].end:
            runs[-1].append(a)
        else:
            runs.append([a])
    return runs


def courses(p: ProgramFile, c: KetamineConfig, agent: str) -> list[list[Administration]]:
    """Administrations of one drug, split where the gap from one's end to the next's start is
    longer than ``course_gap``."""
    gap = float(c.values["course_gap"].value)
    ends = effective_ends(p, agent)
    out: list[list[Administration]] = []
    for a in of(p, agent):
        if out and not above(span_days(max(ends[x.index] for x in out[-1]), a.at), gap):
            out[-1].append(a)
        else:
            out.append([a])
    return out


def course_end(course: list[Administration], ends: dict[int, dt.datetime]) -> dt.datetime:
    return max(ends[a.index] for a in course)
