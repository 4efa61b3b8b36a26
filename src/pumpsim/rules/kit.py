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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources

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
        """The instant as a date-time (rounded to the second), or None.

        Returns
        -------
        datetime.datetime or None
            ``origin + t`` for a rule judged on the table's time base, the parsed ``at_text`` for a
            calendar rule, None for a finding with no instant.
        """
        if self.t is not None and self.origin is not None:
            return self.origin + dt.timedelta(seconds=round(self.t))
        if self.at_text is None:
            return None
        return dt.datetime.fromisoformat(self.at_text)

    @property
    def at(self) -> str | None:
        """The instant as FORMAT.md §3 prints it.

        Returns
        -------
        str or None
            An ISO date-time to the second, or the date as the calendar rules give it.
        """
        if self.t is not None and self.origin is not None:
            return self.when.isoformat(timespec="seconds")
        return self.at_text

    def as_json(self) -> dict:
        """The violation as FORMAT.md §3's JSON object (value and limit in ``unit``)."""
        return {"rule": self.rule, "severity": self.severity, "at": self.at, "drug": self.drug,
                "value": self.value, "limit": self.limit, "unit": self.unit, "message": self.message,
                "source": self.source, "verified": self.verified}


@dataclass(frozen=True)
class Skipped:
    """A check that could not be made (no number is known), and how to enable it."""

    rule: str
    reason: str


Finding = Violation | Skipped


#: Verdicts from best to worst (FORMAT.md §12.2): a report of several parts takes the worst.
VERDICT_ORDER = ("pass", "not_checked", "warn", "fail")


def worst(*verdicts: str) -> str:
    """The worst of several verdicts (fail > warn > not_checked > pass).

    Parameters
    ----------
    *verdicts : str
        Verdicts of :data:`VERDICT_ORDER`.

    Returns
    -------
    str
        The worst; "pass" when none is given.
    """
    return max(verdicts, key=VERDICT_ORDER.index, default="pass")


def verdict_of(findings: Iterable, nothing_checked: bool = False) -> str:
    """The verdict of a list of violations (anything with a ``severity``): "fail" if any is hard,
    "warn" if any, else "not_checked" when nothing could be checked, else "pass" (FORMAT.md §2, §12.2).

    Parameters
    ----------
    findings : iterable
        Violations (each with ``severity`` "hard" or "soft").
    nothing_checked : bool, optional
        No rule could be judged.

    Returns
    -------
    str
        The verdict.
    """
    severities = [f.severity for f in findings]
    if "hard" in severities:
        return "fail"
    if severities:
        return "warn"
    return "not_checked" if nothing_checked else "pass"


class Judged:
    """The verdict and exit status of every report that lists ``violations`` (FORMAT.md §2-§3,
    §12.2): fail if any hard violation, warn if only soft ones, else pass; a report that checked
    nothing sets ``nothing_checked`` and is ``not_checked``. Exit 1 on fail, else 0."""

    violations: list[Violation]
    nothing_checked: bool = False

    @property
    def verdict(self) -> str:
        """"fail", "warn", "not_checked" or "pass" (FORMAT.md §12.2)."""
        return verdict_of(self.violations, self.nothing_checked)

    @property
    def exit_status(self) -> int:
        """1 when the verdict is "fail", else 0 (FORMAT.md §2)."""
        return 1 if self.verdict == "fail" else 0


# --------------------------------------------------------------------------- the catalogue
#: The rule families, each judged on its own input (what its rules' functions take).
FAMILIES: dict[str, str] = {
    "static": "the programming table, the profile and the device (no simulation)",
    "simulated": "the table's exact nominal, worst and programmed simulations",
    "telemetry": "a pump's telemetry records against its table",
    "pathway": "a patient file (and optionally the table) against the care pathway",
    "program": "a ketamine or esketamine session program (and ketamine in tables)",
}


@dataclass(frozen=True)
class RuleInfo:
    """A rule as data: identifier, family, severity, what it reads, what it checks, its source."""

    id: str
    family: str  # a key of FAMILIES; a rule judged by two families lists both in ``families``
    severity: str  # "hard", "soft", or "hard/soft" for a rule with two tiers
    needs: str  # what the rule reads
    checks: str  # what breaks it, in words
    basis: str  # the source document(s) and section
    families: tuple[str, ...] = ()

    def as_json(self) -> dict:
        """The rule as ``pumpsim rules --format json`` lists it."""
        return {"id": self.id, "family": self.family, "families": list(self.families or (self.family,)),
                "severity": self.severity, "inputs": self.needs, "checks": self.checks, "source": self.basis}


def _data(name: str) -> dict:
    return tomllib.loads(resources.files("pumpsim.data").joinpath(name).read_text(encoding="utf-8"))


