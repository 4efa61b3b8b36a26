"""The care pathway's rules (docs/RULES.md §5, FORMAT.md §7): a patient's file against the regional
reference, steps 1 to 10: indication, contraindications, the file's labs and imaging, the delays
between the steps, the drugs stopped before surgery, the device for the life expectancy, the
first-refill appointment; with a programming table, the table's device, the first intrathecal
morphine dose and the pump's low-alarm date.

Each rule is an entry of the catalogue (``data/pathway.toml``) plus one small pure function
registered with ``@kit.rule(ID, "pathway")`` and judged by ``kit.run("pathway", ctx)``
(:func:`pumpsim.pathway.report.check`). No threshold is written here: each is a
:class:`pumpsim.model.table.Sourced` of the profile's ``[pathway]`` section (or ``general`` for
OPIOID-CONVERSION), and its source and verified flag travel with the violation. A rule whose
field (or threshold) is absent returns a :class:`pumpsim.rules.kit.Skipped`: it is not a pass.
"""
from __future__ import annotations

import datetime as dt

from pumpsim.io import library
from pumpsim.io.patient import Day, Treatment
from pumpsim.model.table import Sourced, Table
from pumpsim.model.timebase import add_months, as_date
from pumpsim.model.timebase import days_between as calendar_days
from pumpsim.model.tolerances import above
from pumpsim.pathway.context import (
    Context,
    before_text,
    below,
    days_between,
    days_text,
    finding,
    iso,
    last_text,
    need,
    num,
    pathway_rule,
    result,
    threshold,
)
from pumpsim.rules import kit
from pumpsim.rules.kit import Finding, Skipped


# --------------------------------------------------------------------------- step 1: indication
def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


@kit.rule("PATH-INDICATION", "pathway")
@pathway_rule
def path_indication(ctx: Context) -> list[Finding]:
    """Refractory pain AND (OME above the threshold OR severe adverse effects) is not met."""
    (lim,) = need(ctx, "indication_ome")
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
        reasons.append(f"oral morphine equivalent {num(p.oral_morphine_equivalent)} mg/day is not above "
                       f"{num(lim.value)} mg/day and there are no severe adverse effects of systemic analgesics")
    return [finding("PATH-INDICATION", None, p.oral_morphine_equivalent, lim, "mg/day",
                       ["indication not met: " + reasons[0], *reasons[1:]])]


def _conditions_words(names: list[str]) -> str:
    words = library.pathway_vocabulary()["conditions"]
    return ", ".join(f"{c} ({words[c]['words']})" for c in names)


@kit.rule("PATH-CONTRAINDICATION", "pathway")
@pathway_rule
def path_contraindication(ctx: Context) -> list[Finding]:
    """An absolute contraindication among the patient's conditions."""
    (lim,) = need(ctx, "absolute_contraindications")
    cond = ctx.patient.conditions
    if cond is None:
        return [Skipped("PATH-CONTRAINDICATION", "patient.conditions not given (unknown; write conditions = [] for none)")]
    found = [c for c in cond if c in lim.value]
    if not found:
        return []
    return [finding("PATH-CONTRAINDICATION", None, None, lim, "",
                       [f"absolute contraindication: {_conditions_words(found)}"])]


# --------------------------------------------------------------------------- coagulation (§V.2.c, FORMAT.md §12.8)
#: The coagulation tests: (lab, words, hard threshold key, normal threshold key, "min" or "max").
COAGULATION = (("prothrombin", "prothrombin time", "prothrombin_min", "prothrombin_min_normal", "min"),
               ("inr", "INR", "inr_max", "inr_max_normal", "max"),
               ("aptt_ratio", "aPTT ratio", "aptt_ratio_max", "aptt_ratio_max_normal", "max"))


def _coag_shown(name: str, x: float) -> float:
    """A coagulation value as reports print it: the prothrombin time in % (stored as a fraction)."""
    return round(x * 100.0, 9) if name == "prothrombin" else x


def _coag_unit(name: str) -> str:
    return "%" if name == "prothrombin" else ""


def _coag_beyond(value: float, lim: Sourced, side: str) -> bool:
    return below(value, lim.value) if side == "min" else above(value, lim.value)


def _coag_words(name: str, words: str, value: float, lim: Sourced, side: str, tier: str) -> str:
    u = _coag_unit(name)
    rel = "below" if side == "min" else "above"
    return (f"{words} {num(_coag_shown(name, value))}{' ' + u if u else ''} is {rel} "
            f"{num(_coag_shown(name, lim.value))}{' ' + u if u else ''} ({tier})")


