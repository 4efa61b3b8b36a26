"""The pathway's dates in order, each with the delay to its anchor and the limit of that delay:
the report's "Timeline" and the data of the timeline figure (:mod:`pumpsim.render.pathway_figure`).
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from pumpsim.io import library
from pumpsim.io.patient import Day
from pumpsim.model.table import Sourced
from pumpsim.model.timebase import as_date
from pumpsim.model.tolerances import above
from pumpsim.pathway.context import Context, below, days_between, days_text, iso, num, threshold
from pumpsim.pathway.rules import IMAGING_WORDS, LAB_WORDS, anticoagulant_class, under_methadone


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
            return f"limits {num(self.low)} to {num(self.high)}"
        if self.high is not None:
            return f"limit {num(self.high)}"
        if self.low is not None:
            return f"at least {num(self.low)}"
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
    if delay < 0:
        ok = False  # out of the pathway's order (PATH-ORDER)
    return TimelineStep(at, what, anchor, anchor_what, relation, delay, lo, hi, rule_id, ok)


def timeline(ctx: Context) -> list[TimelineStep]:
    """The pathway's dates in order, each with its delay and limit (thresholds the profile lacks: no limit)."""
    p = ctx.patient
    d = p.date
    th = functools.partial(threshold, ctx)
    review, surgery, algo = d("review"), d("surgery"), d("algology_consult")
    out: list[TimelineStep] = []

    def add(at: Day | None, *args) -> None:
        if at is not None:
            out.append(_step(ctx, at, *args))

    consult = d("anaesthesia_consult")
    for name, lab in p.labs:
        if lab.at is None:
            continue
        if review is not None and consult is not None and as_date(lab.at) > as_date(review):
            # re-done after the review: judged at the anaesthesia consultation only
            add(lab.at, LAB_WORDS[name], consult, "the anaesthesia consultation", "before", None, th("lab_max_age"),
                "PATH-LAB-AGE")
        else:
            add(lab.at, LAB_WORDS[name], review, "the review", "before", None, th("lab_max_age"), "PATH-LAB-AGE")
    for k, when in p.imaging:
        add(when, IMAGING_WORDS[k], review, "the review", "before", None, th("imaging_max_age"), "PATH-IMAGING-AGE")
    add(d("file_complete"), "complete file received", None, "", "", None, None, None)
    add(review, "multidisciplinary review", d("file_complete"), "the complete file", "after", None,
        th("review_max_delay"), "PATH-REVIEW-DELAY")
    add(algo, "algology consultation", review, "the review", "after", None, th("algology_max_delay"), "PATH-CONSULT-DELAY")
    add(d("anaesthesia_consult"), "anaesthesia consultation", surgery, "surgery", "before", th("anaesthesia_min_before"),
        None, "PATH-ANAESTHESIA")
    methadone = under_methadone(ctx) is True
    add(d("consent"), "written consent", surgery, "surgery", "before", None, None, "PATH-CONSENT")
    add(d("parental_authorisation"), "parents' authorisation", surgery, "surgery", "before", None, None, "PATH-CONSENT")
    add(d("admission"), "admission", surgery, "surgery", "before",
        th("methadone_admission_before") if methadone else th("admission_before"), None,
        "PATH-METHADONE" if methadone else "PATH-ADMISSION")
    stops = {"methadone": ("methadone_stop_before", "PATH-METHADONE"),
             "other-opioid": ("other_opioid_stop_before", "PATH-OPIOID-STOP"),
             "clopidogrel": ("antiplatelet_stop_before", "PATH-ANTIPLATELET"),
             "aspirin": ("antiplatelet_stop_before", "PATH-ANTIPLATELET"),
             "lmwh": ("lmwh_stop_before", "PATH-ANTICOAGULANT"),
             **{drug: (f"{cls}_stop_before", "PATH-ANTICOAGULANT")
                for drug in library.pathway_vocabulary()["treatments"] if (cls := anticoagulant_class(drug))},
             "chemotherapy": ("chemo_stop_before", "PATH-CHEMO")}
    cont = th("aspirin_max_continued")
    words = {"other-opioid": "other opioid", "lmwh": "LMWH relay"}
    for t in p.treatments:
        if t.last_dose is None:
            continue
        if t.drug == "methadone" and not methadone:
            add(t.last_dose, "last dose of methadone (stopped before the algology consultation)", surgery, "surgery",
                "before", None, None, None)
        elif t.drug in stops:
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
            relation = s.relation if s.delay >= 0 else {"after": "before", "before": "after"}.get(s.relation, s.relation)
            line += f": {days_text(abs(s.delay))} {relation} {s.anchor_what}"
            if s.limit_text():
                line += f" ({s.limit_text()})"
        if s.ok is False:
            line += "  <-- out of order" if s.delay is not None and s.delay < 0 else "  <-- outside the limit"
        lines.append(line)
    return lines
