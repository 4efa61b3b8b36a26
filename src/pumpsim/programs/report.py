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
from pumpsim.io.ketamine import KetamineConfig, build_config
from pumpsim.io.programs import PROGRAM_SCHEMA, Administration, ProgramFile
from pumpsim.model.table import Sourced
from pumpsim.programs import rules as _rules  # noqa: F401  (registers the KET rules)
from pumpsim.programs import template as _template  # noqa: F401  (registers KET-PROGRAM)
from pumpsim.programs.course import MIN_PER_DAY, courses, day_of, iso, oral_courses, plus_months
from pumpsim.programs.finding import Note
from pumpsim.rules import kit
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
    found = kit.run("program", p, cfg)
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
        return f"day {day_of(d, day0)}"

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


def _num(x: float | str | None) -> str:
    return "-" if x is None else x if isinstance(x, str) else f"{x:.6g}"


def _value_line(v: Violation) -> str:
    """``value V UNIT, limit L UNIT`` (a setting violation: ``value home, limit hospital``)."""
    unit = f" {v.unit}" if v.unit else ""
    value = "(none given)" if v.value is None and isinstance(v.limit, str) else _num(v.value)
    if v.limit is None:
        return f"value {value}{unit}"
    return f"value {value}{unit}, limit {_num(v.limit)}{unit}"


#: Advice the source documents give that no rule checks (docs/PROGRAMS.md §7): printed for the
#: drug it concerns.
ADVICE = {
    "ketamine": (
        "no driving and no use of machines after ketamine (« La kétamine », fiche de synthèse: incompatible avec la "
        "conduite de véhicule ou l'utilisation de machines; the clinic program: éviter la conduite pendant 24 heures)",
        "haematuria calls for a search for urinary tract damage, and unexplained liver, renal or urological damage for "
        "a question about repeated use (ANSM alert of 30 August 2023, in « La kétamine », fiche de synthèse)",
    ),
    "co-analgesia": (
        "co-analgesia followed at home: by an experienced professional linked to a pain or palliative care team; the "
        "general practitioner is informed (« La kétamine », fiche de synthèse)",
    ),
    "esketamine": (
        "blood pressure rise and psychoactive effects in the hour after each dose: medical monitoring in hospital "
        "(« Kétamine ou eskétamine », 27 novembre 2025)",
    ),
}


def maintenance_line(p: ProgramFile, c: KetamineConfig) -> str | None:
    """The line of an esketamine program for resistant depression shorter than the maintenance it expects."""
    esk = [a for a in p.administrations if a.agent == "esketamine"]
    months = c.values["esketamine_maintenance_months"]
    if not esk or p.indication not in c.lists["esketamine_maintenance_indications"].value:
        return None
    if esk[-1].at.date() >= plus_months(esk[0].at.date(), int(months.value)):
        return None
    return (f"maintenance is expected for at least {months.value} months after the induction (the program's last "
            f"esketamine dose is {esk[-1].at.date().isoformat()}, less than {months.value} months after the first, "
            f"{esk[0].at.date().isoformat()}): {months.source}")


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
                lines.append(f"    {_value_line(v)}{flag}")
            elif flag:
                lines.append(f"   {flag}")
            lines.append(f"    source: {v.source}")
    agents = [d for d in ("ketamine", "esketamine") if any(a.agent == d for a in p.administrations)]
    if any(a.agent == "ketamine" and a.continuous for a in p.administrations) or oral_courses(p, c):
        agents.append("co-analgesia")
    line = maintenance_line(p, c)
    if agents or line:
        lines += ["", "Advice (no rule checks it)"]
        lines += [f"  - {line}"] if line else []
        lines += [f"  - {x}" for d in agents for x in ADVICE[d]]
    if rep.skipped:
        lines += ["", "Checks not made"]
        lines += [f"  - {s.rule}: {s.reason}" for s in rep.skipped]
    lines += ["", f"pumpsim {__version__}: decision support for professionals, not a prescription and not a medical "
              "device. Off-label and experimental uses are flagged as such (KET-INDICATION); the prescriber decides."]
    return "\n".join(lines) + "\n"
