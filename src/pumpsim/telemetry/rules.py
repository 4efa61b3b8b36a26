"""The TEL rules (docs/FORMAT.md §6, docs/RULES.md §7): one small pure function each, registered in
the rule kit's ``telemetry`` family and judged by ``kit.run("telemetry", evidence)``.

Each function reads one :class:`~pumpsim.telemetry.evidence.Evidence` (the records matched to the
table, the refill intervals, the interrogations' expected estimates, the drift statistic) and
returns its findings; its thresholds come from ``data/telemetry.toml`` and the device library,
each with its source. A new TEL rule is an entry of ``data/rules.toml`` plus one function here.
"""
from __future__ import annotations

import math

from pumpsim.model.table import Sourced
from pumpsim.model.tolerances import RTOL, above
from pumpsim.rules import kit
from pumpsim.rules.kit import Violation
from pumpsim.telemetry.evidence import Evidence, Interval, asked, day, finding, pct, range_ml, when


def _between(iv: Interval) -> str:
    return f"Between the refills of {day(iv.start.at)} and {day(iv.end.at)}"


def _noted(ev: Evidence, iv: Interval) -> str:
    """The alarms and MRI recorded in the interval, as a clause of a message."""
    seen = [f"{'an MRI' if r.event == 'mri' else 'the alarm ' + (r.note or 'without name')} on {when(r.time)}"
            for r in ev.records if not r.counts and iv.start.at <= r.time <= iv.end.at]
    return f"; recorded in this interval: {', '.join(seen)}" if seen else ""


@kit.rule("TEL-EMPTY", "telemetry")
def empty(ev: Evidence) -> list[Violation]:
    """TEL-EMPTY: the residual aspirated at a refill is 0 mL, so the reservoir ran dry before it."""
    thr = ev.thresholds
    return [finding("TEL-EMPTY", "hard", iv.end.at, iv.end.aspirated, float(thr.empty_aspirate.value), "mL",
                    f"{_between(iv)} the reservoir ran dry: 0 mL was aspirated at the refill of {day(iv.end.at)} "
                    f"where the program leaves {range_ml(iv.start.volume - iv.expected_high, iv.start.volume - iv.expected_low)}; "
                    "the patient may have gone without drug (withdrawal) and may have been over-infused before: "
                    "check the delivery ratio, the refill volumes and for drug withdrawn from the pump",
                    thr.empty_aspirate)
            for iv in ev.intervals if iv.empty]


@kit.rule("TEL-OVER-INFUSION", "telemetry")
def over_infusion(ev: Evidence) -> list[Violation]:
    """TEL-OVER-INFUSION: over a refill interval the pump delivered more than 1 + accuracy times the program."""
    a = float(ev.accuracy.value)
    out = []
    for iv in ev.intervals:
        rl = iv.ratio_low
        if rl is not None and above(rl, 1.0 + a):
            out.append(finding("TEL-OVER-INFUSION", "hard", iv.end.at, rl, 1.0 + a, "ratio",
                               f"{_between(iv)} the pump delivered {iv.observed:.1f} mL where the program asked {asked(iv)} "
                               f"({pct(rl)}{' at least' if iv.empty else ''}, above the {pct(1.0 + a)} the device "
                               f"tolerance allows{_noted(ev, iv)}): check for over-infusion (a pump running fast), a refill "
                               f"volume entered wrong or a pocket fill, and the patient for overdose", ev.accuracy))
    return out


@kit.rule("TEL-UNDER-INFUSION", "telemetry")
def under_infusion(ev: Evidence) -> list[Violation]:
    """TEL-UNDER-INFUSION: over a refill interval the pump delivered less than 1 - accuracy times the program."""
    a = float(ev.accuracy.value)
    out = []
    for iv in ev.intervals:
        rh = iv.ratio_high
        if rh is not None and not iv.empty and above(1.0 - a, rh):
            out.append(finding("TEL-UNDER-INFUSION", "hard", iv.end.at, rh, 1.0 - a, "ratio",
                               f"{_between(iv)} the pump delivered {iv.observed:.1f} mL where the program asked {asked(iv)} "
                               f"({pct(rh)}, below the {pct(1.0 - a)} the device tolerance allows{_noted(ev, iv)}): check "
                               "for a motor stall or catheter occlusion, and for withdrawal; residuals repeatedly higher or "
                               "lower than expected can also reveal drug withdrawn from the pump", ev.accuracy))
    return out


@kit.rule("TEL-PROGRAM-MISMATCH", "telemetry")
def program_mismatch(ev: Evidence) -> list[Violation]:
    """TEL-PROGRAM-MISMATCH: a displayed reservoir volume differs from the table's by more than the tolerance plus the bolus range."""
    thr = ev.thresholds
    tol = float(thr.estimate_tolerance.value)
    out = []
    for e in ev.estimates:
        diff, rng = abs(e.observed - e.expected), e.bolus_range
        if above(diff, tol + rng):
            t = e.row.time
            extra = f" plus the {rng:.2f} mL the uncounted boluses allow" if rng > 0 else ""
            out.append(finding("TEL-PROGRAM-MISMATCH", "hard", t, diff, tol + rng, "mL",
                               f"On {day(t)} the pump displayed {e.observed:.2f} mL where the table's program "
                               f"gives {e.expected:.2f} mL since the refill of {day(e.since.at)} ({diff:.2f} mL apart, "
                               f"more than the {thr.estimate_tolerance.text}{extra}): the pump does not hold the table's "
                               "program, or a refill volume was entered wrong; interrogate the pump and compare its "
                               "rates, steps and reservoir volume with the table", thr.estimate_tolerance))
    return out


