"""Reports of a validation: the JSON of FORMAT.md §3 and a text report for people.

Nothing here computes a dose or judges a rule: it arranges what :mod:`pumpsim.rules.validate`
found. The text report says the verdict first, then the violations grouped by session with
value, limit and source (unverified limits flagged), the checks that could not be made, and
the sources used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pumpsim._version import __version__
from pumpsim.model.table import Profile, Sourced, Table
from pumpsim.model.timebase import DAY
from pumpsim.rules.kit import Judged, Skipped, Violation

REPORT_SCHEMA = "pumpsim.report/1"
VERDICT_WORDS = {
    "pass": "PASS: no rule is violated.",
    "warn": "WARN: no hard rule is violated, but there are warnings to review.",
    "fail": "FAIL: at least one hard rule is violated; do not enter this table as it is.",
}


@dataclass
class Report(Judged):
    """Everything a validation found, ready to print as JSON or text."""

    table: Table
    profile: Profile
    violations: list[Violation]
    skipped: list[Skipped]
    drugs: dict[str, dict[str, Any]]
    reservoir: dict[str, dict[str, str | None]]
    risk: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    risk_text: list[str] = field(default_factory=list)  # the Monte-Carlo risks in words
    cases: Any = None  # pumpsim.rules.validate.Cases: the simulations the report was computed from

    # the simulations validate computed once; the figures and the HTML report read them here
    @property
    def nominal(self):
        """The nominal case (:class:`pumpsim.model.results.SimResult`): exact pump, no bolus."""
        return self.cases.nominal

    @property
    def worst(self):
        """The worst case (:class:`pumpsim.model.results.SimResult`): fast pump, every bolus allowed."""
        return self.cases.worst

    @property
    def programmed(self):
        """The programmed case (:class:`pumpsim.model.results.SimResult`): exact pump, every bolus allowed."""
        return self.cases.programmed

    def as_json(self) -> dict[str, Any]:
        """The JSON report of FORMAT.md §3 (doses in each drug's dose unit, instants as ISO date-times)."""
        out: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "verdict": self.verdict,
            "profile": self.profile.name,
            "violations": [v.as_json() for v in self.violations],
            "drugs": self.drugs,
            "reservoir": self.reservoir,
        }
        if self.risk is not None:
            out["risk"] = self.risk
        out["not_checked"] = [{"rule": s.rule, "reason": s.reason} for s in self.skipped]  # docs/FORMAT.md §3
        out["skipped"] = out["not_checked"]  # the name of pumpsim 0.1, kept for existing readers
        out["device"] = {"model": self.table.device.model, "route": self.table.device.route}
        out["sources"] = [{"what": w, "value": v, "source": s.source, "verified": s.verified}
                          for w, v, s in sources_used(self.table, self.profile)]
        out["table"] = self.table.path
        out["pumpsim_version"] = __version__
        out.update(self.extra)
        return out


def sources_used(table: Table, profile: Profile) -> list[tuple[str, str, Sourced]]:
    """Every data value this table was judged with.

    Parameters
    ----------
    table : Table
        The table (its device's data and its drugs).
    profile : Profile
        The profile it was judged against.

    Returns
    -------
    list of (str, str, Sourced)
        What the value is, the value as the data write it, and the value with its source.
    """
    dev = table.device
    out: list[tuple[str, str, Sourced]] = []
    for name in ("reservoir", "accuracy", "low_alarm", "rate_min", "rate_max", "dead_volume"):
        s = getattr(dev, name)
        if s is not None:
            out.append((f"{dev.model} {name}", s.text, s))
    for name, s in sorted(profile.general.items()):
        out.append((f"{profile.name} {name}", s.text, s))
    for d in table.drugs():
        for key, s in sorted(profile.drugs.get(d, {}).items()):
            out.append((f"{profile.name} {d} {key}", s.text, s))
    return out


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def render_text(report: Report) -> str:
    """The report for people: verdict first, then violations by session, then sources.

    Parameters
    ----------
    report : Report
        What :func:`pumpsim.rules.validate.validate` found.

    Returns
    -------
    str
        The text report, ending with a newline.
    """
    t = report.table
    lines = [VERDICT_WORDS[report.verdict], ""]
    hard = sum(v.severity == "hard" for v in report.violations)
    soft = len(report.violations) - hard
    lines.append(f"Table {t.path}: {t.device.model} ({t.device.route}), {len(t.sessions)} session(s), "
                 f"horizon {t.horizon / DAY:g} days, profile {report.profile.name}.")
    lines.append(f"{hard} hard violation(s), {soft} warning(s).")
    if report.violations:
        lines.append("")
        lines.append("Violations")
        by_session: dict[int | None, list[Violation]] = {}
        for v in report.violations:
            by_session.setdefault(v.session, []).append(v)
        for idx in sorted(by_session, key=lambda k: (k is None, k or 0)):
            when = t.iso(t.sessions[idx - 1].t) if idx is not None else None
            head = f"  session[{idx}] at {when}" if idx is not None else "  over the horizon"
            lines.append(head)
            for v in by_session[idx]:
                flag = "" if v.verified else "  [limit UNVERIFIED]"
                what = f"{v.rule} ({v.severity})" + (f" {v.drug}" if v.drug else "")
                lines.append(f"    - {what}: {v.message}")
                if v.value is not None or v.limit is not None:
                    lines.append(f"      value {_num(v.value)} {v.unit}, limit {_num(v.limit)} {v.unit}"
                                 + (f", at {v.at}" if v.at and idx is None else "") + flag)
                elif flag:
                    lines.append("     " + flag)
                lines.append(f"      source: {v.source}")
    if report.drugs:
        lines.append("")
        lines.append("Doses (maximum in any 24 h as programmed and in the worst case; nominal total over the horizon)")
        for d, info in report.drugs.items():
            prog = info.get("max_24h_dose_programmed")
            lines.append(f"  {d:<14} max 24 h " + (f"{_num(prog)} {info['unit']} programmed, " if prog is not None else "")
                         + f"{_num(info['max_24h_dose'])} {info['unit']} worst case, "
                         f"total {_num(info['total_delivered'])} {info['unit']}")
    if report.reservoir:
        lines.append("")
        lines.append("Reservoir")
        for case in ("nominal", "worst", "programmed"):
            if case not in report.reservoir:
                continue
            r = report.reservoir[case]
            lines.append(f"  {case:<10} low alarm at {r.get('low_alarm_at') or 'never'}, empty at {r.get('empty_at') or 'never'}")
    if report.risk_text:
        lines.append("")
        lines.extend(report.risk_text)
    if report.skipped:
        lines.append("")
        lines.append("Checks not made")
        for s in report.skipped:
            lines.append(f"  - {s.rule}: {s.reason}")
    lines.append("")
    lines.append("Sources used")
    for what, value, s in sources_used(t, report.profile):
        flag = "verified" if s.verified else "UNVERIFIED"
        lines.append(f"  - {what} = {value} [{flag}]: {s.source}")
    lines.append("")
    lines.append(f"pumpsim {__version__}: decision support for professionals, not a medical device.")
    return "\n".join(lines) + "\n"