@kit.rule("PATH-RELATIVE", "pathway")
@pathway_rule
def path_relative(ctx: Context) -> list[Finding]:
    """A relative contraindication, a recent anti-angiogenic, or coagulation outside the normal range."""
    rel, before = need(ctx, "relative_contraindications", "anti_angiogenic_before_review")
    p = ctx.patient
    reasons: list[str] = []
    missing: list[str] = []
    value = limit = None
    unit = ""
    limit_value = None
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
            missing.append(f"anti-angiogenic treatment[{t.index}]: no dates.review to count {num(before.value)} days from")
        else:
            gap = days_between(t.last_dose, review, before)
            if below(gap, before.value):
                reasons.append(f"anti-angiogenic treatment[{t.index}] last taken {iso(t.last_dose)}, "
                               f"{before_text(gap, 'the review')} (less than {days_text(before.value)} before it): "
                               "oncology opinion needed")
                value, limit, unit, limit_value = gap, before, "day", float(before.value)
    for name, words, hard_key, normal_key, side in COAGULATION:
        lab = p.lab(name)
        if lab is None or lab.value is None:
            continue
        normal, hard = threshold(ctx, normal_key), threshold(ctx, hard_key)
        if normal is None:
            missing.append(f"profile {ctx.profile.name} gives no pathway.{normal_key}")
            continue
        if hard is not None and _coag_beyond(lab.value, hard, side):
            continue  # beyond the neuraxial limit: PATH-LAB-VALUE alone (FORMAT.md §12.18)
        if _coag_beyond(lab.value, normal, side):
            reasons.append("haemostasis anomaly (anomalie hémostase): "
                           + _coag_words(name, words, lab.value, normal, side, "outside the normal range"))
            if limit is None:
                value, limit, unit = _coag_shown(name, lab.value), normal, _coag_unit(name)
                limit_value = _coag_shown(name, normal.value)
    if not reasons:
        return result("PATH-RELATIVE", None, missing)
    src = limit if limit is not None and len(reasons) == 1 else rel
    at = review if (limit is not None and unit == "day") else None
    return [finding("PATH-RELATIVE", at, value if limit is not None else None, src, unit if limit is not None else "",
                    reasons, limit_value=limit_value if limit is not None else None)]


# --------------------------------------------------------------------------- step 2: the file
LAB_WORDS = {"neutrophils": "neutrophils count", "platelets": "platelets count", "haemoglobin": "haemoglobin",
             "prothrombin": "prothrombin time", "inr": "INR", "aptt_ratio": "aPTT ratio", "creatinine": "creatinine",
             "glucose": "glucose", "electrolytes": "electrolytes (Na, K, Cl, Ca, P)"}
IMAGING_WORDS = {"ct_thorax_abdomen_pelvis": "thorax-abdomen-pelvis CT with the spine", "brain": "brain CT or MRI"}
DOCUMENT_WORDS = {"oncology_opinion": "the oncology or palliative-care opinion",
                  "pain_assessment": "the pain assessment", "medication_review": "the medication review"}
#: Labs that have a threshold: absent `value`, they are a missing element of the complete file.
JUDGED_LABS = ("neutrophils", "platelets", "prothrombin", "inr", "aptt_ratio")


def _missing_labs(ctx: Context) -> list[str]:
    """The labs of §V.2.c the file lacks (absent, undated, or without the value a threshold needs)."""
    p = ctx.patient
    out = []
    for name in ("neutrophils", "platelets", "haemoglobin", "coagulation", "aptt_ratio", "creatinine", "glucose",
                 "electrolytes"):
        if name == "coagulation":  # prothrombin time or INR
            labs = [(n, p.lab(n)) for n in ("prothrombin", "inr") if p.lab(n) is not None]
            if not labs:
                out.append("labs.prothrombin (or labs.inr)")
            out += [f"labs.{n}.{k}" for n, lab in labs for k, v in (("value", lab.value), ("at", lab.at)) if v is None]
            continue
        lab = p.lab(name)
        if lab is None:
            out.append(f"labs.{name}")
            continue
        if name in JUDGED_LABS and lab.value is None:
            out.append(f"labs.{name}.value")
        if lab.at is None:
            out.append(f"labs.{name}.at")
    return out


@kit.rule("PATH-FILE-INCOMPLETE", "pathway")
@pathway_rule
def path_file_incomplete(ctx: Context) -> list[Finding]:
    """A required element of the complete file absent once the file is dated complete."""
    p = ctx.patient
    if not p.dated_complete:
        return [Skipped("PATH-FILE-INCOMPLETE", "no date in [dates]: the file is not complete yet")]
    missing = [f"file.{k} ({w})" for k, w in DOCUMENT_WORDS.items() if p.document(k) is None]
    missing += _missing_labs(ctx)
    img = dict(p.imaging)
    missing += [f"imaging.{k} ({w})" for k, w in IMAGING_WORDS.items() if k not in img]
    missing += [f"patient.{k}" for k, v in (("conditions", p.conditions), ("life_expectancy", p.life_expectancy),
                                            ("refractory_pain", p.refractory_pain)) if v is None]
    if p.oral_morphine_equivalent is None and p.severe_adverse_effects is None:
        missing.append("patient.oral_morphine_equivalent (or patient.severe_adverse_effects)")
    if not missing:
        return []
    return [finding("PATH-FILE-INCOMPLETE", None, None, None, "",
                    [f"the complete file is a prerequisite to any referral; missing: {', '.join(missing)}"])]


