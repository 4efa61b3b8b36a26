"""The pathway report: every PATH rule (and OPIOID-CONVERSION) judged on one patient file by the
rule kit's runner, the verdict, the JSON of FORMAT.md §7 and the text for people."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pumpsim._version import __version__
from pumpsim.io import library
from pumpsim.io.patient import PatientFile
from pumpsim.model.table import Profile, Table
from pumpsim.pathway import rules  # noqa: F401  (registers the pathway family)
from pumpsim.pathway.context import context, iso, num
from pumpsim.pathway.timeline import TimelineStep, timeline, timeline_lines
from pumpsim.rules import kit
from pumpsim.rules.kit import Finding, Judged, Skipped, Violation

PATHWAY_SCHEMA = "pumpsim.pathway/1"
#: The pathway's order of rules (``data/pathway.toml``), the order of findings in a report.
ORDER = {r["id"]: i for i, r in enumerate(library.pathway_vocabulary()["rule"])}


@dataclass
class PathwayReport(Judged):
    patient: PatientFile
    profile: Profile
    violations: list[Violation]
    not_checked: list[Skipped]
    steps: list[TimelineStep]
    table: Table | None = None
    low_alarm_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    nothing_checked: bool = False
    #: Why the verdict is at best ``not_checked`` (the words after "NOT CHECKED: "), or "".
    why_not_checked: str = ""
    empty_at: dt.datetime | None = None  # the table's programmed-case empty instant
    worst_empty_at: dt.datetime | None = None  # the table's worst-case empty instant

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": PATHWAY_SCHEMA,
            "verdict": self.verdict,
            "profile": self.profile.name,
            "violations": [v.as_json() for v in self.violations],
            "not_checked": [{"rule": s.rule, "reason": s.reason} for s in self.not_checked],
            "timeline": [s.as_json() for s in self.steps],
        }
        if self.table is not None:
            out["programmed_low_alarm_at"] = iso(self.low_alarm_at)
            out["table"] = self.table.path
        out["patient"] = self.patient.path
        out["pumpsim_version"] = __version__
        out.update(self.extra)
        return out


def check(patient: PatientFile, profile: Profile, table: Table | None = None, programmed=None,
          worst=None) -> PathwayReport:
    """Every rule of the pathway on one patient file (and a table, if given; ``programmed`` and
    ``worst``: the table's programmed and worst cases when already simulated, e.g. by validate)."""
    ctx = context(patient, profile, table, programmed, worst)
    findings: list[Finding] = sorted(kit.run("pathway", ctx), key=lambda f: ORDER[f.rule])
    violations = [f for f in findings if isinstance(f, Violation)]
    skipped = [f for f in findings if isinstance(f, Skipped)]
    judged = {rid for rid in kit.registered("pathway") if not any(s.rule == rid for s in skipped)}
    if table is None:
        judged.discard("OPIOID-CONVERSION")
    why = ""
    if profile.pathway is None:
        why = "this profile has no pathway thresholds; use fr-ait-2020 or a hospital profile with [pathway]"
    elif not patient.dated_complete:
        why = "the file is not complete yet (no date in [dates])"
    elif not judged:
        why = "no pathway rule could be judged"
    return PathwayReport(patient, profile, violations, skipped, timeline(ctx), table, ctx.low_alarm_at,
                         nothing_checked=bool(why), why_not_checked=why, empty_at=ctx.empty_at,
                         worst_empty_at=ctx.worst_empty_at)


VERDICT_WORDS = {
    "pass": "PASS: the file meets every pathway rule that could be checked.",
    "not_checked": "NOT CHECKED: {why}.",
    "warn": "WARN: no hard rule is broken, but there are warnings to review.",
    "fail": "FAIL: at least one hard rule of the pathway is broken; the implantation should not go ahead as planned.",
}


def render_text(r: PathwayReport) -> str:
    """The report for people: verdict first, then violations, the timeline, the checks not made."""
    lines = [VERDICT_WORDS[r.verdict].format(why=r.why_not_checked), ""]
    hard = sum(v.severity == "hard" for v in r.violations)
    what = f"Patient file {r.patient.path}, profile {r.profile.name}"
    if r.table is not None:
        what += f", table {r.table.path} ({r.table.device.model})"
    lines += [what + ".", f"{hard} hard violation(s), {len(r.violations) - hard} warning(s)."]
    if r.table is not None:
        alarm = iso(r.low_alarm_at) or "not reached within the table's horizon"
        lines.append(f"Programmed-case low alarm of the pump (every allowed bolus): {alarm}.")
        lines.append(f"Programmed-case empty date: {iso(r.empty_at) or 'not within the table horizon'}; worst case "
                     f"(the pump fast by its accuracy): {iso(r.worst_empty_at) or 'not within the table horizon'}.")
    if r.violations:
        lines += ["", "Violations"]
        for v in r.violations:
            lines.append(f"  - {v.rule} ({v.severity}){' ' + v.drug if v.drug else ''}: {v.message}")
            if v.value is not None or v.limit is not None:
                flag = "" if v.verified else "  [limit UNVERIFIED]"
                val = "-" if v.value is None else num(v.value)
                lim = "-" if v.limit is None else num(v.limit)
                u = f" {v.unit}" if v.unit else ""
                lines.append(f"    value {val}{u}, limit {lim}{u}" + (f", at {v.at}" if v.at else "") + flag)
            lines.append(f"    source: {v.source}")
    lines += ["", "Timeline"]
    lines += timeline_lines(r.steps) if r.steps else ["  (no dates in the file)"]
    if r.not_checked:
        lines += ["", "Checks not made"]
        lines += [f"  - {s.rule}: {s.reason}" for s in r.not_checked]
    lines += ["", f"pumpsim {__version__}: decision support for professionals, not a medical device."]
    return "\n".join(lines) + "\n"
