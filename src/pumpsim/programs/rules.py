"""The KET-* rules of ketamine and esketamine programs: one small pure function per rule.

Each rule is registered in the rule kit (``@kit.rule("KET-...", "program")``) and judged by
``kit.run("program", program, config)``: it reads a :class:`pumpsim.io.programs.ProgramFile` and
a :class:`pumpsim.io.ketamine.KetamineConfig` and returns findings: :class:`Violation` (the shape
``validate`` reports), :class:`Skipped` (a check that could not be made) and :class:`Note`
(advice that is no violation, e.g. a urine cytology the ANSM advises). No number is written
here: the thresholds, the lists and the templates come from ``data/ketamine.toml`` (each with
its source and verified flag), overridden by the ``[ketamine]`` section of a profile file. The
calendar (courses, infusions, day k) is :mod:`pumpsim.programs.course`'s.
"""
from __future__ import annotations

import datetime as dt

from pumpsim.io import library
from pumpsim.io.ketamine import KetamineConfig
from pumpsim.io.programs import Administration, ProgramFile
from pumpsim.model.timebase import DAY
from pumpsim.model.tolerances import RTOL, above
from pumpsim.programs.course import (
    HOURS_PER_DAY,
    clock,
    continuous_runs,
    course_end,
    courses,
    day_of,
    effective_ends,
    iso,
    midnight,
    of,
    plus_days,
    span_days,
    to_minutes,
)
from pumpsim.programs.finding import Finding, Note, violation
from pumpsim.rules import kit
from pumpsim.rules.kit import Skipped, Violation


def _conditions_rule(p: ProgramFile, c: KetamineConfig, rule: str, list_key: str, what: str) -> list[Finding]:
    if not of(p, "ketamine"):
        return []
    if p.patient.conditions is None:
        return [Skipped(rule, "the patient's conditions are not given: add conditions = [...] under [patient] "
                              "(conditions = [] when there are none)")]
    lst = c.lists[list_key]
    found = [x for x in p.patient.conditions if x in lst.value]
    if not found:
        return []
    out: list[Finding] = []
    for course in courses(p, c, "ketamine"):
        a = course[0]
        out.append(violation(rule, a, "ketamine", None, None, "",
                              f"ketamine from {clock(a.at)} for a patient with {', '.join(found)}: {what}", lst))
    return out


