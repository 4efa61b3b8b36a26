"""Reconciliation of a pump's telemetry records with its programming table (docs/FORMAT.md §6, docs/RULES.md §7).

:func:`reconcile` gathers the evidence (:mod:`pumpsim.telemetry.evidence`: the records matched to
the table, the refill intervals' observed and expected delivery, the interrogations' expected
estimates, the drift statistic) and judges it by the TEL rules of the rule kit
(``kit.run("telemetry", evidence)``, :mod:`pumpsim.telemetry.rules`). This module renders the
result as JSON and text. docs/TELEMETRY.md states every decision.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pumpsim.io.records import Record
from pumpsim.model.table import Sourced, Table
from pumpsim.rules import kit
from pumpsim.rules.kit import Judged, Skipped, Violation
from pumpsim.telemetry import rules as _rules  # noqa: F401  (registers the TEL rules)
from pumpsim.telemetry.evidence import Drift, Estimate, Interval, asked, cusum_alarms, day, gather, iso, pct, thresholds, when

RECONCILE_SCHEMA = "pumpsim.reconcile/1"
__all__ = ["RECONCILE_SCHEMA", "Reconciliation", "cusum_alarms", "reconcile", "render_text", "thresholds"]

#: The order of findings at one instant in reports (a rule not listed comes last).
REPORT_ORDER = ("TEL-EMPTY", "TEL-OVER-INFUSION", "TEL-UNDER-INFUSION", "TEL-PROGRAM-MISMATCH", "TEL-BOLUS-EXCESS",
                "TEL-DISCREPANCY", "TEL-DRIFT")
#: The rules an interval without a refill row at its end cannot judge.
INTERVAL_RULES = ("TEL-OVER-INFUSION", "TEL-UNDER-INFUSION", "TEL-EMPTY", "TEL-DISCREPANCY")


@dataclass
class Reconciliation(Judged):
    table: Table
    records_path: str
    intervals: list[Interval]
    estimates: list[Estimate]
    violations: list[Violation]
    not_checked: list[Skipped]
    context: list[Record]
    drift: Drift
    accuracy: Sourced
    sd: Sourced | None = None  # the per-refill sd of ln(ratio) of the pump's model
    hard_band: tuple[float, float] = (0.0, float("inf"))  # FORMAT.md §12.13

    @property
    def band(self) -> tuple[float, float]:
        """[1 - accuracy, 1 + accuracy]: outside it a refill's ratio is a soft finding."""
        a = float(self.accuracy.value)
        return (1.0 - a, 1.0 + a)

    def as_json(self) -> dict[str, Any]:
        lo, hi = self.band
        hlo, hhi = self.hard_band
        return {
            "schema": RECONCILE_SCHEMA, "verdict": self.verdict,
            "intervals": [{"from": iso(iv.start.at), "to": iso(iv.end.at), "delivered_observed": _r(iv.observed),
                           "delivered_expected": _r(iv.expected_low), "delivered_expected_low": _r(iv.expected_low),
                           "delivered_expected_high": _r(iv.expected_high), "ratio": _r(iv.ratio),
                           "ratio_low": _r(iv.ratio_low), "ratio_high": _r(iv.ratio_high), "band": [_r(lo), _r(hi)],
                           "hard_band": [_r(hlo), _r(hhi)], "aspirated": iv.end.aspirated} for iv in self.intervals],
            "interrogations": [{"at": iso(e.row.time), "estimate_observed": e.observed,
                                "estimate_expected": _r(e.expected)} for e in self.estimates],
            "violations": [v.as_json() for v in self.violations],
            "not_checked": [{"rule": s.rule, "reason": s.reason} for s in self.not_checked],
            "context": [{"at": iso(r.time), "event": r.event, "note": r.note} for r in self.context],
            "drift": {"method": "two-sided CUSUM on ln(ratio)", "at": [iso(a) for a in self.drift.at],
                      "upper": [_r(x) for x in self.drift.upper], "lower": [_r(x) for x in self.drift.lower],
                      "hard_upper": [_r(x) for x in self.drift.hard_upper],
                      "hard_lower": [_r(x) for x in self.drift.hard_lower], "unit": "sd"},
        }


def _z() -> float:
    return float(thresholds().z_hard.value)


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(float(x), nd)


def reconcile(table: Table, records: list[Record], records_path: str = "<records>") -> Reconciliation:
    """Judge the records against the table (docs/FORMAT.md §6): intervals, estimates, TEL-* findings.

    Parameters
    ----------
    table : Table
        The programming table that was meant to run on the pump.
    records : list of Record
        The pump's records, in time order (:func:`pumpsim.io.records.read_records`).
    records_path : str
        The records file's name, for messages.

    Returns
    -------
    Reconciliation
        Intervals (volumes in mL), interrogations, findings of every TEL rule, checks not made,
        the drift statistic (in sd); its verdict and exit status.
    """
    ev, unjudged = gather(table, records, records_path)
    skipped = [Skipped(rule, f"the interval from {day(s.at)} to {day(e.at)} has no refill row at its end "
                             f"(no aspirated volume recorded)")
               for s, e in unjudged for rule in INTERVAL_RULES]
    violations = [f for f in kit.run("telemetry", ev) if isinstance(f, Violation)]
    rank = {r: i for i, r in enumerate(REPORT_ORDER)}
    violations.sort(key=lambda v: (v.at or "", rank.get(v.rule, len(rank))))
    context = [r for r in records if not r.counts]
    return Reconciliation(table, records_path, ev.intervals, ev.estimates, violations, skipped, context, ev.drift,
                          ev.accuracy, ev.sd, ev.hard_band)


