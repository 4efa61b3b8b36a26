"""The KET-* rules of ketamine and esketamine programs: one small pure function per rule.

Each rule reads a :class:`pumpsim.io.programs.ProgramFile` and a :class:`KetamineConfig` and
returns findings: :class:`pumpsim.rules.static.Violation` (the shape ``validate`` reports),
:class:`pumpsim.rules.static.Skipped` (a check that could not be made) and :class:`Note` (advice that
is no violation, e.g. a urine cytology the ANSM advises). No number is written here: the
thresholds, the lists and the templates come from ``data/ketamine.toml`` (each with its source
and verified flag), overridden by the ``[ketamine]`` section of a profile file.

Calendar conventions (docs/PROGRAMS.md): day k of an infusion or a course is the calendar date
of its first ``at`` plus k days (the start is day 0); "between day 5 and day 7" includes both
days. A course is the administrations of one drug with no gap longer than ``course_gap``
between the end of one and the start of the next. A continuous administration that starts
before the previous continuous one of the same drug ends replaces it from its ``at`` (a dose
change); such a chain is one infusion, judged from its first ``at``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pumpsim.io import library
from pumpsim.io.programs import CONDITIONS, INDICATIONS, ROUTES, SETTINGS, Administration, ProgramFile
from pumpsim.model import units
from pumpsim.model.errors import Problems, nearest
from pumpsim.model.table import Sourced, frozen_mapping
from pumpsim.model.tolerances import RTOL, above
from pumpsim.rules.kit import Skipped, Violation, catalogue

DAY = dt.timedelta(days=1)
MIN_PER_DAY = 1440.0
HOURS_PER_DAY = 24.0

#: [values] keys and their kind: "count" or the dimension of the quantity.
VALUE_KINDS: dict[str, Any] = {
    "review_day_from": "count", "review_day_to": "count",
    "prolonged_continuous": units.TIME, "repeated_count": "count", "repeated_window": units.TIME,
    "course_gap": units.TIME, "lab_interval": units.TIME, "esketamine_monitoring": units.TIME,
    "coanalgesia_start_max": units.DOSE_RATE_PER_WEIGHT, "coanalgesia_step_max": units.DOSE_RATE_PER_WEIGHT,
    "step_window": units.TIME, "iv_infusion_rate_max": units.DOSE_RATE_PER_WEIGHT, "iv_bolus_max": units.DOSE_PER_WEIGHT,
}
#: [lists] keys and the vocabulary their names come from.
LIST_VOCABULARY: dict[str, tuple[str, ...]] = {
    "contraindications": CONDITIONS, "dependence_conditions": CONDITIONS,
    "ketamine_routes": ROUTES, "esketamine_routes": ROUTES,
    "ketamine_on_label": INDICATIONS, "ketamine_recognised_off_label": INDICATIONS,
    "ketamine_experimental": INDICATIONS, "esketamine_on_label": INDICATIONS,
    "hospital_settings": SETTINGS,
}


@dataclass(frozen=True)
class Template:
    """A program template (data/ketamine.toml): what KET-PROGRAM compares a program with."""

    name: str
    title: str
    drug: str
    form: str  # "sessions" or "continuous"
    routes: tuple[str, ...]
    sessions_per_week: tuple[int, ...]  # week 1 first; () for continuous use
    after_plan: str  # "none": no session after the plan; "maintenance": sessions after it are not judged
    duration_min: float | None  # days
    duration_max: float | None
    review_after_session: int | None
    assessment_after_session: int | None
    psychiatric_evaluation: bool
    note: str
    source: str
    verified: bool


@dataclass(frozen=True)
class KetamineConfig:
    values: Mapping[str, Sourced]
    lists: Mapping[str, Sourced]
    templates: Mapping[str, Template]


@dataclass(frozen=True)
class Note:
    """Advice shown in the report that is not a violation (e.g. a urine cytology is advised)."""

    rule: str
    at: str | None
    message: str


Finding = Violation | Skipped | Note


# --------------------------------------------------------------------------- configuration
def _read_list(entry: Any, vocabulary: tuple[str, ...], field: str, probs: Problems) -> Sourced | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), list):
        probs.add(field, "expected { value = [names], source = \"...\", verified = true|false }",
                  f"write {field.rsplit('.', 1)[-1]} = {{ value = [...], source = \"...\", verified = false }}")
        return None
    for k in entry:
        if k not in ("value", "source", "verified"):
            probs.add(f"{field}.{k}", f"unknown key {k!r}", "keys are value, source, verified")
    bad = [x for x in entry["value"] if not isinstance(x, str) or x not in vocabulary]
    for x in bad:
        probs.add(f"{field}.value", f"unknown name {x!r}", nearest(str(x), vocabulary))
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        probs.add(f"{field}.source", "every value needs its source", "add source = \"where the list comes from\"")
    verified = entry.get("verified", False)
    if not isinstance(verified, bool):
        probs.add(f"{field}.verified", "must be true or false", "write verified = false")
    if bad or not isinstance(source, str) or not isinstance(verified, bool):
        return None
    return Sourced(tuple(entry["value"]), source, verified, ", ".join(entry["value"]))


def _read_section(section: Any, values: dict, lists: dict, prefix: str, probs: Problems) -> None:
    if not isinstance(section, dict):
        probs.add(prefix, "expected a table", f"write [{prefix}]")
        return
    for k in section:
        if k not in ("values", "lists"):
            probs.add(f"{prefix}.{k}", f"unknown key {k!r}", nearest(k, ("values", "lists")))
    for k, v in section.get("values", {}).items():
        if k not in VALUE_KINDS:
            probs.add(f"{prefix}.values.{k}", f"unknown key {k!r}", nearest(k, VALUE_KINDS))
            continue
        s = library._read_sourced(v, VALUE_KINDS[k], 1.0, f"{prefix}.values.{k}", probs, days=True)  # calendar days
        if s is not None:
            values[k] = s
    for k, v in section.get("lists", {}).items():
        if k not in LIST_VOCABULARY:
            probs.add(f"{prefix}.lists.{k}", f"unknown key {k!r}", nearest(k, LIST_VOCABULARY))
            continue
        s = _read_list(v, LIST_VOCABULARY[k], f"{prefix}.lists.{k}", probs)
        if s is not None:
            lists[k] = s


def _template(name: str, t: dict) -> Template:
    def dur(key: str) -> float | None:
        return units.parse_quantity(t[key], units.TIME) if key in t else None

    return Template(name, t["title"], t["drug"], t["form"], tuple(t["routes"]), tuple(t.get("sessions_per_week", ())),
                    t.get("after_plan", "none"), dur("duration_min"), dur("duration_max"), t.get("review_after_session"),
                    t.get("assessment_after_session"), bool(t.get("psychiatric_evaluation", False)), t.get("note", ""),
                    t["source"], bool(t["verified"]))


def build_config(section: Any = None, origin: str = "") -> KetamineConfig:
    """The shipped data, overridden by a profile file's ``[ketamine]`` section (validated:
    :class:`pumpsim.model.errors.InputError` naming ``ketamine.values.KEY`` in ``origin``)."""
    raw = library.ketamine_data()
    probs = Problems("<pumpsim>/data/ketamine.toml")
    values: dict[str, Sourced] = {}
    lists: dict[str, Sourced] = {}
    _read_section({"values": raw["values"], "lists": raw["lists"]}, values, lists, "ketamine", probs)
    probs.raise_if_any()
    if section:
        user = Problems(origin or "profile")
        _read_section(section, values, lists, "ketamine", user)
        user.raise_if_any()
    templates = {n: _template(n, t) for n, t in raw["templates"].items()}
    return KetamineConfig(frozen_mapping(values), frozen_mapping(lists), frozen_mapping(templates))


# --------------------------------------------------------------------------- helpers
def iso(t: dt.datetime | dt.date | None) -> str | None:
    if t is None:
        return None
    return t.isoformat(timespec="seconds") if isinstance(t, dt.datetime) else t.isoformat()


def _violation(rule: str, a: Administration | None, drug: str | None, value: float | None, limit: float | None,
               unit: str, message: str, src: Sourced | None, *, at: dt.datetime | None = None,
               source: str | None = None, verified: bool | None = None) -> Violation:
    when = at if at is not None else (a.at if a is not None else None)
    return Violation(rule, catalogue()[rule].severity, iso(when), drug, value, limit, unit, message,
                     source if source is not None else (src.source if src else ""),
                     verified if verified is not None else (src.verified if src else True),
                     a.index if a is not None else None)


def _minutes(days: float) -> float:
    """Days as minutes for a report, rounded to a microminute (60 min is 60, not 60.00000000000001)."""
    return round(days * MIN_PER_DAY, 6)


def _days(td: dt.timedelta) -> float:
    return td.total_seconds() / 86400.0


def _clock(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M")


def of(p: ProgramFile, agent: str) -> list[Administration]:
    return [a for a in p.administrations if a.agent == agent]


def effective_ends(p: ProgramFile, agent: str = "ketamine") -> dict[int, dt.datetime]:
    """End of each administration, a continuous one cut where the next continuous one of the
    same drug replaces it (a dose change)."""
    out: dict[int, dt.datetime] = {}
    cont = [a for a in of(p, agent) if a.continuous]
    for a in of(p, agent):
        out[a.index] = a.end
    for a, b in zip(cont, cont[1:]):
        if b.at <= a.end:
            out[a.index] = b.at
    return out


def continuous_runs(p: ProgramFile, agent: str = "ketamine") -> list[list[Administration]]:
    """Chains of continuous administrations, each starting before the previous one ends."""
    runs: list[list[Administration]] = []
    for a in (x for x in of(p, agent) if x.continuous):
        if runs and a.at <= runs[-1][-1].end:
            runs[-1].append(a)
        else:
            runs.append([a])
    return runs


def courses(p: ProgramFile, c: KetamineConfig, agent: str) -> list[list[Administration]]:
    """Administrations of one drug, split where the gap from one's end to the next's start is
    longer than ``course_gap``."""
    gap = float(c.values["course_gap"].value)
    ends = effective_ends(p, agent)
    out: list[list[Administration]] = []
    for a in of(p, agent):
        if out and not above(_days(a.at - max(ends[x.index] for x in out[-1])), gap):
            out[-1].append(a)
        else:
            out.append([a])
    return out


def _course_end(course: list[Administration], ends: dict[int, dt.datetime]) -> dt.datetime:
    return max(ends[a.index] for a in course)


# --------------------------------------------------------------------------- the rules
RuleFn = Callable[[ProgramFile, KetamineConfig], list[Finding]]
PROGRAM_RULES: dict[str, RuleFn] = {}


def program_rule(rule_id: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        assert rule_id in catalogue(), rule_id
        PROGRAM_RULES[rule_id] = fn
        return fn
    return register


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
        out.append(_violation(rule, a, "ketamine", None, None, "",
                              f"ketamine from {_clock(a.at)} for a patient with {', '.join(found)}: {what}", lst))
    return out


@program_rule("KET-CONTRAINDICATION")
def ket_contraindication(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    out = _conditions_rule(p, c, "KET-CONTRAINDICATION", "contraindications",
                           "a contraindication of ketamine; do not give it")
    if of(p, "esketamine"):
        out.append(Skipped("KET-CONTRAINDICATION", "esketamine: its own contraindications (Spravato EU SmPC) are not in "
                                                   "pumpsim's data; check them in the product information"))
    return out


@program_rule("KET-DEPENDENCE")
def ket_dependence(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    return _conditions_rule(p, c, "KET-DEPENDENCE", "dependence_conditions",
                            "risk of dependence and misuse; weigh it and watch for misuse")


@program_rule("KET-ROUTE")
def ket_route(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    out: list[Finding] = []
    for a in p.administrations:
        lst = c.lists[f"{a.agent}_routes"]
        if a.route not in lst.value:
            out.append(_violation("KET-ROUTE", a, a.agent, None, None, "",
                                  f"administration {a.index}: {a.agent} by the {a.route} route; "
                                  f"{a.agent} is given by {', '.join(lst.value)} only", lst))
    return out


@program_rule("KET-INDICATION")
def ket_indication(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
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
        out.append(_violation("KET-INDICATION", a, "ketamine", None, None, "", msg, src))
    for course in courses(p, c, "esketamine"):
        src = L["esketamine_on_label"]
        if ind not in src.value:
            out.append(_violation("KET-INDICATION", course[0], "esketamine", None, None, "",
                                  f"esketamine for {ind} is OFF LABEL: it is authorised for "
                                  f"{', '.join(src.value)}", src))
    return out


@program_rule("KET-NO-BENEFIT")
def ket_no_benefit(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    d_from, d_to = c.values["review_day_from"], c.values["review_day_to"]
    ends = effective_ends(p, "ketamine")
    out: list[Finding] = []
    for run in continuous_runs(p, "ketamine"):
        start = run[0]
        day0 = start.at.date()
        end = ends[run[-1].index]
        past = dt.datetime.combine(day0 + (int(d_to.value) + 1) * DAY, dt.time())
        if end <= past:
            continue
        lo, hi = day0 + int(d_from.value) * DAY, day0 + int(d_to.value) * DAY
        window = [r for r in p.reviews if lo <= r.at <= hi]
        if any(r.benefit is True for r in window):
            continue
        until = f"until {_clock(end)} (day {(end.date() - day0).days})"
        head = f"the ketamine infusion started {day0.isoformat()} runs {until}"
        if not window:
            msg = (f"no review between day {d_from.value} and day {d_to.value} of the ketamine infusion started "
                   f"{day0.isoformat()}: stop it if there is no benefit (book a review from {lo.isoformat()} to "
                   f"{hi.isoformat()}; as written it runs {until})")
        elif any(r.benefit is False for r in window):
            r = next(r for r in window if r.benefit is False)
            msg = (f"the review of {r.at.isoformat()} (day {(r.at - day0).days}) found no benefit, yet {head}: "
                   "stop the infusion")
        else:
            r = window[0]
            msg = (f"the review of {r.at.isoformat()} (day {(r.at - day0).days}) does not record whether there is a "
                   f"benefit (benefit = true or false), and {head}: stop it if there is no benefit")
        out.append(_violation("KET-NO-BENEFIT", start, "ketamine", _days(end - start.at), float(d_to.value), "day",
                              msg, d_to))
    return out


@program_rule("KET-SETTING")
def ket_setting(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    hosp = c.lists["hospital_settings"]
    mon = c.values["esketamine_monitoring"]
    out: list[Finding] = []
    for run in continuous_runs(p, "ketamine"):
        a = run[0]
        if a.setting not in hosp.value:
            where = f"at {a.setting}" if a.setting else "with no setting given"
            out.append(_violation("KET-SETTING", a, "ketamine", None, None, "",
                                  f"continuous ketamine co-analgesia started {where} ({_clock(a.at)}): it is started in "
                                  f"hospital ({', '.join(hosp.value)}) by a specialised team; home follow-up comes after",
                                  hosp))
    for a in of(p, "esketamine"):
        reasons = []
        if a.setting not in hosp.value:
            reasons.append(f"given {'at ' + a.setting if a.setting else 'with no setting given'}, "
                           f"while esketamine is given only in hospital ({', '.join(hosp.value)})")
        minutes = None if a.monitoring is None else _minutes(a.monitoring)
        limit_min = _minutes(float(mon.value))
        if a.monitoring is None or above(float(mon.value), a.monitoring):
            got = "no monitoring given" if minutes is None else f"{minutes:g} min of monitoring"
            reasons.append(f"{got} after the dose, less than {limit_min:g} min")
        if reasons:
            src = mon if (a.monitoring is None or above(float(mon.value), a.monitoring)) else hosp
            out.append(_violation("KET-SETTING", a, "esketamine", minutes, limit_min, "min",
                                  f"esketamine administration {a.index} ({_clock(a.at)}): " + "; ".join(reasons), src))
    return out


def _prolonged_or_repeated(course: list[Administration], p: ProgramFile, c: KetamineConfig,
                           ends: dict[int, dt.datetime]) -> list[str]:
    why = []
    long = float(c.values["prolonged_continuous"].value)
    for run in continuous_runs(p, "ketamine"):
        if run[0] in course and above(_days(ends[run[-1].index] - run[0].at), long):
            why.append(f"continuous for {_days(ends[run[-1].index] - run[0].at):g} days from {run[0].at.date().isoformat()} "
                       f"(more than {long:g})")
            break
    n, window = int(c.values["repeated_count"].value), float(c.values["repeated_window"].value)
    ats = [a.at for a in course]
    for i, t in enumerate(ats):
        inside = [u for u in ats[i:] if _days(u - t) < window * (1 - RTOL)]
        if len(inside) > n:
            why.append(f"{len(inside)} administrations within {window:g} days from {t.date().isoformat()} (more than {n})")
            break
    return why


@program_rule("KET-MONITORING")
def ket_monitoring(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    interval = c.values["lab_interval"]
    step = float(interval.value)
    ends = effective_ends(p, "ketamine")
    out: list[Finding] = []
    for course in courses(p, c, "ketamine"):
        why = _prolonged_or_repeated(course, p, c, ends)
        if not why:
            continue
        first, last = course[0].at.date(), _course_end(course, ends).date()
        reasons, worst, unit, limit = [], 0.0, "day", step
        for kind, words in (("liver", "liver tests (transaminases, GGT, ALP, bilirubin)"), ("renal", "renal function")):
            dates = sorted({lab.at for lab in p.labs if lab.kind == kind and first <= lab.at <= last})
            if not dates:
                reasons.append(f"no {words} during the course ({first.isoformat()} to {last.isoformat()})")
                unit, limit = "labs", 1.0
                continue
            points = [first, *dates, last]
            for x, y in zip(points, points[1:]):
                gap = (y - x).days
                if above(gap, step):
                    reasons.append(f"{words}: {gap} days without one from {x.isoformat()} to {y.isoformat()} "
                                   f"(at most {step:g})")
                    worst = max(worst, gap)
        if not reasons:
            continue
        if not any(lab.kind == "urine-cytology" and first <= lab.at <= last for lab in p.labs):
            reasons.append("no urine cytology either (advised by the ANSM)")
        value = 0.0 if unit == "labs" else worst
        out.append(_violation("KET-MONITORING", course[0], "ketamine", value, limit, unit,
                              f"ketamine course from {first.isoformat()} is prolonged or repeated "
                              f"({'; '.join(why)}): " + "; ".join(reasons), interval))
    judged = {v.at for v in out if isinstance(v, Violation)}
    for course in courses(p, c, "ketamine"):
        if iso(course[0].at) in judged or not _prolonged_or_repeated(course, p, c, ends):
            continue  # a violation of this course already names a missing cytology
        first, last = course[0].at.date(), _course_end(course, ends).date()
        if not any(lab.kind == "urine-cytology" and first <= lab.at <= last for lab in p.labs):
            out.append(Note("KET-MONITORING", iso(course[0].at),
                            f"no urine cytology during the ketamine course from {first.isoformat()}: the ANSM advises it "
                            "with liver tests and renal function after prolonged or repeated use"))
    return out


@program_rule("KET-INCOMPATIBLE")
def ket_incompatible(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    out: list[Finding] = []
    for a in p.administrations:
        hits = [inc for inc in library.drug_library().incompatibilities if inc.drugs <= set(a.drugs)]
        if hits:
            pair = sorted(set().union(*(inc.drugs for inc in hits)))
            out.append(_violation("KET-INCOMPATIBLE", a, "+".join(pair), None, None, "",
                                  f"administration {a.index} puts {' and '.join(pair)} in one syringe or line: "
                                  "never mix them; use separate lines", None,
                                  source="; ".join(inc.source for inc in hits), verified=all(inc.verified for inc in hits)))
    return out


@program_rule("KET-DOSE")
def ket_dose(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
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
                    out.append(_violation("KET-DOSE", a, "ketamine", per_kg, float(start_max.value), "mg/kg/day",
                                          f"continuous ketamine started at {a.dose:g} mg/day = {per_kg:.4g} mg/kg/day for "
                                          f"{w:g} kg, above the start of {start_max.text}", start_max))
                continue
            since = a.at - dt.timedelta(days=window)
            base = min(b.dose for b in run[:i] if ends[b.index] > since)
            rise = (a.dose - base) / w
            if above(rise, float(step_max.value)):
                out.append(_violation("KET-DOSE", a, "ketamine", rise, float(step_max.value), "mg/kg/day",
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
                out.append(_violation("KET-DOSE", a, "ketamine", per_h, lim, "mg/kg/h",
                                      f"IV infusion {a.index}: {a.dose:g} mg over {_minutes(a.duration):g} min for {w:g} kg "
                                      f"is {per_h:.4g} mg/kg/h, above {rate_max.text}", rate_max))
        elif above(a.dose / w, float(bolus_max.value)):
            out.append(_violation("KET-DOSE", a, "ketamine", a.dose / w, float(bolus_max.value), "mg/kg",
                                  f"IV bolus {a.index}: {a.dose:g} mg at once for {w:g} kg is {a.dose / w:.4g} mg/kg, above "
                                  f"{bolus_max.text} (give a duration if it is an infusion)", bolus_max))
    out.sort(key=lambda f: f.session or 0 if isinstance(f, Violation) else 0)
    return out


def _session_reasons(t: Template, mine: list[Administration], p: ProgramFile) -> list[str]:
    reasons = []
    day0 = mine[0].at.date()
    weeks: dict[int, int] = {}
    for a in mine:
        k = (a.at.date() - day0).days // 7 + 1
        weeks[k] = weeks.get(k, 0) + 1
    plan = t.sessions_per_week
    for k, want in enumerate(plan, start=1):
        got = weeks.get(k, 0)
        if got != want:
            lo = day0 + (k - 1) * 7 * DAY
            reasons.append(f"week {k} ({lo.isoformat()} to {(lo + 6 * DAY).isoformat()}) holds {got} session(s), "
                           f"the template {want}")
    extra = sum(n for k, n in weeks.items() if k > len(plan))
    if extra and t.after_plan == "none":
        reasons.append(f"{extra} session(s) after week {len(plan)}, which the template does not hold")
    if t.duration_min is not None and t.duration_max is not None:
        lo_m, hi_m = _minutes(t.duration_min), _minutes(t.duration_max)
        for a in mine:
            if a.duration is None:
                reasons.append(f"session {a.index} has no duration (the template: {lo_m:g}-{hi_m:g} min)")
            elif above(t.duration_min, a.duration) or above(a.duration, t.duration_max):
                reasons.append(f"session {a.index} lasts {_minutes(a.duration):g} min, outside {lo_m:g}-{hi_m:g} min")
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


@program_rule("KET-PROGRAM")
def ket_program(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
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
    return [_violation("KET-PROGRAM", mine[0] if mine else p.administrations[0], t.drug,
                       float(len(sessions)) if planned is not None else None, planned,
                       "sessions" if planned is not None else "",
                       f"the program does not follow the template {t.name}: " + "; ".join(reasons), None,
                       source=t.source, verified=t.verified)]


def run_rules(p: ProgramFile, c: KetamineConfig) -> list[Finding]:
    """Every KET rule, in catalogue order."""
    out: list[Finding] = []
    for rid in catalogue():
        fn = PROGRAM_RULES.get(rid)
        if fn is not None:
            out.extend(fn(p, c))
    return out