@kit.rule("KET-CONTRAINDICATION", "program")
def ket_contraindication(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine for a patient with a listed contraindication (one violation per course)."""
    out = _conditions_rule(p, c, "KET-CONTRAINDICATION", "contraindications",
                           "a contraindication of ketamine; do not give it")
    if of(p, "esketamine"):
        out.append(Skipped("KET-CONTRAINDICATION", "esketamine: its own contraindications (Spravato EU SmPC) are not in "
                                                   "pumpsim's data; check them in the product information"))
    return out


@kit.rule("KET-DEPENDENCE", "program")
def ket_dependence(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine for a patient with a history of addiction (risk of dependence and misuse)."""
    return _conditions_rule(p, c, "KET-DEPENDENCE", "dependence_conditions",
                            "risk of dependence and misuse; weigh it and watch for misuse")


@kit.rule("KET-ROUTE", "program")
def ket_route(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Each administration by a route its drug may not take."""
    out: list[Finding] = []
    for a in p.administrations:
        lst = c.lists[f"{a.agent}_routes"]
        if a.route not in lst.value:
            out.append(violation("KET-ROUTE", a, a.agent, None, None, "",
                                  f"administration {a.index}: {a.agent} by the {a.route} route; "
                                  f"{a.agent} is given by {', '.join(lst.value)} only", lst))
    return out


@kit.rule("KET-INDICATION", "program")
def ket_indication(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Each course given for an indication outside the drug's label (off label, or experimental)."""
    if p.indication is None:
        return [Skipped("KET-INDICATION", "no indication given: add indication = \"...\" at the top of the program")]
    ind = p.indication
    out: list[Finding] = []
    L = c.lists
    for course in courses(p, c, "ketamine"):
        a = course[0]
        if ind in L["ketamine_on_label"].value or ind in L["ketamine_recognised_off_label"].value:
            continue
        if ind in L["ketamine_experimental"].value:
            src = L["ketamine_experimental"]
            msg = (f"ketamine for {ind} is EXPERIMENTAL and off label (its marketing authorisation covers "
                   f"{', '.join(L['ketamine_on_label'].value)} only); the ANSM has warned of rising prolonged off-label use "
                   "in chronic pain including fibromyalgia, with liver and urinary harm: a clinical trial or a documented "
                   "team decision, with close monitoring")
        else:
            src = L["ketamine_on_label"]
            msg = (f"ketamine for {ind} is OFF LABEL: its marketing authorisation covers "
                   f"{', '.join(L['ketamine_on_label'].value)}, and the recognised off-label use is "
                   f"{', '.join(L['ketamine_recognised_off_label'].value)} (co-analgesia with opioids); "
                   "the prescriber carries the responsibility and informs the patient")
        out.append(violation("KET-INDICATION", a, "ketamine", None, None, "", msg, src))
    for course in courses(p, c, "esketamine"):
        src = L["esketamine_on_label"]
        if ind not in src.value:
            out.append(violation("KET-INDICATION", course[0], "esketamine", None, None, "",
                                  f"esketamine for {ind} is OFF LABEL: it is authorised for "
                                  f"{', '.join(src.value)}", src))
    return out


@kit.rule("KET-NO-BENEFIT", "program")
def ket_no_benefit(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine co-analgesia going on past day 7 without a day 5-7 review that records a benefit."""
    d_from, d_to = c.values["review_day_from"], c.values["review_day_to"]
    ends = effective_ends(p, "ketamine")
    out: list[Finding] = []
    for run in continuous_runs(p, "ketamine"):
        start = run[0]
        day0 = start.at.date()
        end = ends[run[-1].index]
        past = midnight(plus_days(day0, int(d_to.value) + 1))
        if end <= past:
            continue
        lo, hi = plus_days(day0, int(d_from.value)), plus_days(day0, int(d_to.value))
        window = [r for r in p.reviews if lo <= r.at <= hi]
        if any(r.benefit is True for r in window):
            continue
        until = f"until {clock(end)} (day {day_of(end, day0)})"
        head = f"the ketamine infusion started {day0.isoformat()} runs {until}"
        if not window:
            msg = (f"no review between day {d_from.value} and day {d_to.value} of the ketamine infusion started "
                   f"{day0.isoformat()}: stop it if there is no benefit (book a review from {lo.isoformat()} to "
                   f"{hi.isoformat()}; as written it runs {until})")
        elif any(r.benefit is False for r in window):
            r = next(r for r in window if r.benefit is False)
            msg = (f"the review of {r.at.isoformat()} (day {day_of(r.at, day0)}) found no benefit, yet {head}: "
                   "stop the infusion")
        else:
            r = window[0]
            msg = (f"the review of {r.at.isoformat()} (day {day_of(r.at, day0)}) does not record whether there is a "
                   f"benefit (benefit = true or false), and {head}: stop it if there is no benefit")
        out.append(violation("KET-NO-BENEFIT", start, "ketamine", span_days(start.at, end), float(d_to.value), "day",
                              msg, d_to))
    return out


@kit.rule("KET-SETTING", "program")
def ket_setting(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine started, or esketamine given, outside hospital; esketamine with too short a monitoring."""
    hosp = c.lists["hospital_settings"]
    mon = c.values["esketamine_monitoring"]
    out: list[Finding] = []
    for run in continuous_runs(p, "ketamine"):
        a = run[0]
        if a.setting not in hosp.value:
            where = f"at {a.setting}" if a.setting else "with no setting given"
            out.append(violation("KET-SETTING", a, "ketamine", None, None, "",
                                  f"continuous ketamine co-analgesia started {where} ({clock(a.at)}): it is started in "
                                  f"hospital ({', '.join(hosp.value)}) by a specialised team; home follow-up comes after",
                                  hosp))
    for a in of(p, "esketamine"):
        reasons = []
        if a.setting not in hosp.value:
            reasons.append(f"given {'at ' + a.setting if a.setting else 'with no setting given'}, "
                           f"while esketamine is given only in hospital ({', '.join(hosp.value)})")
        minutes = None if a.monitoring is None else to_minutes(a.monitoring)
        limit_min = to_minutes(float(mon.value))
        if a.monitoring is None or above(float(mon.value), a.monitoring):
            got = "no monitoring given" if minutes is None else f"{minutes:g} min of monitoring"
            reasons.append(f"{got} after the dose, less than {limit_min:g} min")
        if reasons:
            src = mon if (a.monitoring is None or above(float(mon.value), a.monitoring)) else hosp
            out.append(violation("KET-SETTING", a, "esketamine", minutes, limit_min, "min",
                                  f"esketamine administration {a.index} ({clock(a.at)}): " + "; ".join(reasons), src))
    return out


def _prolonged_or_repeated(course: list[Administration], p: ProgramFile, c: KetamineConfig,
                           ends: dict[int, dt.datetime]) -> list[str]:
    why = []
    long = float(c.values["prolonged_continuous"].value)
    for run in continuous_runs(p, "ketamine"):
        if run[0] in course and above(span_days(run[0].at, ends[run[-1].index]), long):
            why.append(f"continuous for {span_days(run[0].at, ends[run[-1].index]):g} days from {run[0].at.date().isoformat()} "
                       f"(more than {long:g})")
            break
    n, window = int(c.values["repeated_count"].value), float(c.values["repeated_window"].value)
    ats = [a.at for a in course]
    for i, t in enumerate(ats):
        inside = [u for u in ats[i:] if span_days(t, u) < window * (1 - RTOL)]
        if len(inside) > n:
            why.append(f"{len(inside)} administrations within {window:g} days from {t.date().isoformat()} (more than {n})")
            break
    return why


@kit.rule("KET-MONITORING", "program")
def ket_monitoring(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """A prolonged or repeated ketamine course without liver and renal monitoring."""
    interval = c.values["lab_interval"]
    step = float(interval.value)
    ends = effective_ends(p, "ketamine")
    out: list[Finding] = []
    for course in courses(p, c, "ketamine"):
        why = _prolonged_or_repeated(course, p, c, ends)
        if not why:
            continue
        first, last = course[0].at.date(), course_end(course, ends).date()
        reasons, worst, unit, limit = [], 0.0, "day", step
        for kind, words in (("liver", "liver tests (transaminases, GGT, ALP, bilirubin)"), ("renal", "renal function")):
            dates = sorted({lab.at for lab in p.labs if lab.kind == kind and first <= lab.at <= last})
            if not dates:
                reasons.append(f"no {words} during the course ({first.isoformat()} to {last.isoformat()})")
                unit, limit = "labs", 1.0
                continue
            points = [first, *dates, last]
            for x, y in zip(points, points[1:]):
                gap = day_of(y, x)
                if above(gap, step):
                    reasons.append(f"{words}: {gap} days without one from {x.isoformat()} to {y.isoformat()} "
                                   f"(at most {step:g})")
                    worst = max(worst, gap)
        if not reasons:
            continue
        if not any(lab.kind == "urine-cytology" and first <= lab.at <= last for lab in p.labs):
            reasons.append("no urine cytology either (advised by the ANSM)")
        value = 0.0 if unit == "labs" else worst
        out.append(violation("KET-MONITORING", course[0], "ketamine", value, limit, unit,
                              f"ketamine course from {first.isoformat()} is prolonged or repeated "
                              f"({'; '.join(why)}): " + "; ".join(reasons), interval))
    judged = {v.at for v in out if isinstance(v, Violation)}
    for course in courses(p, c, "ketamine"):
        if iso(course[0].at) in judged or not _prolonged_or_repeated(course, p, c, ends):
            continue  # a violation of this course already names a missing cytology
        first, last = course[0].at.date(), course_end(course, ends).date()
        if not any(lab.kind == "urine-cytology" and first <= lab.at <= last for lab in p.labs):
            out.append(Note("KET-MONITORING", iso(course[0].at),
                            f"no urine cytology during the ketamine course from {first.isoformat()}: the ANSM advises it "
                            "with liver tests and renal function after prolonged or repeated use"))
    return out


@kit.rule("KET-INCOMPATIBLE", "program")
def ket_incompatible(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine with an incompatible drug in one syringe or line."""
    out: list[Finding] = []
    for a in p.administrations:
        hits = [inc for inc in library.drug_library().incompatibilities if inc.drugs <= set(a.drugs)]
        if hits:
            pair = sorted(set().union(*(inc.drugs for inc in hits)))
            out.append(violation("KET-INCOMPATIBLE", a, "+".join(pair), None, None, "",
                                  f"administration {a.index} puts {' and '.join(pair)} in one syringe or line: "
                                  "never mix them; use separate lines", None,
                                  source="; ".join(inc.source for inc in hits), verified=all(inc.verified for inc in hits)))
    return out


@kit.rule("KET-DOSE", "program")
def ket_dose(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """With the weight: ketamine doses above the start, step, infusion or bolus limits."""
    if not of(p, "ketamine"):
        return []
    w = p.patient.weight
    if w is None:
        return [Skipped("KET-DOSE", "the patient's weight is not given: add weight = \"70 kg\" under [patient]")]
    V = c.values
    start_max, step_max, window = V["coanalgesia_start_max"], V["coanalgesia_step_max"], float(V["step_window"].value)
    rate_max, bolus_max = V["iv_infusion_rate_max"], V["iv_bolus_max"]
    ends = effective_ends(p, "ketamine")
    out: list[Finding] = []
    for run in continuous_runs(p, "ketamine"):
        for i, a in enumerate(run):
            per_kg = a.dose / w
            if i == 0:
                if above(per_kg, float(start_max.value)):
                    out.append(violation("KET-DOSE", a, "ketamine", per_kg, float(start_max.value), "mg/kg/day",
                                          f"continuous ketamine started at {a.dose:g} mg/day = {per_kg:.4g} mg/kg/day for "
                                          f"{w:g} kg, above the start of {start_max.text}", start_max))
                continue
            since = a.at - dt.timedelta(seconds=window * DAY)
            base = min(b.dose for b in run[:i] if ends[b.index] > since)
            rise = (a.dose - base) / w
            if above(rise, float(step_max.value)):
                out.append(violation("KET-DOSE", a, "ketamine", rise, float(step_max.value), "mg/kg/day",
                                      f"continuous ketamine raised to {a.dose:g} mg/day from {base:g} mg/day within "
                                      f"{window * HOURS_PER_DAY:g} h: +{rise:.4g} mg/kg/day for {w:g} kg, more than "
                                      f"{step_max.text} per {V['step_window'].text}", step_max))
    for a in of(p, "ketamine"):
        if a.continuous or a.route != "intravenous":
            continue
        if a.duration:
            per_h = a.dose / w / (a.duration * HOURS_PER_DAY)
            lim = float(rate_max.value) / HOURS_PER_DAY
            if above(per_h, lim):
                out.append(violation("KET-DOSE", a, "ketamine", per_h, lim, "mg/kg/h",
                                      f"IV infusion {a.index}: {a.dose:g} mg over {to_minutes(a.duration):g} min for {w:g} kg "
                                      f"is {per_h:.4g} mg/kg/h, above {rate_max.text}", rate_max))
        elif above(a.dose / w, float(bolus_max.value)):
            out.append(violation("KET-DOSE", a, "ketamine", a.dose / w, float(bolus_max.value), "mg/kg",
                                  f"IV bolus {a.index}: {a.dose:g} mg at once for {w:g} kg is {a.dose / w:.4g} mg/kg, above "
                                  f"{bolus_max.text} (give a duration if it is an infusion)", bolus_max))
    out.sort(key=lambda f: f.session or 0 if isinstance(f, Violation) else 0)
    return out
