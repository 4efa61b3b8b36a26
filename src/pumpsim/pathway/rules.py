"""``pumpsim pathway``: a patient's file against the care pathway of the regional reference
(docs/RULES.md §5, FORMAT.md §7), steps 1 to 10: indication, contraindications, the file's labs and
imaging, the delays between the steps, the drugs stopped before surgery, the device for the life
expectancy, the first-refill appointment; with a programming table, the table's device, the first
intrathecal morphine dose and the pump's low-alarm date.

One small pure function per rule. No threshold is written here: each is a
:class:`pumpsim.model.table.Sourced` of the profile's ``[pathway]`` section (or ``general`` for
OPIOID-CONVERSION), and its source and verified flag travel with the violation. A rule whose
field (or threshold) is absent returns a :class:`pumpsim.rules.static.Skipped`: it is not a pass.

Counting days (FORMAT.md §7): a day is a calendar day; intervals are counted date to date
(2027-01-05 to 2027-01-12 is 7 days). A limit written in hours in the profile ("48 h") is
compared exactly when both instants are date-times, else in calendar days (48 h: at least two
calendar days).
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pumpsim._version import __version__
from pumpsim.io import library
from pumpsim.io.patient import Day, PatientFile, Treatment
from pumpsim.model.table import Profile, Sourced, Table
from pumpsim.model.timebase import as_date
from pumpsim.model.tolerances import above
from pumpsim.rules.kit import Finding, Judged, Skipped, Violation

PATHWAY_SCHEMA = "pumpsim.pathway/1"
_HOURS_RE = re.compile(r"^\s*[0-9._eE+-]+\s*(h|min)\s*$")


# --------------------------------------------------------------------------- the catalogue
@dataclass(frozen=True)
class PathRule:
    id: str
    severity: str
    checks: str
    source: str  # the reference and its section, for rules without a numeric threshold


@functools.cache
def catalogue() -> dict[str, PathRule]:
    """The PATH rules and OPIOID-CONVERSION of ``data/pathway.toml``, in pathway order."""
    vocab = library.pathway_vocabulary()
    ref = vocab["source"]
    return {r["id"]: PathRule(r["id"], r["severity"], r["checks"], f"{ref}, {r['section']}") for r in vocab["rule"]}


# --------------------------------------------------------------------------- the inputs
def programmed_low_alarm_at(table: Table, programmed=None) -> dt.datetime | None:
    """The table's programmed-case low-alarm instant: exact pump, every bolus the policy allows as
    early as it allows (FORMAT.md §3, ``reservoir.programmed.low_alarm_at``); None if never within
    the horizon or the device has no low-alarm volume. The one place that asks the simulator, unless
    ``programmed`` (the programmed case :func:`pumpsim.rules.validate.validate` computed) is given."""
    from pumpsim.model.results import Scenario
    from pumpsim.sim import simulation

    if programmed is None:
        programmed = simulation.simulate(table, Scenario.programmed())
    t = programmed.low_alarm_at
    return None if t is None else table.datetime_at(t)


@dataclass(frozen=True)
class Context:
    """What the rules read: the patient file, the profile, and optionally a table and its low alarm."""

    patient: PatientFile
    profile: Profile
    table: Table | None = None
    low_alarm_at: dt.datetime | None = None


def context(patient: PatientFile, profile: Profile, table: Table | None = None, programmed=None) -> Context:
    return Context(patient, profile, table, programmed_low_alarm_at(table, programmed) if table is not None else None)


# --------------------------------------------------------------------------- helpers
def iso(d: Day | None) -> str | None:
    if d is None:
        return None
    return d.isoformat(timespec="seconds") if isinstance(d, dt.datetime) else d.isoformat()


def days_between(a: Day, b: Day, limit: Sourced | None = None) -> float:
    """Days from ``a`` to ``b`` (negative if ``b`` is earlier): calendar dates, date to date; exact
    when ``limit`` is written in hours or minutes and both are date-times."""
    if limit is not None and isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and _HOURS_RE.match(limit.text):
        return (b - a).total_seconds() / 86400.0
    return float((as_date(b) - as_date(a)).days)


def below(value: float, limit: float) -> bool:
    """Strictly below ``limit``, beyond the relative tolerance of FORMAT.md §4."""
    return value < limit - 1e-9 * abs(limit)


def _n(x: float) -> str:
    return f"{x:.6g}"


def _days(x: float) -> str:
    return f"{_n(x)} day" + ("" if abs(x) == 1 else "s")


def _th(ctx: Context, key: str) -> Sourced | None:
    return None if ctx.profile.pathway is None else ctx.profile.pathway.get(key)


class _Missing(Exception):
    """A threshold the profile does not give (internal: becomes a Skipped)."""


def _need(ctx: Context, *keys: str) -> list[Sourced]:
    out = []
    for k in keys:
        s = _th(ctx, k)
        if s is None:
            raise _Missing(k)
        out.append(s)
    return out


def _violation(rule: str, at: Day | None, value: float | None, limit: Sourced | None, unit: str, reasons: list[str],
               drug: str | None = None, limit_value: float | None = None) -> Violation:
    info = catalogue()[rule]
    numeric = limit is not None and isinstance(limit.value, (int, float))
    lv = limit_value if limit_value is not None else (float(limit.value) if numeric else None)
    return Violation(rule, info.severity, iso(at), drug, None if value is None else float(value), lv, unit,
                     "; ".join(reasons), limit.source if limit is not None else info.source,
                     limit.verified if limit is not None else True)


def _result(rule: str, fired: Violation | None, missing: list[str]) -> list[Finding]:
    """A violation when the rule fired; else the parts that could not be judged, if any."""
    if fired is not None:
        return [fired]
    if missing:
        return [Skipped(rule, "; ".join(missing))]
    return []


def _last(t: Treatment) -> str:
    return "still taken (no last_dose)" if t.last_dose is None else f"last taken {iso(t.last_dose)}"


RuleFn = Callable[[Context], list[Finding]]
RULES: dict[str, RuleFn] = {}


def rule(rule_id: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        assert rule_id in catalogue(), rule_id
        RULES[rule_id] = fn
        return fn
    return register


# --------------------------------------------------------------------------- step 1: indication
def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


@rule("PATH-INDICATION")
def path_indication(ctx: Context) -> list[Finding]:
    (lim,) = _need(ctx, "indication_ome")
    p = ctx.patient
    ome_high = None if p.oral_morphine_equivalent is None else above(p.oral_morphine_equivalent, lim.value)
    second = _or3(ome_high, p.severe_adverse_effects)
    met = _and3(p.refractory_pain, second)
    if met is True:
        return []
    if met is None:
        missing = [f for f, v in (("patient.refractory_pain", p.refractory_pain),
                                  ("patient.oral_morphine_equivalent", p.oral_morphine_equivalent),
                                  ("patient.severe_adverse_effects", p.severe_adverse_effects)) if v is None]
        return [Skipped("PATH-INDICATION", f"not given: {', '.join(missing)}")]
    reasons = []
    if p.refractory_pain is False:
        reasons.append("the pain is not refractory to a well-conducted systemic treatment")
    if second is False:
        reasons.append(f"oral morphine equivalent {_n(p.oral_morphine_equivalent)} mg/day is not above "
                       f"{_n(lim.value)} mg/day and there are no severe adverse effects of systemic analgesics")
    return [_violation("PATH-INDICATION", None, p.oral_morphine_equivalent, lim, "mg/day",
                       ["indication not met: " + reasons[0], *reasons[1:]])]


def _conditions_words(names: list[str]) -> str:
    words = library.pathway_vocabulary()["conditions"]
    return ", ".join(f"{c} ({words[c]['words']})" for c in names)


@rule("PATH-CONTRAINDICATION")
def path_contraindication(ctx: Context) -> list[Finding]:
    (lim,) = _need(ctx, "absolute_contraindications")
    cond = ctx.patient.conditions
    if cond is None:
        return [Skipped("PATH-CONTRAINDICATION", "patient.conditions not given (unknown; write conditions = [] for none)")]
    found = [c for c in cond if c in lim.value]
    if not found:
        return []
    return [_violation("PATH-CONTRAINDICATION", None, None, lim, "",
                       [f"absolute contraindication: {_conditions_words(found)}"])]


@rule("PATH-RELATIVE")
def path_relative(ctx: Context) -> list[Finding]:
    rel, before = _need(ctx, "relative_contraindications", "anti_angiogenic_before_review")
    p = ctx.patient
    reasons: list[str] = []
    missing: list[str] = []
    value = limit = None
    if p.conditions is None:
        missing.append("patient.conditions not given (unknown; write conditions = [] for none)")
    else:
        found = [c for c in p.conditions if c in rel.value]
        if found:
            reasons.append(f"relative contraindication to weigh (benefit/risk): {_conditions_words(found)}")
    review = p.date("review")
    for t in p.treatments_of("anti-angiogenic"):
        if t.last_dose is None:
            reasons.append(f"anti-angiogenic treatment[{t.index}] still taken: oncology opinion needed")
        elif review is None:
            missing.append(f"anti-angiogenic treatment[{t.index}]: no dates.review to count {_n(before.value)} days from")
        else:
            gap = days_between(t.last_dose, review, before)
            if below(gap, before.value):
                reasons.append(f"anti-angiogenic treatment[{t.index}] last taken {iso(t.last_dose)}, {_days(gap)} before "
                               f"the review (less than {_n(before.value)}): oncology opinion needed")
                value, limit = gap, before
    if not reasons:
        return _result("PATH-RELATIVE", None, missing)
    src = limit if limit is not None and len(reasons) == 1 else rel
    return [_violation("PATH-RELATIVE", review if limit is not None else None, value, src,
                       "day" if value is not None else "", reasons,
                       limit_value=None if value is None else float(before.value))]


# --------------------------------------------------------------------------- step 2: the file
LAB_WORDS = {"neutrophils": "neutrophils", "platelets": "platelets"}
IMAGING_WORDS = {"ct_thorax_abdomen_pelvis": "thorax-abdomen-pelvis CT with the spine", "brain": "brain CT or MRI"}


@rule("PATH-LAB-VALUE")
def path_lab_value(ctx: Context) -> list[Finding]:
    lims = dict(zip(("neutrophils", "platelets"), _need(ctx, "neutrophils_min", "platelets_min")))
    reasons, missing = [], []
    first: tuple[float, Sourced] | None = None
    for name, lim in lims.items():
        lab = ctx.patient.lab(name)
        if lab is None:
            missing.append(f"labs.{name} not given")
        elif not above(lab.value, lim.value):
            reasons.append(f"{name} {_n(lab.value)} /mm3 is not above {_n(lim.value)} /mm3")
            first = first or (lab.value, lim)
    if first is None:
        return _result("PATH-LAB-VALUE", None, missing)
    return [_violation("PATH-LAB-VALUE", None, first[0], first[1], "/mm3", reasons)]


def _age_rule(ctx: Context, rule_id: str, key: str, items: list[tuple[str, Day | None, str]]) -> list[Finding]:
    (lim,) = _need(ctx, key)
    review = ctx.patient.date("review")
    if review is None:
        return [Skipped(rule_id, "dates.review not given: the age of the file's results is counted at the review")]
    reasons, missing = [], []
    first = None
    for name, when, words in items:
        if when is None:
            missing.append(f"{name} not given")
            continue
        age = days_between(when, review, lim)
        if above(age, lim.value):
            reasons.append(f"{words} of {iso(when)} is {_days(age)} old at the review (limit {_n(lim.value)})")
            first = first if first is not None else age
    if first is None:
        return _result(rule_id, None, missing)
    return [_violation(rule_id, review, first, lim, "day", reasons)]


@rule("PATH-LAB-AGE")
def path_lab_age(ctx: Context) -> list[Finding]:
    items = []
    for name in ("neutrophils", "platelets"):
        lab = ctx.patient.lab(name)
        items.append((f"labs.{name}.at" if lab is not None else f"labs.{name}", None if lab is None else lab.at,
                      f"the {name} count"))
    return _age_rule(ctx, "PATH-LAB-AGE", "lab_max_age", items)


@rule("PATH-IMAGING-AGE")
def path_imaging_age(ctx: Context) -> list[Finding]:
    img = dict(ctx.patient.imaging)
    items = [(f"imaging.{k}", img.get(k), f"the {w}") for k, w in IMAGING_WORDS.items()]
    return _age_rule(ctx, "PATH-IMAGING-AGE", "imaging_max_age", items)


# --------------------------------------------------------------------------- steps 3-5: the delays
def _delay_rule(ctx: Context, rule_id: str, frm: str, to: str, low_key: str | None, high_key: str | None,
                what: str, anchor: str) -> list[Finding]:
    keys = [k for k in (low_key, high_key) if k is not None]
    lims = dict(zip(keys, _need(ctx, *keys)))
    a, b = ctx.patient.date(frm), ctx.patient.date(to)
    missing = [f"dates.{k} not given" for k, v in ((frm, a), (to, b)) if v is None]
    if a is None or b is None:
        return [Skipped(rule_id, "; ".join(missing))]
    low = lims.get(low_key) if low_key else None
    high = lims.get(high_key) if high_key else None
    said = f"{what} on {iso(b)}, {{}} after {anchor} ({iso(a)})"
    if low is not None:
        d = days_between(a, b, low)
        if below(d, low.value):
            return [_violation(rule_id, b, d, low, "day", [said.format(_days(d)) + f"; at least {_n(low.value)} days"])]
    if high is not None:
        d = days_between(a, b, high)
        if above(d, high.value):
            return [_violation(rule_id, b, d, high, "day", [said.format(_days(d)) + f"; at most {_n(high.value)} days"])]
    return []


@rule("PATH-REVIEW-DELAY")
def path_review_delay(ctx: Context) -> list[Finding]:
    return _delay_rule(ctx, "PATH-REVIEW-DELAY", "file_complete", "review", None, "review_max_delay",
                       "multidisciplinary review", "the complete file")


@rule("PATH-CONSULT-DELAY")
def path_consult_delay(ctx: Context) -> list[Finding]:
    return _delay_rule(ctx, "PATH-CONSULT-DELAY", "review", "algology_consult", None, "algology_max_delay",
                       "algology consultation", "the review")


@rule("PATH-SURGERY-WINDOW")
def path_surgery_window(ctx: Context) -> list[Finding]:
    return _delay_rule(ctx, "PATH-SURGERY-WINDOW", "algology_consult", "surgery", "surgery_min_delay",
                       "surgery_max_delay", "surgery", "the algology consultation")


@rule("PATH-ANAESTHESIA")
def path_anaesthesia(ctx: Context) -> list[Finding]:
    (lim,) = _need(ctx, "anaesthesia_min_before")
    a, s = ctx.patient.date("anaesthesia_consult"), ctx.patient.date("surgery")
    if a is None or s is None:
        return [Skipped("PATH-ANAESTHESIA", "; ".join(f"dates.{k} not given" for k, v in
                                                       (("anaesthesia_consult", a), ("surgery", s)) if v is None))]
    d = days_between(a, s, lim)
    if not below(d, lim.value):
        return []
    return [_violation("PATH-ANAESTHESIA", s, d, lim, "day",
                       [f"anaesthesia consultation {iso(a)} is {_days(d)} before surgery; at least {_n(lim.value)} days "
                        "(the same day as the algology consultation where possible)"])]


# --------------------------------------------------------------------------- step 4: treatments stopped
def _stop_reasons(ctx: Context, treatments: list[Treatment], lim: Sourced, words: str) -> tuple[list[str], float | None]:
    """Reasons for treatments taken later than ``lim`` days before surgery (the surgery date is given)."""
    s = ctx.patient.date("surgery")
    assert s is not None
    reasons: list[str] = []
    first = None
    for t in treatments:
        if t.last_dose is None:
            reasons.append(f"{t.drug} (treatment[{t.index}]) still taken; {words} {_n(lim.value)} days before surgery")
            continue
        gap = days_between(t.last_dose, s, lim)
        if below(gap, lim.value):
            dose = f" {_n(t.dose)} mg/day" if t.dose is not None else ""
            reasons.append(f"{t.drug}{dose} (treatment[{t.index}]) last taken {iso(t.last_dose)}, {_days(gap)} before surgery; "
                           f"{words} {_n(lim.value)} days before")
            first = gap if first is None else first
    return reasons, first


def _stop_rule(ctx: Context, rule_id: str, treatments: list[Treatment], key: str, words: str,
               missing: list[str] | None = None) -> list[Finding]:
    if not treatments:
        return _result(rule_id, None, missing or [])
    (lim,) = _need(ctx, key)
    s = ctx.patient.date("surgery")
    if s is None:
        return [Skipped(rule_id, f"dates.surgery not given: {', '.join(sorted({t.drug for t in treatments}))} "
                                 "cannot be timed against it")]
    reasons, gap = _stop_reasons(ctx, treatments, lim, words)
    if not reasons:
        return _result(rule_id, None, missing or [])
    return [_violation(rule_id, s, gap, lim, "day", reasons, drug=treatments[0].drug)]


@rule("PATH-METHADONE")
def path_methadone(ctx: Context) -> list[Finding]:
    meth = ctx.patient.treatments_of("methadone")
    if not meth:
        return []
    stop, admit = _need(ctx, "methadone_stop_before", "methadone_admission_before")
    s, adm = ctx.patient.date("surgery"), ctx.patient.date("admission")
    if s is None:
        return [Skipped("PATH-METHADONE", "dates.surgery not given: methadone cannot be timed against it")]
    reasons, gap = _stop_reasons(ctx, meth, stop, "stop at least")
    lim = stop
    missing = []
    if adm is None:
        missing.append(f"dates.admission not given: a methadone patient is admitted {_n(admit.value)} days before surgery")
    else:
        d = days_between(adm, s, admit)
        if below(d, admit.value):
            reasons.append(f"a methadone patient admitted {iso(adm)}, {_days(d)} before surgery; at least {_n(admit.value)} days")
            if gap is None:
                gap, lim = d, admit
    if not reasons:
        return _result("PATH-METHADONE", None, missing)
    return [_violation("PATH-METHADONE", s, gap, lim, "day", reasons, drug="methadone")]


@rule("PATH-OPIOID-STOP")
def path_opioid_stop(ctx: Context) -> list[Finding]:
    return _stop_rule(ctx, "PATH-OPIOID-STOP", ctx.patient.treatments_of("other-opioid"), "other_opioid_stop_before",
                      "relay by IV PCA; stop at least")


@rule("PATH-ANTIPLATELET")
def path_antiplatelet(ctx: Context) -> list[Finding]:
    aspirin = ctx.patient.treatments_of("aspirin")
    judged: list[Treatment] = list(ctx.patient.treatments_of("clopidogrel"))
    missing: list[str] = []
    if aspirin:
        (cont,) = _need(ctx, "aspirin_max_continued")
        for t in aspirin:
            if t.dose is None:
                missing.append(f"treatment[{t.index}].dose not given: aspirin up to {_n(cont.value)} mg/day may continue")
            elif above(t.dose, cont.value):
                judged.append(t)
    judged.sort(key=lambda t: t.index)
    return _stop_rule(ctx, "PATH-ANTIPLATELET", judged, "antiplatelet_stop_before", "stop at least", missing)


@rule("PATH-ANTICOAGULANT")
def path_anticoagulant(ctx: Context) -> list[Finding]:
    return _stop_rule(ctx, "PATH-ANTICOAGULANT", ctx.patient.treatments_of("lmwh"), "lmwh_stop_before", "stop at least")


@rule("PATH-CHEMO")
def path_chemo(ctx: Context) -> list[Finding]:
    return _stop_rule(ctx, "PATH-CHEMO", ctx.patient.treatments_of("chemotherapy"), "chemo_stop_before",
                      "stop at least")


@rule("PATH-CHEMO-RESUME")
def path_chemo_resume(ctx: Context) -> list[Finding]:
    chemo = ctx.patient.treatments_of("chemotherapy")
    if not chemo:
        return []
    low, high = _need(ctx, "chemo_resume_min", "chemo_resume_max")
    s = ctx.patient.date("surgery")
    if s is None:
        return [Skipped("PATH-CHEMO-RESUME", "dates.surgery not given: the chemotherapy restart cannot be timed")]
    reasons, missing = [], []
    first = None
    for t in chemo:
        if t.resume is None:
            missing.append(f"treatment[{t.index}].resume not given")
            continue
        d = days_between(s, t.resume, low)
        if below(d, low.value) or above(d, high.value):
            reasons.append(f"chemotherapy (treatment[{t.index}]) resumed {iso(t.resume)}, {_days(d)} after surgery; "
                           f"between {_n(low.value)} and {_n(high.value)} days, healing permitting")
            first = first or (d, low if below(d, low.value) else high)
    if first is None:
        return _result("PATH-CHEMO-RESUME", None, missing)
    return [_violation("PATH-CHEMO-RESUME", s, first[0], first[1], "day", reasons, drug="chemotherapy")]


@rule("PATH-CORTICOSTEROID")
def path_corticosteroid(ctx: Context) -> list[Finding]:
    cs = ctx.patient.treatments_of("corticosteroid")
    if not cs:
        return []
    s = ctx.patient.date("surgery")
    if s is None:
        return [Skipped("PATH-CORTICOSTEROID", "dates.surgery not given: the corticosteroid cannot be timed against it")]
    reasons = [f"corticosteroid (treatment[{t.index}]) {_last(t)}, taken at surgery ({iso(s)}): stop or taper where "
               "possible (healing, infection)" for t in cs if t.last_dose is None or as_date(t.last_dose) >= as_date(s)]
    if not reasons:
        return []
    return [_violation("PATH-CORTICOSTEROID", s, None, None, "", reasons, drug="corticosteroid")]


# --------------------------------------------------------------------------- the device, steps 3 and 8
def _table_kind(table: Table) -> str | None:
    for kind, entry in library.pathway_vocabulary()["device_kinds"].items():
        if table.device.kind in entry["library_kinds"]:
            return kind
    return None


@rule("PATH-DEVICE")
def path_device(ctx: Context) -> list[Finding]:
    (lim,) = _need(ctx, "device_life_expectancy")
    p = ctx.patient
    kind = p.device_kind
    reasons: list[str] = []
    missing: list[str] = []
    if ctx.table is not None:
        tk = _table_kind(ctx.table)
        if kind is not None and tk != kind:
            reasons.append(f"the table's device {ctx.table.device.model} ({ctx.table.device.kind}) is not a {kind}")
        kind = kind or tk
    if kind is None:
        missing.append("device.kind not given")
    if p.life_expectancy is None:
        missing.append("patient.life_expectancy not given")
    elif kind is not None:
        months = f"{_n(lim.value)} days"
        if kind == "port-external-pump" and above(p.life_expectancy, lim.value):
            reasons.append(f"life expectancy {_n(p.life_expectancy)} days is above {months}: an implanted pump, "
                           "not a port with an external pump")
        elif kind == "implanted-pump" and below(p.life_expectancy, lim.value):
            reasons.append(f"life expectancy {_n(p.life_expectancy)} days is below {months}: a port with an external "
                           "pump, not an implanted pump")
    if not reasons:
        return _result("PATH-DEVICE", None, missing)
    return [_violation("PATH-DEVICE", None, p.life_expectancy, lim, "day", reasons)]


@rule("PATH-FIRST-REFILL")
def path_first_refill(ctx: Context) -> list[Finding]:
    p = ctx.patient
    s, appt = p.date("surgery"), p.date("first_refill_appointment")
    if s is None:
        return [Skipped("PATH-FIRST-REFILL", "dates.surgery not given: the appointment due before discharge is not judged")]
    if appt is None:
        return [_violation("PATH-FIRST-REFILL", s, None, None, "",
                           ["no first-refill appointment (dates.first_refill_appointment) given before discharge"])]
    if ctx.table is None:
        return [Skipped("PATH-FIRST-REFILL", "no --table: the appointment is not compared with the pump's low-alarm date")]
    alarm = ctx.low_alarm_at
    if alarm is None or as_date(appt) <= as_date(alarm):
        return []
    d_appt, d_alarm = days_between(s, appt), days_between(s, alarm)
    return [_violation("PATH-FIRST-REFILL", appt, d_appt, None, "day", [
        f"first-refill appointment {iso(appt)} ({_days(d_appt)} after surgery) is later than the pump's programmed-case "
        f"low alarm on {as_date(alarm).isoformat()} ({_days(d_alarm)} after surgery)"], limit_value=d_alarm)]


@rule("OPIOID-CONVERSION")
def opioid_conversion(ctx: Context) -> list[Finding]:
    table = ctx.table
    if table is None:
        return [Skipped("OPIOID-CONVERSION", "no --table: no intrathecal morphine dose to compare with the oral dose")]
    first = next((pr for pr in table.programs if "morphine" in dict(pr.mix)), None)
    if first is None:
        return []
    if table.device.route != "intrathecal":
        return [Skipped("OPIOID-CONVERSION", f"the table's route is {table.device.route}, not intrathecal")]
    ome = ctx.patient.oral_morphine_equivalent
    if ome is None:
        ome = table.patient.prior_oral_morphine
    if ome is None:
        return [Skipped("OPIOID-CONVERSION", "neither patient.oral_morphine_equivalent nor the table's "
                                             "patient.prior_oral_morphine is given")]
    ratio = ctx.profile.general["oral_to_intrathecal"]
    ceiling = ome / float(ratio.value)
    dose = first.daily_dose("morphine")
    if not above(dose, ceiling):
        return []
    at = first.session.at
    return [_violation("OPIOID-CONVERSION", at, dose, ratio, "mg/day", [
        f"first intrathecal morphine {_n(dose)} mg/day (session[{first.session.index}]) is above the oral morphine "
        f"equivalent {_n(ome)} mg/day / {_n(float(ratio.value))} = {_n(ceiling)} mg/day"], drug="morphine",
        limit_value=ceiling)]


# --------------------------------------------------------------------------- the timeline
@dataclass(frozen=True)
class TimelineStep:
    """One date of the pathway, with the delay to its anchor and the allowed range of that delay.

    ``delay`` [day] is counted from ``anchor`` to ``at`` for ``relation == "after"``, from ``at`` to
    ``anchor`` for ``"before"``; ``low``/``high`` bound it (None: open); ``ok`` is None without bounds.
    """

    at: Day
    what: str
    anchor: Day | None = None
    anchor_what: str = ""
    relation: str = ""  # "after" | "before" | ""
    delay: float | None = None
    low: float | None = None
    high: float | None = None
    rule: str | None = None
    ok: bool | None = None

    def window(self) -> tuple[dt.date | None, dt.date | None]:
        """The dates where ``at`` may fall (None: open), from the anchor and the bounds."""
        if self.anchor is None or (self.low is None and self.high is None):
            return None, None
        a = as_date(self.anchor)

        def shift(x: float | None, sign: int) -> dt.date | None:
            return None if x is None else a + sign * dt.timedelta(days=round(x))
        if self.relation == "after":
            return shift(self.low, 1), shift(self.high, 1)
        return shift(self.high, -1), shift(self.low, -1)

    def limit_text(self) -> str:
        if self.low is not None and self.high is not None:
            return f"limits {_n(self.low)} to {_n(self.high)}"
        if self.high is not None:
            return f"limit {_n(self.high)}"
        if self.low is not None:
            return f"at least {_n(self.low)}"
        return ""

    def as_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "step": self.what, "anchor": iso(self.anchor), "relation": self.relation or None,
                "delay_days": self.delay, "min_days": self.low, "max_days": self.high, "rule": self.rule, "ok": self.ok}


def _step(ctx: Context, at: Day, what: str, anchor: Day | None, anchor_what: str, relation: str,
          low: Sourced | float | None, high: Sourced | float | None, rule_id: str | None) -> TimelineStep:
    if anchor is None:
        return TimelineStep(at, what, rule=rule_id)
    ref = next((x for x in (low, high) if isinstance(x, Sourced)), None)
    delay = days_between(anchor, at, ref) if relation == "after" else days_between(at, anchor, ref)
    lo = float(low.value) if isinstance(low, Sourced) else low
    hi = float(high.value) if isinstance(high, Sourced) else high
    ok = None
    if lo is not None or hi is not None:
        ok = not ((lo is not None and below(delay, lo)) or (hi is not None and above(delay, hi)))
    return TimelineStep(at, what, anchor, anchor_what, relation, delay, lo, hi, rule_id, ok)


def timeline(ctx: Context) -> list[TimelineStep]:
    """The pathway's dates in order, each with its delay and limit (thresholds the profile lacks: no limit)."""
    p = ctx.patient
    d = p.date
    th = functools.partial(_th, ctx)
    review, surgery, algo = d("review"), d("surgery"), d("algology_consult")
    out: list[TimelineStep] = []

    def add(at: Day | None, *args) -> None:
        if at is not None:
            out.append(_step(ctx, at, *args))

    for name in ("neutrophils", "platelets"):
        lab = p.lab(name)
        if lab is not None and lab.at is not None:
            add(lab.at, f"{name} count", review, "the review", "before", None, th("lab_max_age"), "PATH-LAB-AGE")
    for k, when in p.imaging:
        add(when, IMAGING_WORDS[k], review, "the review", "before", None, th("imaging_max_age"), "PATH-IMAGING-AGE")
    add(d("file_complete"), "complete file received", None, "", "", None, None, None)
    add(review, "multidisciplinary review", d("file_complete"), "the complete file", "after", None,
        th("review_max_delay"), "PATH-REVIEW-DELAY")
    add(algo, "algology consultation", review, "the review", "after", None, th("algology_max_delay"), "PATH-CONSULT-DELAY")
    add(d("anaesthesia_consult"), "anaesthesia consultation", surgery, "surgery", "before", th("anaesthesia_min_before"),
        None, "PATH-ANAESTHESIA")
    methadone = bool(p.treatments_of("methadone"))
    add(d("admission"), "admission", surgery, "surgery", "before",
        th("methadone_admission_before") if methadone else None, None, "PATH-METHADONE" if methadone else None)
    stops = {"methadone": ("methadone_stop_before", "PATH-METHADONE"),
             "other-opioid": ("other_opioid_stop_before", "PATH-OPIOID-STOP"),
             "clopidogrel": ("antiplatelet_stop_before", "PATH-ANTIPLATELET"),
             "aspirin": ("antiplatelet_stop_before", "PATH-ANTIPLATELET"),
             "lmwh": ("lmwh_stop_before", "PATH-ANTICOAGULANT"),
             "chemotherapy": ("chemo_stop_before", "PATH-CHEMO")}
    cont = th("aspirin_max_continued")
    words = {"other-opioid": "other opioid", "lmwh": "LMWH relay"}
    for t in p.treatments:
        if t.last_dose is None:
            continue
        if t.drug in stops:
            key, rid = stops[t.drug]
            if t.drug == "aspirin" and (t.dose is None or cont is None or not above(t.dose, cont.value)):
                key, rid = "", None  # aspirin that may continue: its date is shown, without a limit
            add(t.last_dose, f"last dose of {words.get(t.drug, t.drug)}", surgery, "surgery", "before",
                th(key) if key else None, None, rid)
        elif t.drug == "anti-angiogenic":
            add(t.last_dose, "last dose of anti-angiogenic", review, "the review", "before",
                th("anti_angiogenic_before_review"), None, "PATH-RELATIVE")
        else:
            add(t.last_dose, f"last dose of {t.drug}", surgery, "surgery", "before", None, None, None)
    add(surgery, "surgery", algo, "the algology consultation", "after", th("surgery_min_delay"), th("surgery_max_delay"),
        "PATH-SURGERY-WINDOW")
    for t in p.treatments_of("chemotherapy"):
        add(t.resume, "chemotherapy resumed", surgery, "surgery", "after", th("chemo_resume_min"), th("chemo_resume_max"),
            "PATH-CHEMO-RESUME")
    alarm = ctx.low_alarm_at
    if alarm is not None:
        add(alarm, "pump low alarm (programmed case, from the table)", surgery, "surgery", "after", None, None, None)
    appt = d("first_refill_appointment")
    high = days_between(surgery, alarm) if (alarm is not None and surgery is not None) else None
    add(appt, "first-refill appointment", surgery, "surgery", "after", None, high, "PATH-FIRST-REFILL")
    order = {id(s): i for i, s in enumerate(out)}
    return sorted(out, key=lambda s: (as_date(s.at), order[id(s)]))


