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

import dataclasses
import datetime as dt

from pumpsim.io import library
from pumpsim.io.ketamine import KetamineConfig
from pumpsim.io.programs import Administration, ProgramFile
from pumpsim.model.table import Sourced
from pumpsim.model.timebase import DAY
from pumpsim.model.tolerances import above
from pumpsim.programs.course import (
    HOURS_PER_DAY,
    clock,
    continuous_runs,
    course_end,
    courses,
    day_of,
    effective_ends,
    iso,
    last_dose_day,
    midnight,
    of,
    oral_courses,
    plus_days,
    span_days,
    to_minutes,
)
from pumpsim.programs.finding import Finding, Note, violation
from pumpsim.rules import kit
from pumpsim.rules.kit import Skipped, Violation


def _conditions_rule(p: ProgramFile, c: KetamineConfig, rule: str, agent: str, lists: tuple[str, ...],
                     what: str) -> list[Finding]:
    """One violation per course of ``agent`` for the patient's conditions found in ``lists``."""
    if not of(p, agent):
        return []
    if p.patient.conditions is None:
        return [Skipped(rule, f"{agent}: the patient's conditions are not given: add conditions = [...] under [patient] "
                              "(conditions = [] when there are none)")]
    hit = [c.lists[k] for k in lists if any(x in c.lists[k].value for x in p.patient.conditions)]
    found = [x for x in p.patient.conditions if any(x in s.value for s in hit)]
    if not found:
        return []
    return [violation(rule, course[0], agent, None, None, "",
                      f"{agent} from {clock(course[0].at)} for a patient with {', '.join(found)}: {what}", None,
                      source="; ".join(s.source for s in hit), verified=all(s.verified for s in hit))
            for course in courses(p, c, agent)]