@kit.rule("PATH-LAB-VALUE", "pathway")
@pathway_rule
def path_lab_value(ctx: Context) -> list[Finding]:
    """Neutrophils or platelets not above their minimum, or coagulation beyond the neuraxial limits."""
    lims = dict(zip(("neutrophils", "platelets"), need(ctx, "neutrophils_min", "platelets_min")))
    reasons, missing = [], []
    first: tuple[float, Sourced, str, float] | None = None
    for name, lim in lims.items():
        lab = ctx.patient.lab(name)
        if lab is None or lab.value is None:
            missing.append(f"labs.{name}{'' if lab is None else '.value'} not given")
        elif not above(lab.value, lim.value):
            reasons.append(f"{name} {num(lab.value)} /mm3 is not above {num(lim.value)} /mm3")
            first = first or (lab.value, lim, "/mm3", float(lim.value))
    coag_given = False
    for name, words, hard_key, _normal, side in COAGULATION:
        lab = ctx.patient.lab(name)
        if lab is None or lab.value is None:
            if lab is not None:
                missing.append(f"labs.{name}.value not given")
            continue
        coag_given = True
        hard = threshold(ctx, hard_key)
        if hard is None:
            missing.append(f"profile {ctx.profile.name} gives no pathway.{hard_key}")
        elif _coag_beyond(lab.value, hard, side):
            reasons.append(_coag_words(name, words, lab.value, hard, side, "beyond the limit for a neuraxial procedure"))
            first = first or (_coag_shown(name, lab.value), hard, _coag_unit(name), _coag_shown(name, hard.value))
    if not coag_given and not any("prothrombin" in m or "inr" in m for m in missing):
        missing.append("no coagulation test (labs.prothrombin or labs.inr, labs.aptt_ratio) with a value")
    if first is None:
        return result("PATH-LAB-VALUE", None, missing)
    return [finding("PATH-LAB-VALUE", None, first[0], first[1], first[2], reasons, limit_value=first[3])]


def _older(when: Day, at: Day, lim: Sourced) -> tuple[bool, float, float]:
    """Whether a result dated ``when`` is NOT less than ``lim`` old at ``at`` (strict "less than":
    a calendar month when the limit is written in months), its age and the limit [day]."""
    age = days_between(when, at)
    text = lim.text.strip()
    if text.endswith("month"):
        months = round(float(text[: -len("month")]))
        limit_days = float(calendar_days(when, add_months(when, months)))
    else:
        limit_days = float(lim.value)
    return not below(age, limit_days), age, limit_days


@kit.rule("PATH-LAB-AGE", "pathway")
@pathway_rule
def path_lab_age(ctx: Context) -> list[Finding]:
    """Laboratory results not less than one month old at the review, or at the anaesthesia consultation."""
    (lim,) = need(ctx, "lab_max_age")
    p = ctx.patient
    review, consult = p.date("review"), p.date("anaesthesia_consult")
    if review is None and consult is None:
        return [Skipped("PATH-LAB-AGE", "dates.review and dates.anaesthesia_consult not given: the age of the labs is "
                                        "counted at them")]
    missing: list[str] = []
    first: tuple[float, float, Day] | None = None
    old_labs: dict[tuple[str, str, str], list[str]] = {}  # (lab date, judged-at date, words) -> labs
    for name, lab in p.labs:
        if lab.at is None:
            missing.append(f"labs.{name}.at not given")
            continue
        points = []
        if review is not None and as_date(lab.at) <= as_date(review):
            points.append((review, "the review"))
        elif review is not None:
            missing.append(f"labs.{name} of {iso(lab.at)} is after the review: judged at the anaesthesia consultation only")
        if consult is not None and as_date(lab.at) <= as_date(consult):
            points.append((consult, "the anaesthesia consultation"))
        for at, words in points:
            old, age, limit_days = _older(lab.at, at, lim)
            if old:
                old_labs.setdefault((iso(lab.at), iso(at), words), []).append(LAB_WORDS[name])
                first = first or (age, limit_days, at)
    reasons = [f"labs of {when} ({', '.join(names)}) are {days_text(days_between(dt.date.fromisoformat(when[:10]), dt.date.fromisoformat(at[:10])))} "
               f"old at {words} ({at}): not less than {lim.text} old"
               for (when, at, words), names in old_labs.items()]
    if first is None:
        return result("PATH-LAB-AGE", None, missing)
    return [finding("PATH-LAB-AGE", first[2], first[0], lim, "day", reasons, limit_value=first[1])]


@kit.rule("PATH-IMAGING-AGE", "pathway")
@pathway_rule
def path_imaging_age(ctx: Context) -> list[Finding]:
    """Thorax-abdomen-pelvis CT or brain imaging not less than 6 weeks old at the review."""
    (lim,) = need(ctx, "imaging_max_age")
    review = ctx.patient.date("review")
    if review is None:
        return [Skipped("PATH-IMAGING-AGE", "dates.review not given: the age of the imaging is counted at the review")]
    img = dict(ctx.patient.imaging)
    reasons, missing = [], []
    first = None
    for k, w in IMAGING_WORDS.items():
        when = img.get(k)
        if when is None:
            missing.append(f"imaging.{k} not given")
            continue
        if as_date(when) > as_date(review):
            continue  # after the review: PATH-ORDER
        old, age, limit_days = _older(when, review, lim)
        if old:
            reasons.append(f"the {w} of {iso(when)} is {days_text(age)} old at the review; less than "
                           f"{days_text(limit_days)}")
            first = first if first is not None else age
    if first is None:
        return result("PATH-IMAGING-AGE", None, missing)
    return [finding("PATH-IMAGING-AGE", review, first, lim, "day", reasons)]