def timeline_lines(steps: list[TimelineStep]) -> list[str]:
    """The timeline in words: "2027-01-12  multidisciplinary review: 7 days after the complete file (limit 15)"."""
    lines = []
    for s in steps:
        line = f"  {as_date(s.at).isoformat()}  {s.what}"
        if s.delay is not None:
            line += f": {_days(s.delay)} {s.relation} {s.anchor_what}"
            if s.limit_text():
                line += f" ({s.limit_text()})"
        if s.ok is False:
            line += "  <-- outside the limit"
        lines.append(line)
    return lines


# --------------------------------------------------------------------------- the report
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


def check(patient: PatientFile, profile: Profile, table: Table | None = None, programmed=None) -> PathwayReport:
    """Every rule of the pathway on one patient file (and a table, if given; ``programmed``: the
    table's programmed case when already simulated, e.g. by validate)."""
    ctx = context(patient, profile, table, programmed)
    findings: list[Finding] = []
    for rid in catalogue():
        fn = RULES[rid]
        if rid != "OPIOID-CONVERSION" and profile.pathway is None:
            findings.append(Skipped(rid, f"profile {profile.name} has no [pathway] section: use fr-ait-2020, or a "
                                         "profile with base = \"fr-ait-2020\" or its own [pathway] thresholds"))
            continue
        try:
            findings.extend(fn(ctx))
        except _Missing as e:
            findings.append(Skipped(rid, f"profile {profile.name} gives no pathway.{e.args[0]}"))
    violations = [f for f in findings if isinstance(f, Violation)]
    skipped = [f for f in findings if isinstance(f, Skipped)]
    return PathwayReport(patient, profile, violations, skipped, timeline(ctx), table, ctx.low_alarm_at)


