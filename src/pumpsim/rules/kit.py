"""The rule kit: the one finding type, the catalogue, and the registry every rule family uses.

A rule is data (an entry of the catalogue: identifier, family, severity, what it reads, what it
checks, its source) plus one small pure function registered under its identifier. A finding is
a :class:`Violation` (a rule broken, with its value, limit, unit, source and verified flag) or a
:class:`Skipped` (a check that could not be made, and how to enable it).
"""
from __future__ import annotations

import datetime as dt
import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from pumpsim.io.library import drug_library
from pumpsim.model.table import Sourced, Table


# --------------------------------------------------------------------------- findings
@dataclass(frozen=True)
class Violation:
    """One rule broken, as FORMAT.md §3 reports it.

    A violation judged on a table's time base keeps its instant as a number, ``t`` [s since the
    table's first session], with ``origin`` (the first session's date-time); :attr:`at` renders it
    as an ISO date-time string only when a report asks. Violations judged on calendar dates (care
    pathway, ketamine programs, telemetry records) carry the rendered text in ``at_text``.
    """

    rule: str
    severity: str  # "hard" | "soft"
    at_text: str | None
    drug: str | None
    value: float | None
    limit: float | None
    unit: str
    message: str
    source: str
    verified: bool
    session: int | None = None  # 1-based session index, for grouping in text reports
    t: float | None = None  # [s since the first session]; None when judged on calendar dates
    origin: dt.datetime | None = field(default=None, compare=False, repr=False)  # the first session's date-time

    @property
    def when(self) -> dt.datetime | None:
        """The instant as a date-time (rounded to the second), or None."""
        if self.t is not None and self.origin is not None:
            return self.origin + dt.timedelta(seconds=round(self.t))
        if self.at_text is None:
            return None
        return dt.datetime.fromisoformat(self.at_text)

    @property
    def at(self) -> str | None:
        """The instant as FORMAT.md §3 prints it (ISO date-time, or the date for calendar rules)."""
        if self.t is not None and self.origin is not None:
            return self.when.isoformat(timespec="seconds")
        return self.at_text

    def as_json(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "at": self.at, "drug": self.drug,
                "value": self.value, "limit": self.limit, "unit": self.unit, "message": self.message,
                "source": self.source, "verified": self.verified}


@dataclass(frozen=True)
class Skipped:
    """A check that could not be made (no number is known), and how to enable it."""

    rule: str
    reason: str


Finding = Violation | Skipped


class Judged:
    """The verdict and exit status of every report that lists ``violations`` (FORMAT.md §2-§3):
    fail if any hard violation, warn if only soft ones, else pass; exit 1 on fail, else 0."""

    violations: list[Violation]

    @property
    def verdict(self) -> str:
        if any(v.severity == "hard" for v in self.violations):
            return "fail"
        return "warn" if self.violations else "pass"

    @property
    def exit_status(self) -> int:
        return 1 if self.verdict == "fail" else 0


@dataclass(frozen=True)
class RuleInfo:
    id: str
    severity: str
    needs: str
    checks: str
    basis: str


@functools.cache
@functools.cache
def catalogue() -> dict[str, RuleInfo]:
    """The rule catalogue in docs/RULES.md order: ``data/rules.toml``, then the care pathway's
    PATH rules of ``data/pathway.toml`` (their basis: the regional reference and its section)."""
    raw = tomllib.loads(resources.files("pumpsim.data").joinpath("rules.toml").read_text(encoding="utf-8"))
    out = {r["id"]: RuleInfo(r["id"], r["severity"], r["needs"], r["checks"], r["basis"]) for r in raw["rule"]}
    path = tomllib.loads(resources.files("pumpsim.data").joinpath("pathway.toml").read_text(encoding="utf-8"))
    for r in path["rule"]:
        if r["id"] not in out:
            out[r["id"]] = RuleInfo(r["id"], r["severity"], "patient file", r["checks"], f"{path['source']}, {r['section']}")
    return out


def violation(table: Table, rule: str, severity: str, t: float | None, drug: str | None, value: float | None,
              limit: Sourced | None, unit: str, message: str, session: int | None, *,
              limit_value: float | None = None, source: str | None = None, verified: bool | None = None) -> Violation:
    """Build a violation whose limit, source and verified flag come from one Sourced value."""
    lv = limit_value if limit_value is not None else (float(limit.value) if limit is not None else None)
    return Violation(rule, severity, None, drug,
                     None if value is None else float(value), lv, unit, message,
                     source if source is not None else (limit.source if limit else ""),
                     verified if verified is not None else (limit.verified if limit else True), session,
                     t=None if t is None else float(t), origin=table.start)


# --------------------------------------------------------------------------- helpers
def dose_unit(drug: str) -> str:
    return drug_library().drugs[drug].dose_unit