# --------------------------------------------------------------------------- the order of the dates (§12.5)
DATE_WORDS = {"file_complete": "the complete file", "review": "the multidisciplinary review",
              "algology_consult": "the algology consultation", "anaesthesia_consult": "the anaesthesia consultation",
              "admission": "admission", "surgery": "surgery", "first_refill_appointment": "the first-refill appointment"}
#: The chains of FORMAT.md §12.5: each ordered pair of given dates is judged; True: the later one
#: must be strictly later (the same day is out of order), False: the same day is in order.
CHAINS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("file_complete", "review", "algology_consult", "surgery"), False),
    (("anaesthesia_consult", "surgery"), True),
    (("admission", "surgery"), False),
    (("surgery", "first_refill_appointment"), True),
)


def _out_of_order(a: Day, b: Day, strict: bool) -> bool:
    """``b`` should come after ``a`` (calendar dates): is it out of order?"""
    return as_date(b) <= as_date(a) if strict else as_date(b) < as_date(a)


def in_order(ctx: Context, first: str, then: str) -> bool:
    """Whether two given dates of a chain are in order (the delay rules judge only such pairs)."""
    a, b = ctx.patient.date(first), ctx.patient.date(then)
    strict = any(first in c and then in c and s for c, s in CHAINS)
    return a is None or b is None or not _out_of_order(a, b, strict)


@kit.rule("PATH-ORDER", "pathway")
@pathway_rule
def path_order(ctx: Context) -> list[Finding]:
    """Dates out of the pathway's order: every pair named, in one violation."""
    p = ctx.patient
    pairs: list[str] = []
    given = 0
    for chain, strict in CHAINS:
        dates = [(k, p.date(k)) for k in chain if p.date(k) is not None]
        given += len(dates) >= 2
        for i, (ka, a) in enumerate(dates):
            for kb, b in dates[i + 1:]:
                if _out_of_order(a, b, strict):
                    pairs.append(f"{DATE_WORDS[kb]} ({iso(b)}) is {'not after' if strict else 'before'} "
                                 f"{DATE_WORDS[ka]} ({iso(a)})")
    s = p.date("surgery")
    for t in p.treatments:
        if t.resume is not None and s is not None:
            given += 1
            if _out_of_order(s, t.resume, True):
                pairs.append(f"{t.drug} resumed (treatment[{t.index}].resume, {iso(t.resume)}) is not after surgery ({iso(s)})")
    review, consult = p.date("review"), p.date("anaesthesia_consult")
    for name, lab in p.labs:
        if lab.at is None:
            continue
        if consult is not None and as_date(lab.at) > as_date(consult):
            given += 1
            pairs.append(f"labs.{name} ({iso(lab.at)}) is after the anaesthesia consultation ({iso(consult)})")
        elif consult is None and review is not None and as_date(lab.at) > as_date(review):
            given += 1
            pairs.append(f"labs.{name} ({iso(lab.at)}) is after the multidisciplinary review ({iso(review)})")
        elif review is not None or consult is not None:
            given += 1
    for k, when in p.imaging:
        if review is not None:
            given += 1
            if as_date(when) > as_date(review):
                pairs.append(f"imaging.{k} ({iso(when)}) is after the multidisciplinary review ({iso(review)})")
    if pairs:
        return [finding("PATH-ORDER", None, None, None, "", ["dates out of the pathway's order: " + pairs[0], *pairs[1:]])]
    if not given:
        return [Skipped("PATH-ORDER", "fewer than two dates of one chain given: no order to judge")]
    return []


# --------------------------------------------------------------------------- steps 3-5: the delays
def _delay_rule(ctx: Context, rule_id: str, frm: str, to: str, low_key: str | None, high_key: str | None,
                what: str, anchor: str) -> list[Finding]:
    keys = [k for k in (low_key, high_key) if k is not None]
    lims = dict(zip(keys, need(ctx, *keys)))
    a, b = ctx.patient.date(frm), ctx.patient.date(to)
    missing = [f"dates.{k} not given" for k, v in ((frm, a), (to, b)) if v is None]
    if a is None or b is None:
        return [Skipped(rule_id, "; ".join(missing))]
    if not in_order(ctx, frm, to):
        return []  # out of order: PATH-ORDER alone
    low = lims.get(low_key) if low_key else None
    high = lims.get(high_key) if high_key else None
    said = f"{what} on {iso(b)}, {{}} after {anchor} ({iso(a)})"
    if low is not None:
        d = days_between(a, b, low)
        if below(d, low.value):
            return [finding(rule_id, b, d, low, "day", [said.format(days_text(d)) + f"; at least {days_text(low.value)}"])]
    if high is not None:
        d = days_between(a, b, high)
        if above(d, high.value):
            return [finding(rule_id, b, d, high, "day", [said.format(days_text(d)) + f"; at most {days_text(high.value)}"])]
    return []


