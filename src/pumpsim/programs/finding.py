"""The findings of the program rules: the kit's :class:`Violation` and :class:`Skipped`, and
:class:`Note` (advice that is no violation), with :func:`violation`, which builds a violation
dated by an administration on the calendar (``at`` an ISO date-time) with the rule's severity
from the catalogue and the limit's source and verified flag."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pumpsim.io.programs import Administration
from pumpsim.model.table import Sourced
from pumpsim.programs.course import iso
from pumpsim.rules.kit import Skipped, Violation, catalogue


@dataclass(frozen=True)
class Note:
    """Advice shown in the report that is not a violation (e.g. a urine cytology is advised)."""

    rule: str
    at: str | None
    message: str


Finding = Violation | Skipped | Note


def violation(rule: str, a: Administration | None, drug: str | None, value: float | str | None,
            limit: float | str | None, unit: str | None, message: str, src: Sourced | None, *,
            at: dt.datetime | None = None, source: str | None = None, verified: bool | None = None) -> Violation:
    when = at if at is not None else (a.at if a is not None else None)
    return Violation(rule, catalogue()[rule].severity, iso(when), drug, value, limit, unit, message,
                     source if source is not None else (src.source if src else ""),
                     verified if verified is not None else (src.verified if src else True),
                     a.index if a is not None else None)