@kit.rule("TEL-BOLUS-EXCESS", "telemetry")
def bolus_excess(ev: Evidence) -> list[Violation]:
    """TEL-BOLUS-EXCESS: a row counts more boluses than the table's bolus policy allows since the previous row."""
    out = []
    for j, r in enumerate(ev.rows):
        if r.boluses is None:
            continue
        a, a_open = (ev.refills[0].t, False) if j == 0 else (ev.row_t[j - 1], True)
        most, _ = ev.timeline.greedy(a, ev.row_t[j], a_open)
        if r.boluses > most:
            since = "the first refill" if j == 0 else f"the previous record ({when(ev.rows[j - 1].time)})"
            out.append(finding("TEL-BOLUS-EXCESS", "hard", r.time, r.boluses, most, "boluses",
                               f"On {day(r.time)} the pump counted {r.boluses} boluses since {since}, where the "
                               f"table's bolus policy allows at most {most}: the pump does not hold the table's bolus "
                               "policy (lockout, maximum per 24 h); check the patient for overdose",
                               Sourced(most, f"the bolus policy of the table {ev.table.path} (lockout, max_per_24h)", True)))
    return out


@kit.rule("TEL-DISCREPANCY", "telemetry")
def discrepancy(ev: Evidence) -> list[Violation]:
    """TEL-DISCREPANCY: the aspirated residual lies outside the expected residual range by more than 1 mL (20 mL pumps) or 2 mL."""
    thr = ev.thresholds
    small = float(ev.table.device.reservoir.value) <= float(thr.small_reservoir_max.value) * (1 + RTOL)
    lim = thr.discrepancy_small if small else thr.discrepancy_large
    out = []
    for iv in ev.intervals:
        s, e = iv.start, iv.end
        res_lo, res_hi = max(s.volume - iv.expected_high, 0.0), max(s.volume - iv.expected_low, 0.0)
        asp = float(e.aspirated)
        off = res_lo - asp if asp < res_lo else (asp - res_hi if asp > res_hi else 0.0)
        if above(off, float(lim.value)):
            side = "less" if asp < res_lo else "more"
            out.append(finding("TEL-DISCREPANCY", "soft", e.at, off, float(lim.value), "mL",
                               f"At the refill of {day(e.at)} {asp:.2f} mL was aspirated where the program leaves "
                               f"{range_ml(res_lo, res_hi)}: {off:.2f} mL {side}, beyond the {lim.text} a "
                               f"{'20 mL' if small else 'larger'} reservoir allows; "
                               + ("check for a pocket fill (part of the last refill outside the reservoir) and the "
                                  "patient for overdose, for over-infusion and for drug withdrawn from the pump"
                                  if side == "less" else "check for a stall or occlusion and for withdrawal")
                               + "; track the volumes across refills", lim))
    return out


@kit.rule("TEL-DRIFT", "telemetry")
def drift(ev: Evidence) -> list[Violation]:
    """TEL-DRIFT: the two-sided CUSUM of ln(ratio) over the refills crosses its threshold (a sustained bias)."""
    thr, d = ev.thresholds, ev.drift
    h = float(thr.drift_threshold.value)
    out = []
    for k in d.alarms:
        iv = d.judged[k]
        up = d.upper[k] >= d.lower[k]
        stat = d.upper[k] if up else d.lower[k]
        n, mean = _run_mean(d.upper if up else d.lower, d.x, k)
        out.append(finding("TEL-DRIFT", "soft", iv.end.at, stat, h, "sd",
                           f"Over the {'last refill interval' if n == 1 else f'last {n} refill intervals'} up to "
                           f"{day(iv.end.at)} the pump delivered on average "
                           f"{abs(mean - 1) * 100:.1f} % {'more' if up else 'less'} than programmed (ratio {mean:.3f}); "
                           f"the cumulative sum of ln(ratio) reached {stat:.1f} sd, above the {h:g} sd threshold "
                           f"(sd {float(thr.drift_sigma.value):g} per refill): a sustained bias that single refills "
                           "may not show; trend the volumes, check the pump's accuracy and "
                           + ("the patient for overdose" if up else "for a partial occlusion, withdrawal or drug withdrawn"),
                           thr.drift_sigma))
    return out


def _run_mean(series: list[float], x: list[float], k: int) -> tuple[int, float]:
    """The refills since the alarming side was last 0, and their mean ratio (geometric)."""
    start = k
    while start > 0 and series[start - 1] > 0.0:
        start -= 1
    xs = x[start:k + 1]
    return len(xs), math.exp(sum(xs) / len(xs))
