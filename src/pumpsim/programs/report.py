"""``pumpsim program``: judge a ketamine or esketamine program and report it.

The JSON has the shape of ``validate``'s (``schema`` ``pumpsim.program/1``, ``verdict``,
``violations`` with rule, severity, at, drug, value, limit, unit, message, source, verified;
``not_checked``), plus the template followed (with its note), advice notes, the course as a
timeline, and the data values used with their sources. The text says the verdict first, then
the course day by day with what is missing in words, then each violation with its source.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pumpsim._version import __version__
from pumpsim.io.programs import PROGRAM_SCHEMA, Administration, ProgramFile
from pumpsim.model.table import Sourced
from pumpsim.programs.rules import MIN_PER_DAY, KetamineConfig, Note, build_config, courses, iso, run_rules
from pumpsim.rules.kit import Judged, Skipped, Violation, catalogue

VERDICT_WORDS = {
    "pass": "PASS: no rule is violated.",
    "warn": "WARN: no hard rule is violated, but there are warnings to review.",
    "fail": "FAIL: at least one hard rule is violated; do not carry out this program as it is.",
}
ROUTE_WORDS = {"intravenous": "IV", "intramuscular": "IM", "subcutaneous": "SC"}


@dataclass
class ProgramReport(Judged):
    program: ProgramFile
    config: KetamineConfig
    violations: list[Violation]
    skipped: list[Skipped]
    notes: list[Note]

    def as_json(self) -> dict[str, Any]:
        p = self.program
        t = self.config.templates.get(p.template) if p.template else None
        return {
            "schema": PROGRAM_SCHEMA,
            "verdict": self.verdict,
            "profile": p.profile,
            "template": None if t is None else {"name": t.name, "title": t.title, "note": t.note, "source": t.source,
                                                "verified": t.verified},
            "indication": p.indication,
            "violations": [v.as_json() for v in self.violations],
            "not_checked": [{"rule": s.rule, "reason": s.reason} for s in self.skipped],
            "notes": [{"rule": n.rule, "at": n.at, "message": n.message} for n in self.notes],
            "course": [{"at": at, "kind": kind, "text": text} for at, kind, text in timeline(p)],
            "sources": [{"what": k, "value": s.text, "source": s.source, "verified": s.verified}
                        for k, s in sources_used(self.config)],
            "program": p.path,
            "pumpsim_version": __version__,
        }


def judge(p: ProgramFile) -> ProgramReport:
    """Every KET rule on one program (the profile's ``[ketamine]`` overrides applied)."""
    cfg = build_config(p.profile_section, p.profile_file or "")
    found = run_rules(p, cfg)
    order = {r: i for i, r in enumerate(catalogue())}
    violations = sorted((f for f in found if isinstance(f, Violation)),
                        key=lambda v: (v.at or "", order.get(v.rule, 99)))
    return ProgramReport(p, cfg, violations, [f for f in found if isinstance(f, Skipped)],
                         [f for f in found if isinstance(f, Note)])


def sources_used(c: KetamineConfig) -> list[tuple[str, Sourced]]:
    return [*((f"ketamine {k}", s) for k, s in c.values.items()), *((f"ketamine {k}", s) for k, s in c.lists.items())]


def _admin_text(a: Administration) -> str:
    route = ROUTE_WORDS.get(a.route, a.route)
    partners = [d for d in a.drugs if d != a.agent]
    what = a.agent + (f" (with {', '.join(partners)} in the same line)" if partners else "")
    if a.continuous:
        days = a.duration or 0.0
        text = f"{what} {a.dose:g} mg/day {route}, continuous for {days:g} day(s) until {a.end.strftime('%Y-%m-%d %H:%M')}"
    else:
        text = f"{what} {a.dose:g} mg {route}"
        if a.duration:
            text += f" over {a.duration * MIN_PER_DAY:g} min"
    if a.setting:
        text += f", {a.setting}"
    if a.monitoring is not None:
        text += f", monitored {a.monitoring * MIN_PER_DAY:g} min after"
    if a.dose_text.strip().endswith(("/kg", "/kg/day", "/kg/h")):
        text += f" (written {a.dose_text})"
    return text


def timeline(p: ProgramFile) -> list[tuple[str, str, str]]:
    """(instant, kind, words) of the course, in time order: on one day, the psychiatric evaluation
    first, then the doses, then the reviews and labs of that date."""
    rows: list[tuple[tuple, str, str, str]] = []
    day0 = p.administrations[0].at.date()

    def day(d: dt.date) -> str:
        return f"day {(d - day0).days}"

    if p.patient.psychiatric_evaluation is not None:
        d = p.patient.psychiatric_evaluation
        rows.append(((d, 0, dt.time()), iso(d) or "", "psychiatric-evaluation", f"{day(d)}: psychiatric evaluation"))
    for a in p.administrations:
        rows.append(((a.at.date(), 1, a.at.time()), iso(a.at) or "", "administration",
                     f"{day(a.at.date())}: administration {a.index}: {_admin_text(a)}"))
    for r in p.reviews:
        b = {True: "benefit", False: "NO benefit", None: "benefit not recorded"}[r.benefit]
        rows.append(((r.at, 2, dt.time()), iso(r.at) or "", r.kind, f"{day(r.at)}: {r.kind} ({b})"))
    for lab in p.labs:
        rows.append(((lab.at, 2, dt.time()), iso(lab.at) or "", "lab", f"{day(lab.at)}: lab: {lab.kind}"))
    rows.sort(key=lambda r: r[0])
    return [(at, kind, text) for _, at, kind, text in rows]


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def render_text(rep: ProgramReport) -> str:
    p, c = rep.program, rep.config
    lines = [VERDICT_WORDS[rep.verdict], ""]
    hard = sum(v.severity == "hard" for v in rep.violations)
    n_courses = len(courses(p, c, "ketamine")) + len(courses(p, c, "esketamine"))
    lines.append(f"Program {p.path}: {len(p.administrations)} administration(s) in {n_courses} course(s), "
                 f"indication {p.indication or '(not given)'}, template {p.template or '(none)'}, profile {p.profile}.")
    lines.append(f"{hard} hard violation(s), {len(rep.violations) - hard} warning(s).")
    if p.template:
        t = c.templates[p.template]
        lines += ["", f"Template {t.name}: {t.title}.", f"  Note: {t.note}", f"  source: {t.source}"]
    lines += ["", "Course (day 0 is the first administration)"]
    by_at: dict[str, list[Violation]] = {}
    for v in rep.violations:
        by_at.setdefault(v.at or "", []).append(v)
    shown: set[str] = set()
    for at, _kind, text in timeline(p):
        lines.append(f"  {at[:16].replace('T', ' '):<16}  {text}")
        if at in by_at and at not in shown:
            shown.add(at)
            for v in by_at[at]:
                lines.append(f"      ! {v.rule} ({v.severity})")
    missing = [v for v in rep.violations if v.rule in ("KET-NO-BENEFIT", "KET-MONITORING", "KET-PROGRAM", "KET-SETTING")]
    if missing or rep.notes:
        lines += ["", "What is missing or must change"]
        lines += [f"  - {v.message}" for v in missing]
        lines += [f"  - (advice) {n.message}" for n in rep.notes]
    if rep.violations:
        lines += ["", "Violations"]
        for v in rep.violations:
            flag = "" if v.verified else "  [limit UNVERIFIED]"
            lines.append(f"  - {v.rule} ({v.severity}){' ' + v.drug if v.drug else ''} at {v.at}: {v.message}")
            if v.value is not None or v.limit is not None:
                lines.append(f"    value {_num(v.value)} {v.unit}, limit {_num(v.limit)} {v.unit}{flag}")
            elif flag:
                lines.append(f"   {flag}")
            lines.append(f"    source: {v.source}")
    if rep.skipped:
        lines += ["", "Checks not made"]
        lines += [f"  - {s.rule}: {s.reason}" for s in rep.skipped]
    lines += ["", f"pumpsim {__version__}: decision support for professionals, not a prescription and not a medical "
              "device. Off-label and experimental uses are flagged as such (KET-INDICATION); the prescriber decides."]
    return "\n".join(lines) + "\n"
