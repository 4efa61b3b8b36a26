"""KET-PROGRAM: a program against the template it names (data/ketamine.toml, docs/PROGRAMS.md §5).

One violation for the program, every mismatch in its message: the drug and form, the routes,
the sessions per week, each session's duration, the review after session n, the full
assessment after session m, the psychiatric evaluation before the first session.
"""
from __future__ import annotations

from pumpsim.io.ketamine import KetamineConfig, Template
from pumpsim.io.programs import Administration, ProgramFile
from pumpsim.model.timebase import DAY, WEEK
from pumpsim.model.tolerances import above
from pumpsim.programs.course import day_of, of, plus_days, to_minutes
from pumpsim.programs.finding import Finding, violation
from pumpsim.rules import kit
from pumpsim.rules.kit import Skipped


def _session_reasons(t: Template, mine: list[Administration], p: ProgramFile) -> list[str]:
    reasons = []
    day0 = mine[0].at.date()
    weeks: dict[int, int] = {}
    for a in mine:
        k = day_of(a.at, day0) * DAY // WEEK + 1
        weeks[k] = weeks.get(k, 0) + 1
    plan = t.sessions_per_week
    for k, want in enumerate(plan, start=1):
        got = weeks.get(k, 0)
        if got != want:
            lo = plus_days(day0, (k - 1) * WEEK // DAY)
            reasons.append(f"week {k} ({lo.isoformat()} to {plus_days(lo, WEEK // DAY - 1).isoformat()}) holds {got} session(s), "
                           f"the template {want}")
    extra = sum(n for k, n in weeks.items() if k > len(plan))
    if extra and t.after_plan == "none":
        reasons.append(f"{extra} session(s) after week {len(plan)}, which the template does not hold")
    if t.duration_min is not None and t.duration_max is not None:
        lo_m, hi_m = to_minutes(t.duration_min), to_minutes(t.duration_max)
        for a in mine:
            if a.duration is None:
                reasons.append(f"session {a.index} has no duration (the template: {lo_m:g}-{hi_m:g} min)")
            elif above(t.duration_min, a.duration) or above(a.duration, t.duration_max):
                reasons.append(f"session {a.index} lasts {to_minutes(a.duration):g} min, outside {lo_m:g}-{hi_m:g} min")
    n = t.review_after_session
    if n is not None and len(mine) >= n:
        lo_d = mine[n - 1].at.date()
        hi_d = mine[n].at.date() if len(mine) > n else None
        if not any(r.at >= lo_d and (hi_d is None or r.at <= hi_d) for r in p.reviews):
            span = f"between {lo_d.isoformat()} and {hi_d.isoformat()}" if hi_d else f"on or after {lo_d.isoformat()}"
            reasons.append(f"no clinical review after session {n} ({span}) to assess the response and adapt the program")
    m = t.assessment_after_session
    if m is not None and len(mine) >= m:
        lo_d = mine[m - 1].at.date()
        if not any(r.kind == "assessment" and r.at >= lo_d for r in p.reviews):
            reasons.append(f"no full assessment (kind = \"assessment\") after session {m} (on or after {lo_d.isoformat()})")
    return reasons


@kit.rule("KET-PROGRAM", "program")
def ket_program(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """The program against its template (form, route, sessions per week, durations, reviews)."""
    if p.template is None:
        return [Skipped("KET-PROGRAM", "no template named: add template = \"...\" to compare the program with one "
                                       f"({', '.join(c.templates)})")]
    t = c.templates[p.template]
    mine = of(p, t.drug)
    others = [a for a in p.administrations if a.agent != t.drug]
    reasons: list[str] = []
    if others:
        reasons.append(f"{len(others)} administration(s) of {others[0].agent}, which the template ({t.drug}) does not hold")
    if not mine:
        reasons.append(f"no {t.drug} administration")
    want_cont = t.form == "continuous"
    wrong_form = [a.index for a in mine if a.continuous != want_cont]
    if wrong_form:
        reasons.append(f"administration(s) {', '.join(map(str, wrong_form))} "
                       + ("are sessions, the template is continuous use (a daily dose)" if want_cont
                          else "are continuous, the template is sessions (a dose per session)"))
    wrong_route = [a for a in mine if a.route not in t.routes]
    if wrong_route:
        reasons.append(f"administration(s) {', '.join(str(a.index) for a in wrong_route)} by "
                       f"{', '.join(sorted({a.route for a in wrong_route}))}, the template {', '.join(t.routes)}")
    sessions = [a for a in mine if not a.continuous]
    if t.form == "sessions" and sessions:
        reasons += _session_reasons(t, sessions, p)
    if t.psychiatric_evaluation and mine:
        ev = p.patient.psychiatric_evaluation
        first = mine[0].at.date()
        if ev is None:
            reasons.append("no psychiatric evaluation before the first session (patient.psychiatric_evaluation)")
        elif ev > first:
            reasons.append(f"the psychiatric evaluation ({ev.isoformat()}) comes after the first session ({first.isoformat()})")
    if not reasons:
        return []
    planned = float(sum(t.sessions_per_week)) if t.form == "sessions" else None
    return [violation("KET-PROGRAM", mine[0] if mine else p.administrations[0], t.drug,
                       float(len(sessions)) if planned is not None else None, planned,
                       "sessions" if planned is not None else "",
                       f"the program does not follow the template {t.name}: " + "; ".join(reasons), None,
                       source=t.source, verified=t.verified)]