@kit.rule("PATH-REVIEW-DELAY", "pathway")
@pathway_rule
def path_review_delay(ctx: Context) -> list[Finding]:
    """The multidisciplinary review too long after the complete file."""
    return _delay_rule(ctx, "PATH-REVIEW-DELAY", "file_complete", "review", None, "review_max_delay",
                       "multidisciplinary review", "the complete file")


@kit.rule("PATH-CONSULT-DELAY", "pathway")
@pathway_rule
def path_consult_delay(ctx: Context) -> list[Finding]:
    """The algology consultation too long after the review."""
    return _delay_rule(ctx, "PATH-CONSULT-DELAY", "review", "algology_consult", None, "algology_max_delay",
                       "algology consultation", "the review")


@kit.rule("PATH-SURGERY-WINDOW", "pathway")
@pathway_rule
def path_surgery_window(ctx: Context) -> list[Finding]:
    """Surgery too soon or too late after the algology consultation."""
    return _delay_rule(ctx, "PATH-SURGERY-WINDOW", "algology_consult", "surgery", "surgery_min_delay",
                       "surgery_max_delay", "surgery", "the algology consultation")


@kit.rule("PATH-ANAESTHESIA", "pathway")
@pathway_rule
def path_anaesthesia(ctx: Context) -> list[Finding]:
    """The anaesthesia consultation less than 48 h before surgery."""
    (lim,) = need(ctx, "anaesthesia_min_before")
    a, s = ctx.patient.date("anaesthesia_consult"), ctx.patient.date("surgery")
    if a is None or s is None:
        return [Skipped("PATH-ANAESTHESIA", "; ".join(f"dates.{k} not given" for k, v in
                                                       (("anaesthesia_consult", a), ("surgery", s)) if v is None))]
    if not in_order(ctx, "anaesthesia_consult", "surgery"):
        return []  # PATH-ORDER alone
    d = days_between(a, s, lim)
    if not below(d, lim.value):
        return []
    return [finding("PATH-ANAESTHESIA", s, d, lim, "day",
                    [f"anaesthesia consultation {iso(a)} is {before_text(d, 'surgery')}; at least {days_text(lim.value)} "
                     "(the same day as the algology consultation where possible)"])]


@kit.rule("PATH-CONSENT", "pathway")
@pathway_rule
def path_consent(ctx: Context) -> list[Finding]:
    """No written consent dated before surgery (and, under 18, no parental authorisation)."""
    (adult,) = need(ctx, "adult_age")
    p = ctx.patient
    s = p.date("surgery")
    if s is None:
        return [Skipped("PATH-CONSENT", "dates.surgery not given: consent is judged before surgery")]
    reasons = []
    c = p.date("consent")
    if c is None:
        reasons.append("no written consent recorded (dates.consent) before surgery")
    elif as_date(c) >= as_date(s):
        reasons.append(f"written consent dated {iso(c)}, not before surgery ({iso(s)})")
    minor = p.age is not None and below(p.age, float(adult.value))
    if minor:
        pa = p.date("parental_authorisation")
        if pa is None or as_date(pa) >= as_date(s):
            reasons.append(f"patient aged {num(p.age)} (under {num(float(adult.value))}): the parents' authorisation "
                           "(dates.parental_authorisation) must be given before surgery"
                           + ("" if pa is None else f", not on {iso(pa)}")
                           + "; check a size and weight compatible with the catheter and the pump")
    if reasons:
        return [finding("PATH-CONSENT", s, p.age if minor else None, adult if minor else None, "year" if minor else "",
                        reasons, limit_value=float(adult.value) if minor else None)]
    if p.age is None:
        return [Skipped("PATH-CONSENT", "patient.age not given: the parents' authorisation (under 18) is not judged")]
    return []


@kit.rule("PATH-ADMISSION", "pathway")
@pathway_rule
def path_admission(ctx: Context) -> list[Finding]:
    """Admission not recorded, or later than the day before surgery (not for a patient under methadone)."""
    (lim,) = need(ctx, "admission_before")
    p = ctx.patient
    s, adm = p.date("surgery"), p.date("admission")
    if s is None:
        return [Skipped("PATH-ADMISSION", "dates.surgery not given: admission is judged against it")]
    if under_methadone(ctx):
        return []  # PATH-METHADONE judges the admission of a patient under methadone
    if adm is None:
        return [finding("PATH-ADMISSION", s, None, lim, "day",
                        ["admission not recorded (dates.admission): the patient is admitted the day before surgery"])]
    if not in_order(ctx, "admission", "surgery"):
        return []  # PATH-ORDER alone
    d = days_between(adm, s, lim)
    if not below(d, lim.value):
        return []
    return [finding("PATH-ADMISSION", s, d, lim, "day",
                    [f"admitted {iso(adm)}, {before_text(d, 'surgery')}; the day before ({days_text(lim.value)})"])]


