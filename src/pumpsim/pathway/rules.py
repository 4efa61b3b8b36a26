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

from pumpsim.io import library
from pumpsim.io.patient import Day, Treatment
from pumpsim.model.table import Sourced, Table
from pumpsim.model.timebase import as_date
from pumpsim.model.tolerances import above
from pumpsim.pathway.context import (
    Context,
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


@kit.rule("PATH-RELATIVE", "pathway")
@pathway_rule
def path_relative(ctx: Context) -> list[Finding]:
    """A relative contraindication to weigh, or an anti-angiogenic taken less than 15 days before the review."""
    rel, before = need(ctx, "relative_contraindications", "anti_angiogenic_before_review")
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
            missing.append(f"anti-angiogenic treatment[{t.index}]: no dates.review to count {num(before.value)} days from")
        else:
            gap = days_between(t.last_dose, review, before)
            if below(gap, before.value):
                reasons.append(f"anti-angiogenic treatment[{t.index}] last taken {iso(t.last_dose)}, {days_text(gap)} before "
                               f"the review (less than {num(before.value)}): oncology opinion needed")
                value, limit = gap, before
    if not reasons:
        return result("PATH-RELATIVE", None, missing)
    src = limit if limit is not None and len(reasons) == 1 else rel
    return [finding("PATH-RELATIVE", review if limit is not None else None, value, src,
                       "day" if value is not None else "", reasons,
                       limit_value=None if value is None else float(before.value))]


# --------------------------------------------------------------------------- step 2: the file
LAB_WORDS = {"neutrophils": "neutrophils", "platelets": "platelets"}
IMAGING_WORDS = {"ct_thorax_abdomen_pelvis": "thorax-abdomen-pelvis CT with the spine", "brain": "brain CT or MRI"}


@kit.rule("PATH-LAB-VALUE", "pathway")
@pathway_rule
def path_lab_value(ctx: Context) -> list[Finding]:
    """Neutrophils or platelets not above their minimum."""
    lims = dict(zip(("neutrophils", "platelets"), need(ctx, "neutrophils_min", "platelets_min")))
    reasons, missing = [], []
    first: tuple[float, Sourced] | None = None
    for name, lim in lims.items():
        lab = ctx.patient.lab(name)
        if lab is None:
            missing.append(f"labs.{name} not given")
        elif not above(lab.value, lim.value):
            reasons.append(f"{name} {num(lab.value)} /mm3 is not above {num(lim.value)} /mm3")
            first = first or (lab.value, lim)
    if first is None:
        return result("PATH-LAB-VALUE", None, missing)
    return [finding("PATH-LAB-VALUE", None, first[0], first[1], "/mm3", reasons)]


def _age_rule(ctx: Context, rule_id: str, key: str, items: list[tuple[str, Day | None, str]]) -> list[Finding]:
    (lim,) = need(ctx, key)
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
            reasons.append(f"{words} of {iso(when)} is {days_text(age)} old at the review (limit {num(lim.value)})")
            first = first if first is not None else age
    if first is None:
        return result(rule_id, None, missing)
    return [finding(rule_id, review, first, lim, "day", reasons)]


@kit.rule("PATH-LAB-AGE", "pathway")
@pathway_rule
def path_lab_age(ctx: Context) -> list[Finding]:
    """Laboratory results older than the limit at the review."""
    items = []
    for name in ("neutrophils", "platelets"):
        lab = ctx.patient.lab(name)
        items.append((f"labs.{name}.at" if lab is not None else f"labs.{name}", None if lab is None else lab.at,
                      f"the {name} count"))
    return _age_rule(ctx, "PATH-LAB-AGE", "lab_max_age", items)


@kit.rule("PATH-IMAGING-AGE", "pathway")
@pathway_rule
def path_imaging_age(ctx: Context) -> list[Finding]:
    """Thorax-abdomen-pelvis CT or brain imaging older than the limit at the review."""
    img = dict(ctx.patient.imaging)
    items = [(f"imaging.{k}", img.get(k), f"the {w}") for k, w in IMAGING_WORDS.items()]
    return _age_rule(ctx, "PATH-IMAGING-AGE", "imaging_max_age", items)


# --------------------------------------------------------------------------- steps 3-5: the delays
def _delay_rule(ctx: Context, rule_id: str, frm: str, to: str, low_key: str | None, high_key: str | None,
                what: str, anchor: str) -> list[Finding]:
    keys = [k for k in (low_key, high_key) if k is not None]
    lims = dict(zip(keys, need(ctx, *keys)))
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
            return [finding(rule_id, b, d, low, "day", [said.format(days_text(d)) + f"; at least {num(low.value)} days"])]
    if high is not None:
        d = days_between(a, b, high)
        if above(d, high.value):
            return [finding(rule_id, b, d, high, "day", [said.format(days_text(d)) + f"; at most {num(high.value)} days"])]
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
    d = days_between(a, s, lim)
    if not below(d, lim.value):
        return []
    return [finding("PATH-ANAESTHESIA", s, d, lim, "day",
                       [f"anaesthesia consultation {iso(a)} is {days_text(d)} before surgery; at least {num(lim.value)} days "
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
            reasons.append(f"{t.drug} (treatment[{t.index}]) still taken; {words} {num(lim.value)} days before surgery")
            continue
        gap = days_between(t.last_dose, s, lim)
        if below(gap, lim.value):
            dose = f" {num(t.dose)} mg/day" if t.dose is not None else ""
            reasons.append(f"{t.drug}{dose} (treatment[{t.index}]) last taken {iso(t.last_dose)}, {days_text(gap)} before surgery; "
                           f"{words} {num(lim.value)} days before")
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


@kit.rule("PATH-METHADONE", "pathway")
@pathway_rule
def path_methadone(ctx: Context) -> list[Finding]:
    """Methadone taken, or a methadone patient admitted, less than 48 h before surgery."""
    meth = ctx.patient.treatments_of("methadone")
    if not meth:
        return []
    stop, admit = need(ctx, "methadone_stop_before", "methadone_admission_before")
    s, adm = ctx.patient.date("surgery"), ctx.patient.date("admission")
    if s is None:
        return [Skipped("PATH-METHADONE", "dates.surgery not given: methadone cannot be timed against it")]
    reasons, gap = _stop_reasons(ctx, meth, stop, "stop at least")
    lim = stop
    missing = []
    if adm is None:
        missing.append(f"dates.admission not given: a methadone patient is admitted {num(admit.value)} days before surgery")
    else:
        d = days_between(adm, s, admit)
        if below(d, admit.value):
            reasons.append(f"a methadone patient admitted {iso(adm)}, {days_text(d)} before surgery; at least {num(admit.value)} days")
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


@kit.rule("PATH-ANTICOAGULANT", "pathway")
@pathway_rule
def path_anticoagulant(ctx: Context) -> list[Finding]:
    """The LMWH relay taken later than day -1."""
    return _stop_rule(ctx, "PATH-ANTICOAGULANT", ctx.patient.treatments_of("lmwh"), "lmwh_stop_before", "stop at least")


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
        return result("PATH-DEVICE", None, missing)
    return [finding("PATH-DEVICE", None, p.life_expectancy, lim, "day", reasons)]


@kit.rule("PATH-FIRST-REFILL", "pathway")
@pathway_rule
def path_first_refill(ctx: Context) -> list[Finding]:
    """No first-refill appointment, or one after the pump's programmed-case low alarm."""
    p = ctx.patient
    s, appt = p.date("surgery"), p.date("first_refill_appointment")
    if s is None:
        return [Skipped("PATH-FIRST-REFILL", "dates.surgery not given: the appointment due before discharge is not judged")]
    if appt is None:
        return [finding("PATH-FIRST-REFILL", s, None, None, "",
                           ["no first-refill appointment (dates.first_refill_appointment) given before discharge"])]
    if ctx.table is None:
        return [Skipped("PATH-FIRST-REFILL", "no --table: the appointment is not compared with the pump's low-alarm date")]
    alarm = ctx.low_alarm_at
    if alarm is None or as_date(appt) <= as_date(alarm):
        return []
    d_appt, d_alarm = days_between(s, appt), days_between(s, alarm)
    return [finding("PATH-FIRST-REFILL", appt, d_appt, None, "day", [
        f"first-refill appointment {iso(appt)} ({days_text(d_appt)} after surgery) is later than the pump's programmed-case "
        f"low alarm on {as_date(alarm).isoformat()} ({days_text(d_alarm)} after surgery)"], limit_value=d_alarm)]


@kit.rule("OPIOID-CONVERSION", "pathway")
def opioid_conversion(ctx: Context) -> list[Finding]:
    """The table's first intrathecal morphine dose above the oral morphine equivalent / ratio."""
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
    return [finding("OPIOID-CONVERSION", at, dose, ratio, "mg/day", [
        f"first intrathecal morphine {num(dose)} mg/day (session[{first.session.index}]) is above the oral morphine "
        f"equivalent {num(ome)} mg/day / {num(float(ratio.value))} = {num(ceiling)} mg/day"], drug="morphine",
        limit_value=ceiling)]
