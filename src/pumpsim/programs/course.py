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


def continuous_runs(p: ProgramFile, agent: str = "ketamine", *,
                    exclude: tuple[str, ...] = ()) -> list[list[Administration]]:
    """Chains of continuous administrations (routes in ``exclude`` left out), each starting
    before the previous one ends."""
    runs: list[list[Administration]] = []
    for a in (x for x in of(p, agent) if x.continuous and x.route not in exclude):
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


def dose_days(a: Administration, end: dt.datetime) -> set[dt.date]:
    """The calendar dates on which ``a`` gives a dose: a session's date; for continuous use every
    date from its start to its (effective) ``end``, an end at midnight excluded."""
    if not a.continuous:
        return {a.at.date()}
    last = (end - dt.timedelta(microseconds=1)).date() if end > a.at else a.at.date()
    return {plus_days(a.at.date(), k) for k in range(days_between(a.at, last) + 1)}


def oral_courses(p: ProgramFile, c: KetamineConfig) -> list[list[Administration]]:
    """The oral or sublingual ketamine courses: within each ketamine course, its administrations
    by those routes (sessions or daily doses), when they give doses on ``oral_course_min_days``
    calendar days or more (a single oral dose is not a course)."""
    routes = c.lists["oral_routes"].value
    need = int(c.values["oral_course_min_days"].value)
    ends = effective_ends(p, "ketamine")
    out = []
    for course in courses(p, c, "ketamine"):
        oral = [a for a in course if a.route in routes]
        if oral and len(set().union(*(dose_days(a, ends[a.index]) for a in oral))) >= need:
            out.append(oral)
    return out


def last_dose_day(admins: list[Administration], ends: dict[int, dt.datetime]) -> dt.date:
    """The last calendar date on which one of ``admins`` gives a dose."""
    return max(set().union(*(dose_days(a, ends[a.index]) for a in admins)))


def plus_months(d: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months later (the month's last day when it is shorter)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable")