# --------------------------------------------------------------------------- step 4: treatments stopped
def _stop_reasons(ctx: Context, treatments: list[Treatment], lim: Sourced, words: str) -> tuple[list[str], float | None]:
    """Reasons for treatments taken later than ``lim`` days before surgery (the surgery date is given)."""
    s = ctx.patient.date("surgery")
    assert s is not None
    reasons: list[str] = []
    first = None
    for t in treatments:
        if t.last_dose is None:
            reasons.append(f"{t.drug} (treatment[{t.index}]) still taken; {words} {days_text(lim.value)} before surgery")
            continue
        gap = days_between(t.last_dose, s, lim)
        if below(gap, lim.value):
            dose = f" {num(t.dose)} mg/day" if t.dose is not None else ""
            reasons.append(f"{t.drug}{dose} (treatment[{t.index}]) last taken {iso(t.last_dose)}, {before_text(gap, 'surgery')}; "
                           f"{words} {days_text(lim.value)} before")
            first = gap if first is None else first
    return reasons, first


def _stop_rule(ctx: Context, rule_id: str, treatments: list[Treatment], key: str, words: str,
               missing: list[str] | None = None) -> list[Finding]:
    if not treatments:
        return result(rule_id, None, missing or [])
    (lim,) = need(ctx, key)
    s = ctx.patient.date("surgery")
    if s is None:
        return [Skipped(rule_id, f"dates.surgery not given: {', '.join(sorted({t.drug for t in treatments}))} "
                                 "cannot be timed against it")]
    reasons, gap = _stop_reasons(ctx, treatments, lim, words)
    if not reasons:
        return result(rule_id, None, missing or [])
    return [finding(rule_id, s, gap, lim, "day", reasons, drug=treatments[0].drug)]


def under_methadone(ctx: Context) -> bool | None:
    """Whether the patient is under methadone at the algology consultation (FORMAT.md §7): a
    methadone treatment still taken, or last taken on or after that consultation (without its
    date: within the profile's window before surgery). None when it cannot be told."""
    meth = ctx.patient.treatments_of("methadone")
    if not meth:
        return False
    if any(t.last_dose is None for t in meth):
        return True
    algo, s = ctx.patient.date("algology_consult"), ctx.patient.date("surgery")
    if algo is not None:
        return any(as_date(t.last_dose) >= as_date(algo) for t in meth)
    window = threshold(ctx, "methadone_current_window")
    if s is None or window is None:
        return None
    return any(not above(days_between(t.last_dose, s), window.value) for t in meth)


@kit.rule("PATH-METHADONE", "pathway")
@pathway_rule
def path_methadone(ctx: Context) -> list[Finding]:
    """A patient under methadone: methadone taken, or admitted, less than 48 h before surgery."""
    meth = ctx.patient.treatments_of("methadone")
    if not meth:
        return []
    stop, admit = need(ctx, "methadone_stop_before", "methadone_admission_before")
    s, adm = ctx.patient.date("surgery"), ctx.patient.date("admission")
    if s is None:
        return [Skipped("PATH-METHADONE", "dates.surgery not given: methadone cannot be timed against it")]
    under = under_methadone(ctx)
    if under is None:
        return [Skipped("PATH-METHADONE", "dates.algology_consult not given: whether the patient is still under "
                                          "methadone cannot be told")]
    if not under:
        return []  # methadone stopped before the algology consultation: history, not a rule
    reasons, gap = _stop_reasons(ctx, meth, stop, "stop at least")
    lim = stop
    missing = []
    if adm is None:
        missing.append(f"dates.admission not given: a patient under methadone is admitted {days_text(admit.value)} "
                       "before surgery")
    elif in_order(ctx, "admission", "surgery"):
        d = days_between(adm, s, admit)
        if below(d, admit.value):
            reasons.append(f"a patient under methadone admitted {iso(adm)}, {before_text(d, 'surgery')}; at least "
                           f"{days_text(admit.value)}")
            if gap is None:
                gap, lim = d, admit
    if not reasons:
        return result("PATH-METHADONE", None, missing)
    return [finding("PATH-METHADONE", s, gap, lim, "day", reasons, drug="methadone")]


@kit.rule("PATH-OPIOID-STOP", "pathway")
@pathway_rule
def path_opioid_stop(ctx: Context) -> list[Finding]:
    """Another systemic opioid still taken after the day before surgery."""
    return _stop_rule(ctx, "PATH-OPIOID-STOP", ctx.patient.treatments_of("other-opioid"), "other_opioid_stop_before",
                      "relay by IV PCA; stop at least")


@kit.rule("PATH-ANTIPLATELET", "pathway")
@pathway_rule
def path_antiplatelet(ctx: Context) -> list[Finding]:
    """Aspirin above 100 mg/day, or clopidogrel, taken later than day -5."""
    aspirin = ctx.patient.treatments_of("aspirin")
    judged: list[Treatment] = list(ctx.patient.treatments_of("clopidogrel"))
    missing: list[str] = []
    if aspirin:
        (cont,) = need(ctx, "aspirin_max_continued")
        for t in aspirin:
            if t.dose is None:
                missing.append(f"treatment[{t.index}].dose not given: aspirin up to {num(cont.value)} mg/day may continue")
            elif above(t.dose, cont.value):
                judged.append(t)
    judged.sort(key=lambda t: t.index)
    return _stop_rule(ctx, "PATH-ANTIPLATELET", judged, "antiplatelet_stop_before", "stop at least", missing)