@kit.rule("KET-CONTRAINDICATION", "program")
def ket_contraindication(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine or esketamine for a patient with one of its contraindications (one violation per course)."""
    return [*_conditions_rule(p, c, "KET-CONTRAINDICATION", "ketamine", ("contraindications",),
                              "a contraindication of ketamine; do not give it"),
            *_conditions_rule(p, c, "KET-CONTRAINDICATION", "esketamine",
                              ("esketamine_contraindications", "esketamine_contraindications_from_ketamine"),
                              "a contraindication of esketamine; do not give it")]


@kit.rule("KET-PRECAUTION", "program")
def ket_precaution(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Esketamine for a patient with a condition that calls for caution (blood pressure, psychoactive effects)."""
    return _conditions_rule(p, c, "KET-PRECAUTION", "esketamine", ("esketamine_precautions",),
                            "weigh the benefit against the risk (blood pressure rise, psychoactive effects in the hour "
                            "after each dose) and monitor blood pressure before and after each dose")


@kit.rule("KET-DEPENDENCE", "program")
def ket_dependence(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine for a patient with a history of addiction (risk of dependence and misuse)."""
    return _conditions_rule(p, c, "KET-DEPENDENCE", "ketamine", ("dependence_conditions",),
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
    out += _esketamine_indication(p, c)
    return out


def _esketamine_indication(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    on_label, paired = c.lists["esketamine_on_label"], c.lists["esketamine_with_antidepressant"]
    out: list[Finding] = []
    courses_ = courses(p, c, "esketamine")
    if courses_ and p.indication in paired.value and p.patient.oral_antidepressant is None:
        out.append(Skipped("KET-INDICATION", "esketamine: whether an oral antidepressant is given is not said: add "
                                             "oral_antidepressant = true or false under [patient]"))
    for course in courses_:
        reasons, srcs = [], []
        if p.indication not in on_label.value:
            reasons.append(f"esketamine for {p.indication} is OFF LABEL: it is authorised for {', '.join(on_label.value)}")
            srcs.append(on_label)
        if p.indication in paired.value and p.patient.oral_antidepressant is False:
            reasons.append(f"esketamine for {p.indication} without an oral antidepressant: its label gives it with one")
            srcs.append(paired)
        if reasons:
            out.append(violation("KET-INDICATION", course[0], "esketamine", None, None, "", "; ".join(reasons), None,
                                 source="; ".join(x.source for x in srcs), verified=all(x.verified for x in srcs)))
    return out


def _benefit_review(p: ProgramFile, c: KetamineConfig, start: Administration, what: str, until: str,
                    past: bool, value: float) -> list[Finding]:
    """KET-NO-BENEFIT for one co-analgesia (an infusion or an oral course) going on past day 7
    (``past``) from ``start``: a review between day 5 and day 7 must record a benefit."""
    d_from, d_to = c.values["review_day_from"], c.values["review_day_to"]
    day0 = start.at.date()
    if not past:
        return []
    lo, hi = plus_days(day0, int(d_from.value)), plus_days(day0, int(d_to.value))
    window = [r for r in p.reviews if lo <= r.at <= hi]
    if any(r.benefit is True for r in window):
        return []
    head = f"the {what} started {day0.isoformat()} runs {until}"
    if not window:
        msg = (f"no review between day {d_from.value} and day {d_to.value} of the {what} started "
               f"{day0.isoformat()}: stop it if there is no benefit (book a review from {lo.isoformat()} to "
               f"{hi.isoformat()}; as written it runs {until})")
    elif any(r.benefit is False for r in window):
        r = next(r for r in window if r.benefit is False)
        msg = f"the review of {r.at.isoformat()} (day {day_of(r.at, day0)}) found no benefit, yet {head}: stop it"
    else:
        r = window[0]
        msg = (f"the review of {r.at.isoformat()} (day {day_of(r.at, day0)}) does not record whether there is a "
               f"benefit (benefit = true or false), and {head}: stop it if there is no benefit")
    return [violation("KET-NO-BENEFIT", start, "ketamine", value, float(d_to.value), "day", msg, d_to)]


@kit.rule("KET-NO-BENEFIT", "program")
def ket_no_benefit(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine co-analgesia going on past day 7 without a day 5-7 review that records a benefit."""
    d_to = int(c.values["review_day_to"].value)
    oral = c.lists["oral_routes"].value
    ends = effective_ends(p, "ketamine")
    out: list[Finding] = []
    for run in continuous_runs(p, "ketamine", exclude=oral):
        start, end = run[0], ends[run[-1].index]
        day0 = start.at.date()
        past = end > midnight(plus_days(day0, d_to + 1))
        out += _benefit_review(p, c, start, "ketamine infusion", f"until {clock(end)} (day {day_of(end, day0)})",
                               past, span_days(start.at, end))
    pain = c.lists["pain_indications"]
    for course in oral_courses(p, c):
        start, last = course[0], last_dose_day(course, ends)
        day0 = start.at.date()
        past = day_of(last, day0) > d_to
        if not past:
            continue
        if p.indication is None:
            out.append(Skipped("KET-NO-BENEFIT", f"the oral ketamine course started {day0.isoformat()} runs past day "
                                                 f"{d_to}, but no indication is given: an oral course is judged for the "
                                                 "pain indications only; add indication = \"...\""))
        elif p.indication in pain.value:
            out += _benefit_review(p, c, start, "oral ketamine course",
                                   f"with doses until {last.isoformat()} (day {day_of(last, day0)})", past,
                                   float(day_of(last, day0)))
    return out


def _outside(a: Administration, hosp: Sourced) -> bool:
    return a.setting not in hosp.value  # an absent setting is outside hospital


def _where(a: Administration) -> str:
    return f"at {a.setting}" if a.setting else "with no setting given"


@kit.rule("KET-SETTING", "program")
def ket_setting(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Ketamine sessions or courses started, or esketamine given, outside hospital; esketamine monitored too briefly."""
    hosp, parenteral, oral = c.lists["hospital_settings"], c.lists["parenteral_routes"], c.lists["oral_routes"]
    places = ", ".join(hosp.value)
    out: list[Finding] = []
    for a in of(p, "ketamine"):
        if not a.continuous and a.route in parenteral.value and _outside(a, hosp):
            out.append(violation("KET-SETTING", a, "ketamine", a.setting, "hospital", None,
                                 f"ketamine session {a.index} ({clock(a.at)}, {a.route}) {_where(a)}: a parenteral "
                                 f"ketamine session takes place in hospital ({places}), every time, under medical "
                                 "supervision", parenteral))
    starts = [(run[0], "continuous ketamine co-analgesia") for run in continuous_runs(p, "ketamine", exclude=oral.value)]
    starts += [(course[0], f"the {course[0].route} ketamine course") for course in oral_courses(p, c)]
    for course in courses(p, c, "ketamine"):
        for a, what in sorted((x for x in starts if x[0] in course), key=lambda x: x[0].index):
            if not _outside(a, hosp) or any(b.at < a.at and not _outside(b, hosp) for b in course):
                continue  # started in hospital (or after a hospital administration of the same course)
            out.append(violation("KET-SETTING", a, "ketamine", a.setting, "hospital", None,
                                 f"{what} started {_where(a)} ({clock(a.at)}): it is started in hospital "
                                 f"({places}) by a specialised team; home follow-up comes after", hosp))
    mon = c.values["esketamine_monitoring"]
    limit_min = to_minutes(float(mon.value))
    for a in of(p, "esketamine"):
        watched = a.monitoring or 0.0  # an absent monitoring is 0 min
        short = above(float(mon.value), watched)
        got = f"{to_minutes(watched):g} min of monitoring" if a.monitoring is not None else "no monitoring given"
        head = f"esketamine administration {a.index} ({clock(a.at)})"
        if _outside(a, hosp):
            why = f"{head} {_where(a)}, while esketamine is given only in hospital ({places})"
            if short:
                why += f"; {got} after the dose, less than {limit_min:g} min"
            out.append(violation("KET-SETTING", a, "esketamine", a.setting, "hospital", None, why, hosp))
        elif short:
            out.append(violation("KET-SETTING", a, "esketamine", to_minutes(watched), limit_min, "min",
                                 f"{head}: {got} after the dose, less than {limit_min:g} min", mon))
    return out


def _prolonged_or_repeated(course: list[Administration], p: ProgramFile, c: KetamineConfig,
                           ends: dict[int, dt.datetime]) -> list[str]:
    why = []
    long = float(c.values["prolonged_continuous"].value)
    for run in continuous_runs(p, "ketamine"):
        if run[0] in course and above(span_days(run[0].at, ends[run[-1].index]), long):
            why.append(f"continuous for {span_days(run[0].at, ends[run[-1].index]):g} days from "
                       f"{run[0].at.date().isoformat()} (more than {long:g})")
            break
    n = int(c.values["repeated_count"].value)
    if len(course) > n:
        why.append(f"{len(course)} administrations from {course[0].at.date().isoformat()} to "
                   f"{course[-1].at.date().isoformat()} (more than {n})")
    return why


@kit.rule("KET-MONITORING", "program")
def ket_monitoring(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """A prolonged or repeated ketamine course without liver and renal monitoring; an unmonitored IV session."""
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
    return _unmonitored_sessions(p, c, out)


def _unmonitored_sessions(p: ProgramFile, c: KetamineConfig, course_findings: list[Finding]) -> list[Finding]:
    """Add an unmonitored intravenous ketamine session (dose a mass, no ``monitoring`` or 0 min)
    to the findings: its reason joins the course's violation dated by the same administration."""
    routes = c.lists["monitored_session_routes"]
    out = list(course_findings)
    for a in of(p, "ketamine"):
        if a.continuous or a.route not in routes.value or (a.monitoring or 0.0) > 0.0:
            continue
        why = (f"{a.route} ketamine session {a.index} ({clock(a.at)}) with no monitoring recorded: vital signs are "
               "watched under medical supervision during and after each session (give monitoring = \"60 min\")")
        same = next((i for i, v in enumerate(out) if isinstance(v, Violation) and v.session == a.index), None)
        if same is not None:
            v = out[same]
            out[same] = dataclasses.replace(v, message=f"{v.message}; {why}", source=f"{v.source}; {routes.source}",
                                            verified=v.verified and routes.verified)
        else:
            out.append(violation("KET-MONITORING", a, "ketamine", 0.0, None, "min", why, routes))
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
