"""What the pathway rules read (:class:`Context`: the patient file, the profile, optionally a
table and its programmed case) and the small helpers they share: counting days, reading a
threshold of the profile's ``[pathway]`` section, building a finding.

Counting days (FORMAT.md §7): a day is a calendar day; intervals are counted date to date
(2027-01-05 to 2027-01-12 is 7 days) by :func:`pumpsim.model.timebase.days_between`, the one place
that counts calendar days. A limit written in hours in the profile ("48 h") is compared exactly
when both instants are date-times, else in calendar days (48 h: at least two calendar days).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from pumpsim.io.patient import Day, PatientFile, Treatment
from pumpsim.model.table import Profile, Sourced, Table
from pumpsim.model.timebase import days_between as calendar_days
from pumpsim.rules import kit
from pumpsim.rules.kit import Finding, Skipped, Violation

HOURS_RE = re.compile(r"^\s*[0-9._eE+-]+\s*(h|min)\s*$")


# --------------------------------------------------------------------------- the inputs
def programmed_case(table: Table, programmed=None):
    """The table's programmed case (exact pump, every bolus the policy allows as early as it
    allows: FORMAT.md §3): the one place that asks the simulator, unless ``programmed`` (the
    programmed case :func:`pumpsim.rules.validate.validate` computed) is given."""
    from pumpsim.model.results import Scenario
    from pumpsim.sim import simulation

    return programmed if programmed is not None else simulation.simulate(table, Scenario.programmed())


@dataclass(frozen=True)
class MorphineDay:
    """The programmed case's largest intrathecal morphine dose in a 24 h window starting within the
    first 24 h of the first session holding morphine (FORMAT.md §12.7), split into the programmed
    basal daily dose and what the allowed boluses add [mg]."""

    session: int  # 1-based index of the first session holding morphine
    at: dt.datetime  # its instant
    total: float  # [mg in 24 h]
    basal: float  # [mg/day]

    @property
    def boluses(self) -> float:
        return max(self.total - self.basal, 0.0)


@dataclass(frozen=True)
class Context:
    """What the rules read: the patient file, the profile, and optionally a table with its
    programmed case's low-alarm and empty instants, the worst case's empty instant (None: never
    within the horizon, or no low-alarm volume), the horizon's end and the first day of morphine."""

    patient: PatientFile
    profile: Profile
    table: Table | None = None
    low_alarm_at: dt.datetime | None = None
    empty_at: dt.datetime | None = None
    worst_empty_at: dt.datetime | None = None
    horizon_end: dt.datetime | None = None
    morphine: MorphineDay | None = None


def first_morphine_day(table: Table, programmed) -> MorphineDay | None:
    """The programmed case's largest morphine dose in a window [s, s + 24 h), s in [t0, t0 + 24 h),
    t0 the first session holding morphine (None: no morphine in the table)."""
    import numpy as np

    from pumpsim.sim.window import WINDOW, rolling_24h

    first = next((pr for pr in table.programs if "morphine" in dict(pr.mix)), None)
    if first is None or "morphine" not in programmed.drugs:
        return None
    t0 = float(first.session.t)
    starts, dose = rolling_24h(programmed, programmed.drugs.index("morphine"), float(table.horizon))
    inside = (starts >= t0) & (starts < t0 + WINDOW)
    total = float(dose[inside].max()) if np.any(inside) else float(dose[np.argmin(np.abs(starts - t0))])
    return MorphineDay(first.session.index, first.session.at, total, first.daily_dose("morphine"))


def context(patient: PatientFile, profile: Profile, table: Table | None = None, programmed=None,
            worst=None) -> Context:
    """The rules' input; with a table, its programmed and worst cases are simulated once (or the
    cases ``programmed`` and ``worst`` that :func:`pumpsim.rules.validate.validate` computed reused)."""
    if table is None:
        return Context(patient, profile)
    from pumpsim.model.results import Scenario
    from pumpsim.sim import simulation

    prog = programmed_case(table, programmed)
    if worst is None:
        worst = simulation.simulate(table, Scenario.worst(float(table.device.accuracy.value)))

    def at(t: float | None) -> dt.datetime | None:
        return None if t is None else table.datetime_at(t)
    return Context(patient, profile, table, at(prog.low_alarm_at), at(prog.empty_at), at(worst.empty_at),
                   table.datetime_at(table.horizon), first_morphine_day(table, prog))