def anticoagulant_class(drug: str) -> str | None:
    """"vka", "doac" or None (LMWH and the other treatments), from the pathway vocabulary."""
    return library.pathway_vocabulary()["treatments"].get(drug, {}).get("class")


@kit.rule("PATH-ANTICOAGULANT", "pathway")
@pathway_rule
def path_anticoagulant(ctx: Context) -> list[Finding]:
    """The LMWH relay later than day -1; an oral anticoagulant fewer than 5 days before surgery; a VKA without relay."""
    p = ctx.patient
    groups = (("lmwh_stop_before", [t for t in p.treatments if t.drug == "lmwh"], "stop at least"),
              ("vka_stop_before", [t for t in p.treatments if anticoagulant_class(t.drug) == "vka"],
               "vitamin K antagonist: relay by LMWH; stop at least"),
              ("doac_stop_before", [t for t in p.treatments if anticoagulant_class(t.drug) == "doac"],
               "direct oral anticoagulant, no relay: stop at least"))
    if not any(ts for _, ts, _ in groups):
        return []
    s = p.date("surgery")
    if s is None:
        drugs = sorted({t.drug for _, ts, _ in groups for t in ts})
        return [Skipped("PATH-ANTICOAGULANT", f"dates.surgery not given: {', '.join(drugs)} cannot be timed against it")]
    reasons: list[str] = []
    first: tuple[float, Sourced, str] | None = None
    missing: list[str] = []
    for key, ts, words in groups:
        if not ts:
            continue
        lim = threshold(ctx, key)
        if lim is None:
            missing.append(f"profile {ctx.profile.name} gives no pathway.{key}")
            continue
        r, gap = _stop_reasons(ctx, ts, lim, words)
        reasons += r
        if r and first is None:
            first = (gap, lim, ts[0].drug)
    severity = "hard" if reasons else None
    vka = groups[1][1]
    if vka and not groups[0][1] and not reasons:
        stopped = [t for t in vka if t.last_dose is not None]
        if stopped:
            reasons.append(f"{stopped[0].drug} (treatment[{stopped[0].index}]) stopped {iso(stopped[0].last_dose)} with no "
                           "LMWH relay recorded (a [[treatment]] with drug = \"lmwh\"): the reference asks for the relay")
            severity = "soft"
    if not reasons:
        return result("PATH-ANTICOAGULANT", None, missing)
    if first is None:
        return [finding("PATH-ANTICOAGULANT", s, None, None, "", reasons, drug=vka[0].drug, severity=severity)]
    return [finding("PATH-ANTICOAGULANT", s, first[0], first[1], "day", reasons, drug=first[2], severity=severity)]


@kit.rule("PATH-CHEMO", "pathway")
@pathway_rule
def path_chemo(ctx: Context) -> list[Finding]:
    """Chemotherapy taken less than 3 weeks before surgery."""
    return _stop_rule(ctx, "PATH-CHEMO", ctx.patient.treatments_of("chemotherapy"), "chemo_stop_before",
                      "stop at least")


@kit.rule("PATH-CHEMO-RESUME", "pathway")
@pathway_rule
def path_chemo_resume(ctx: Context) -> list[Finding]:
    """Chemotherapy resumed outside 15 days to 3 weeks after surgery."""
    chemo = ctx.patient.treatments_of("chemotherapy")
    if not chemo:
        return []
    low, high = need(ctx, "chemo_resume_min", "chemo_resume_max")
    s = ctx.patient.date("surgery")
    if s is None:
        return [Skipped("PATH-CHEMO-RESUME", "dates.surgery not given: the chemotherapy restart cannot be timed")]
    reasons, missing = [], []
    first = None
    for t in chemo:
        if t.resume is None:
            missing.append(f"treatment[{t.index}].resume not given")
            continue
        if as_date(t.resume) <= as_date(s):
            continue  # not after surgery: PATH-ORDER alone
        d = days_between(s, t.resume, low)
        if below(d, low.value) or above(d, high.value):
            reasons.append(f"chemotherapy (treatment[{t.index}]) resumed {iso(t.resume)}, {days_text(d)} after surgery; "
                           f"between {num(low.value)} and {num(high.value)} days, healing permitting")
            first = first or (d, low if below(d, low.value) else high)
    if first is None:
        return result("PATH-CHEMO-RESUME", None, missing)
    return [finding("PATH-CHEMO-RESUME", s, first[0], first[1], "day", reasons, drug="chemotherapy")]


@kit.rule("PATH-CORTICOSTEROID", "pathway")
@pathway_rule
def path_corticosteroid(ctx: Context) -> list[Finding]:
    """A corticosteroid still taken at surgery."""
    cs = ctx.patient.treatments_of("corticosteroid")
    if not cs:
        return []
    s = ctx.patient.date("surgery")
    if s is None:
        return [Skipped("PATH-CORTICOSTEROID", "dates.surgery not given: the corticosteroid cannot be timed against it")]
    reasons = [f"corticosteroid (treatment[{t.index}]) {last_text(t)}, taken at surgery ({iso(s)}): stop or taper where "
               "possible (healing, infection)" for t in cs if t.last_dose is None or as_date(t.last_dose) >= as_date(s)]
    if not reasons:
        return []
    return [finding("PATH-CORTICOSTEROID", s, None, None, "", reasons, drug="corticosteroid")]