VERDICT_WORDS = {
    "pass": "PASS: the file meets every pathway rule that could be checked.",
    "warn": "WARN: no hard rule is broken, but there are warnings to review.",
    "fail": "FAIL: at least one hard rule of the pathway is broken; the implantation should not go ahead as planned.",
}


def render_text(r: PathwayReport) -> str:
    """The report for people: verdict first, then violations, the timeline, the checks not made."""
    lines = [VERDICT_WORDS[r.verdict], ""]
    hard = sum(v.severity == "hard" for v in r.violations)
    what = f"Patient file {r.patient.path}, profile {r.profile.name}"
    if r.table is not None:
        what += f", table {r.table.path} ({r.table.device.model})"
    lines += [what + ".", f"{hard} hard violation(s), {len(r.violations) - hard} warning(s)."]
    if r.table is not None:
        alarm = iso(r.low_alarm_at) or "not reached within the table's horizon"
        lines.append(f"Programmed-case low alarm of the pump (every allowed bolus): {alarm}.")
    if r.violations:
        lines += ["", "Violations"]
        for v in r.violations:
            lines.append(f"  - {v.rule} ({v.severity}){' ' + v.drug if v.drug else ''}: {v.message}")
            if v.value is not None or v.limit is not None:
                flag = "" if v.verified else "  [limit UNVERIFIED]"
                val = "-" if v.value is None else _n(v.value)
                lim = "-" if v.limit is None else _n(v.limit)
                lines.append(f"    value {val} {v.unit}, limit {lim} {v.unit}" + (f", at {v.at}" if v.at else "") + flag)
            lines.append(f"    source: {v.source}")
    lines += ["", "Timeline"]
    lines += timeline_lines(r.steps) if r.steps else ["  (no dates in the file)"]
    if r.not_checked:
        lines += ["", "Checks not made"]
        lines += [f"  - {s.rule}: {s.reason}" for s in r.not_checked]
    lines += ["", f"pumpsim {__version__}: decision support for professionals, not a medical device."]
    return "\n".join(lines) + "\n"