# --------------------------------------------------------------------------- text report
VERDICT_WORDS = {
    "pass": "PASS: the records agree with the table within the pump's tolerance.",
    "warn": "WARN: no hard finding, but warnings to review.",
    "fail": "FAIL: the pump did not deliver what the table programs; act on the findings below.",
}


def render_text(rec: Reconciliation) -> str:
    t = rec.table
    lo, hi = rec.band
    out = [VERDICT_WORDS[rec.verdict],
           f"Records {rec.records_path} against table {t.path} ({t.device.model}).",
           f"Band of one refill: {lo:.3f} to {hi:.3f} (pump accuracy {rec.accuracy.text or pct(float(rec.accuracy.value))}"
           f"{'' if rec.accuracy.verified else ', UNVERIFIED'}; source: {rec.accuracy.source}): outside it, a warning.",
           f"Hard band: {rec.hard_band[0]:.3f} to {rec.hard_band[1]:.3f} (the band and exp(+/-{_z():g} sd), sd "
           f"{float(rec.sd.value):g} per refill{'' if rec.sd.verified else ', UNVERIFIED'}): beyond it, a hard finding."]
    hard = [v for v in rec.violations if v.severity == "hard"]
    soft = [v for v in rec.violations if v.severity == "soft"]
    for title, group in (("Hard findings", hard), ("Warnings", soft)):
        if group:
            out.append(f"\n{title} ({len(group)}):")
            for v in group:
                flag = "" if v.verified else " [limit UNVERIFIED]"
                out.append(f"  {v.rule} at {v.at}: {v.message}.")
                out.append(f"      limit {v.limit:g} {v.unit}{flag}; source: {v.source}")
    out.append("\nRefill intervals (delivered: observed / programmed):")
    if not rec.intervals:
        out.append("  none could be judged (no refill row after the first refill).")
    for iv in rec.intervals:
        ratio = "n/a" if iv.ratio is None else (f"{iv.ratio:.3f}" if iv.ratio_low == iv.ratio_high
                                                else f"{iv.ratio_low:.3f} to {iv.ratio_high:.3f}")
        ok = ""
        if iv.empty:
            ok = "  reservoir dry at the refill"
        elif iv.ratio_low is not None and iv.ratio_high is not None:
            hlo, hhi = rec.hard_band
            if lo <= iv.ratio_high and iv.ratio_low <= hi:
                ok = "  within the band"
            elif hlo <= iv.ratio_high and iv.ratio_low <= hhi:
                ok = "  OUTSIDE the band (evaluate)"
            else:
                ok = "  BEYOND the hard band (act)"
        out.append(f"  {when(iv.start.at)} -> {when(iv.end.at)}: {iv.observed:.2f} mL / {asked(iv)}; "
                   f"ratio {ratio}; aspirated {iv.end.aspirated:.2f} mL{ok}")
    if rec.estimates:
        out.append("\nInterrogations (displayed / the table's program gives):")
        for e in rec.estimates:
            out.append(f"  {when(e.row.time)}: {e.observed:.2f} mL / {e.expected:.2f} mL")
    if rec.drift.at:
        h, h2 = float(thresholds().drift_threshold.value), float(thresholds().drift_hard_threshold.value)
        last_u, last_l = rec.drift.upper[-1], rec.drift.lower[-1]
        out.append(f"\nDrift test (two-sided CUSUM on ln(ratio), thresholds {h:g} sd soft, {h2:g} sd hard): at the last "
                   f"refill {last_u:.2f} sd upwards, {last_l:.2f} sd downwards; {len(rec.drift.alarms)} soft and "
                   f"{len(rec.drift.hard_alarms)} hard alarm(s).")
    if rec.context:
        out.append("\nContext (alarms and MRI):")
        for r in rec.context:
            out.append(f"  {when(r.time)}: {r.event}{': ' + r.note if r.note else ''}")
    if rec.not_checked:
        out.append("\nChecks not made:")
        seen = set()
        for s in rec.not_checked:
            if s.reason not in seen:
                seen.add(s.reason)
                rules = ", ".join(x.rule for x in rec.not_checked if x.reason == s.reason)
                out.append(f"  {rules}: {s.reason}")
    thr = thresholds()
    out.append("\nLimits used:")
    out.append(f"  pump accuracy {rec.accuracy.text}: {rec.accuracy.source}")
    out.append(f"  sd {rec.sd.text}{'' if rec.sd.verified else ' [UNVERIFIED]'}: {rec.sd.source}")
    for key in ("z_hard", "z_prediction", "estimate_tolerance", "discrepancy_small", "discrepancy_large",
                "drift_reference", "drift_threshold", "drift_hard_threshold", "match_window"):
        s = thr.raw[key]
        out.append(f"  {key} {s.text}{'' if s.verified else ' [UNVERIFIED]'}: {s.source}")
    return "\n".join(out) + "\n"