@functools.cache
def catalogue() -> dict[str, RuleInfo]:
    """Every rule of every family, in docs/RULES.md order: ``data/rules.toml``, then the care
    pathway's rules of ``data/pathway.toml`` (their basis: the regional reference and its section).
    A rule that two families judge (OPIOID-CONVERSION: a table alone, or a patient file with its
    table) is one entry with both families.

    Returns
    -------
    dict of str to RuleInfo
        Rule identifier to its entry, in catalogue order.
    """
    out: dict[str, RuleInfo] = {}
    for r in _data("rules.toml")["rule"]:
        assert r["family"] in FAMILIES, (r["id"], r["family"])
        families = (r["family"], *r.get("also", ()))  # a rule judged by two families (KET-DOSE: programs, tables)
        out[r["id"]] = RuleInfo(r["id"], r["family"], r["severity"], r["needs"], r["checks"], r["basis"], families)
    path = _data("pathway.toml")
    for r in path["rule"]:
        basis = f"{path['source']}, {r['section']}"
        if r["id"] in out:
            old = out[r["id"]]
            out[r["id"]] = RuleInfo(old.id, old.family, old.severity, old.needs, old.checks, old.basis, (*old.families, "pathway"))
        else:
            out[r["id"]] = RuleInfo(r["id"], "pathway", r["severity"], "patient file", r["checks"], basis, ("pathway",))
    return out


# --------------------------------------------------------------------------- the registry and the runner
RuleFn = Callable[..., list[Finding]]
_REGISTRY: dict[tuple[str, str], RuleFn] = {}


def rule(rule_id: str, family: str) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` as the judge of ``rule_id`` in ``family``: the one way every rule of every
    family is registered. The identifier must be in the catalogue, under that family.

    Parameters
    ----------
    rule_id : str
        The rule's stable identifier (``"ZIC-STEP"``).
    family : str
        A key of :data:`FAMILIES`.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged, with ``rule_id`` set on it.

    Raises
    ------
    KeyError
        The identifier is not in the catalogue under that family, or is registered twice.
    """
    def register(fn: RuleFn) -> RuleFn:
        """Register one rule function."""
        info = catalogue().get(rule_id)
        if info is None or family not in info.families:
            raise KeyError(f"{rule_id} is not a {family} rule of the catalogue (data/rules.toml, data/pathway.toml)")
        if (family, rule_id) in _REGISTRY and _REGISTRY[(family, rule_id)].__qualname__ != fn.__qualname__:
            raise KeyError(f"{rule_id} is registered twice in {family}")
        _REGISTRY[(family, rule_id)] = fn
        fn.rule_id = rule_id  # type: ignore[attr-defined]
        return fn
    return register


def registered(family: str) -> dict[str, RuleFn]:
    """The registered rules of a family, in catalogue order (the family's module must be imported).

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.

    Returns
    -------
    dict of str to callable
        Rule identifier to its function.
    """
    return {rid: _REGISTRY[(family, rid)] for rid in catalogue() if (family, rid) in _REGISTRY}


def run(family: str, *inputs, only: Iterable[str] | None = None) -> list[Finding]:
    """Judge ``inputs`` by every registered rule of ``family`` (or those in ``only``), in catalogue
    order: the one runner of every family. Each rule is called as ``fn(*inputs)``.

    Parameters
    ----------
    family : str
        A key of :data:`FAMILIES`.
    *inputs
        What the family's rules take (static: table, profile; simulated: table, profile, cases; ...).
    only : iterable of str, optional
        Judge only these rules.

    Returns
    -------
    list of Finding
        Every rule's findings, in catalogue order.
    """
    wanted = set(only) if only is not None else None
    out: list[Finding] = []
    for rid, fn in registered(family).items():
        if wanted is None or rid in wanted:
            out.extend(fn(*inputs))
    return out


def violation(table: Table, rule: str, severity: str, t: float | None, drug: str | None, value: float | None,
              limit: Sourced | None, unit: str, message: str, session: int | None, *,
              limit_value: float | None = None, source: str | None = None, verified: bool | None = None) -> Violation:
    """Build a violation judged on a table's time base, whose limit, source and verified flag come
    from one Sourced value.

    Parameters
    ----------
    table : Table
        The table (its first session is the origin of ``t``).
    rule, severity : str
        The rule's identifier and "hard" or "soft".
    t : float or None
        The instant [s since the first session].
    drug : str or None
        The drug concerned.
    value : float or None
        The value judged, in ``unit``.
    limit : Sourced or None
        The limit, with its source and verified flag.
    unit : str
        The unit of ``value`` and of the limit as reported.
    message : str
        The finding in words.
    session : int or None
        The 1-based session, for grouping.
    limit_value : float, optional
        The limit in ``unit`` when it differs from ``limit.value`` (a limit in s reported in h).
    source, verified : optional
        Override the limit's source and flag (a rule with no numeric limit).

    Returns
    -------
    Violation
    """
    lv = limit_value if limit_value is not None else (float(limit.value) if limit is not None else None)
    return Violation(rule, severity, None, drug,
                     None if value is None else float(value), lv, unit, message,
                     source if source is not None else (limit.source if limit else ""),
                     verified if verified is not None else (limit.verified if limit else True), session,
                     t=None if t is None else float(t), origin=table.start)