# --------------------------------------------------------------------------- the device, steps 3 and 8
def _table_kind(table: Table) -> str | None:
    for kind, entry in library.pathway_vocabulary()["device_kinds"].items():
        if table.device.kind in entry["library_kinds"]:
            return kind
    return None


@kit.rule("PATH-DEVICE", "pathway")
@pathway_rule
def path_device(ctx: Context) -> list[Finding]:
    """The device kind (or the table's device) does not fit the life expectancy."""
    (lim,) = need(ctx, "device_life_expectancy")
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
        months = f"{num(lim.value)} days"
        if kind == "port-external-pump" and above(p.life_expectancy, lim.value):
            reasons.append(f"life expectancy {num(p.life_expectancy)} days is above {months}: an implanted pump, "
                           "not a port with an external pump")
        elif kind == "implanted-pump" and below(p.life_expectancy, lim.value):
            reasons.append(f"life expectancy {num(p.life_expectancy)} days is below {months}: a port with an external "
                           "pump, not an implanted pump")
    if not reasons:
        if ctx.table is None and not missing:
            return [Skipped("PATH-DEVICE", "no --table: the device kind fits the life expectancy; the table's device is "
                                           "not compared with it")]
        return result("PATH-DEVICE", None, missing)
    return [finding("PATH-DEVICE", None, p.life_expectancy, lim, "day", reasons)]


def _on_or_after(appt: Day, instant: dt.datetime) -> bool:
    """A date-only appointment is after an instant when its date is on or after that instant's date
    (FORMAT.md §12.6); a date-time appointment compares exactly."""
    if isinstance(appt, dt.datetime):
        return appt > instant
    return appt >= instant.date()


@kit.rule("PATH-FIRST-REFILL", "pathway")
@pathway_rule
def path_first_refill(ctx: Context) -> list[Finding]:
    """No first-refill appointment, or one on or after the pump's empty or low-alarm date."""
    p = ctx.patient
    s, appt = p.date("surgery"), p.date("first_refill_appointment")
    if s is None:
        return [Skipped("PATH-FIRST-REFILL", "dates.surgery not given: the appointment due before discharge is not judged")]
    if appt is None:
        return [finding("PATH-FIRST-REFILL", s, None, None, "",
                        ["no first-refill appointment (dates.first_refill_appointment) given before discharge"],
                        severity="soft")]
    if ctx.table is None:
        return [Skipped("PATH-FIRST-REFILL", "no --table: the appointment is not compared with the pump's low-alarm and "
                                             "empty dates")]
    if not in_order(ctx, "surgery", "first_refill_appointment"):
        return []  # PATH-ORDER alone
    d_appt = days_between(s, appt)
    checks = [(ctx.empty_at, "hard", "the programmed case's empty date (every allowed bolus taken: the pump is empty "
                                     "before the refill, withdrawal)"),
              (ctx.worst_empty_at, "soft", "the worst case's empty date (the pump fast by its accuracy)"),
              (ctx.low_alarm_at, "soft", "the pump's programmed-case low-alarm date")]
    if ctx.empty_at is None:
        checks.append((ctx.horizon_end, "soft", "the end of the table's horizon (the table does not reach the appointment)"))
    fired = [(instant, sev, words) for instant, sev, words in checks
             if instant is not None and _on_or_after(appt, instant)]
    if not fired:
        return []
    reasons = [f"first-refill appointment {iso(appt)} ({days_text(d_appt)} after surgery) is on or after "
               + "; and on or after ".join(f"{words} ({iso(instant)}, {days_text(days_between(s, instant))} after surgery)"
                                           for instant, _, words in fired)]
    severity = "hard" if any(sev == "hard" for _, sev, _ in fired) else "soft"
    return [finding("PATH-FIRST-REFILL", appt, d_appt, None, "day", reasons,
                    limit_value=days_between(s, fired[0][0]), severity=severity)]


@kit.rule("OPIOID-CONVERSION", "pathway")
def opioid_conversion(ctx: Context) -> list[Finding]:
    """The programmed case's largest 24 h intrathecal morphine dose of the first day above the OME / ratio."""
    table = ctx.table
    if table is None:
        return [Skipped("OPIOID-CONVERSION", "no --table: no intrathecal morphine dose to compare with the oral dose")]
    m = ctx.morphine
    if m is None:
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
    if not above(m.total, ceiling):
        return []
    return [finding("OPIOID-CONVERSION", m.at, m.total, ratio, "mg/day", [
        f"first intrathecal morphine (session[{m.session}]): {num(m.total)} mg in the largest 24 h of the programmed case "
        f"(basal {num(m.basal)} mg/day + {num(m.boluses)} mg of allowed boluses) is above the oral morphine "
        f"equivalent {num(ome)} mg/day / {num(float(ratio.value))} = {num(ceiling)} mg/day"], drug="morphine",
        limit_value=ceiling)]