# --------------------------------------------------------------------------- numbers and words
def iso(d: Day | None) -> str | None:
    """A date as written in reports (ISO date, or date-time to the second)."""
    if d is None:
        return None
    return d.isoformat(timespec="seconds") if isinstance(d, dt.datetime) else d.isoformat()


def days_between(a: Day, b: Day, limit: Sourced | None = None) -> float:
    """Days from ``a`` to ``b`` [day] (negative if ``b`` is earlier): calendar dates, date to date;
    exact when ``limit`` is written in hours or minutes and both are date-times."""
    if limit is not None and isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and HOURS_RE.match(limit.text):
        return (b - a).total_seconds() / 86400.0
    return float(calendar_days(a, b))


def below(value: float, limit: float) -> bool:
    """Strictly below ``limit``, beyond the relative tolerance of FORMAT.md §4."""
    return value < limit - 1e-9 * abs(limit)


def num(x: float) -> str:
    """A number as reports print it (6 significant digits)."""
    return f"{x:.6g}"


def days_text(x: float) -> str:
    """A count of days in words: "1 day", "2 days"."""
    return f"{num(x)} day" + ("" if abs(x) == 1 else "s")


def before_text(d: float, anchor: str) -> str:
    """``d`` days before ``anchor`` in words: "3 days before surgery", "on the day of surgery",
    "2 days after surgery" (never "-2 days before")."""
    if d == 0:
        return f"on the day of {anchor}"
    return f"{days_text(abs(d))} {'before' if d > 0 else 'after'} {anchor}"


def last_text(t: Treatment) -> str:
    return "still taken (no last_dose)" if t.last_dose is None else f"last taken {iso(t.last_dose)}"


# --------------------------------------------------------------------------- thresholds and findings
def threshold(ctx: Context, key: str) -> Sourced | None:
    """The profile's ``[pathway]`` threshold ``key``, or None."""
    return None if ctx.profile.pathway is None else ctx.profile.pathway.get(key)


class MissingThreshold(Exception):
    """A threshold the profile does not give: the rule becomes a check not made."""


def need(ctx: Context, *keys: str) -> list[Sourced]:
    """The thresholds ``keys`` of the profile; raises :class:`MissingThreshold` for the first absent."""
    out = []
    for k in keys:
        s = threshold(ctx, k)
        if s is None:
            raise MissingThreshold(k)
        out.append(s)
    return out


@functools.cache
def _section_source(rule: str) -> tuple[str, str]:
    info = kit.catalogue()[rule]
    return info.severity, info.basis


def finding(rule: str, at: Day | None, value: float | None, limit: Sourced | None, unit: str, reasons: list[str],
            drug: str | None = None, limit_value: float | None = None, severity: str | None = None) -> Violation:
    """The violation of a pathway rule: its limit, source and verified flag from ``limit`` (the
    rule's section of the reference when there is no numeric threshold)."""
    sev, basis = _section_source(rule)
    numeric = limit is not None and isinstance(limit.value, (int, float))
    lv = limit_value if limit_value is not None else (float(limit.value) if numeric else None)
    return Violation(rule, severity or sev, iso(at), drug, None if value is None else float(value), lv, unit,
                     "; ".join(reasons), limit.source if limit is not None else basis,
                     limit.verified if limit is not None else True)


def result(rule: str, fired: Violation | None, missing: list[str]) -> list[Finding]:
    """A violation when the rule fired; else the parts that could not be judged, if any."""
    if fired is not None:
        return [fired]
    if missing:
        return [Skipped(rule, "; ".join(missing))]
    return []


RuleFn = Callable[[Context], list[Finding]]


def pathway_rule(fn: RuleFn) -> RuleFn:
    """Wrap a PATH rule: under a profile with no ``[pathway]`` section, or one lacking a threshold
    the rule needs, the rule is a check not made (never a pass). Apply under ``kit.rule``."""
    @functools.wraps(fn)
    def judged(ctx: Context) -> list[Finding]:
        rid = judged.rule_id  # type: ignore[attr-defined]
        if ctx.profile.pathway is None:
            return [Skipped(rid, f"profile {ctx.profile.name} has no [pathway] section: use fr-ait-2020, or a "
                                 "profile with base = \"fr-ait-2020\" or its own [pathway] thresholds")]
        try:
            return fn(ctx)
        except MissingThreshold as e:
            return [Skipped(rid, f"profile {ctx.profile.name} gives no pathway.{e.args[0]}")]
    return judged
