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


def _spread_limit(ev: Evidence, up: bool) -> Sourced:
    """The spread side of the hard tier, exp(+/- z_hard x sd), with the sources of sd and z."""
    z, sd = float(ev.thresholds.z_hard.value), float(ev.sd.value)
    return Sourced(math.exp(z * sd if up else -z * sd),
                   f"exp({'' if up else '-'}{z:g} x sd {sd:g}), beyond a working pump's spread: sd {ev.sd.source}; "
                   f"z {ev.thresholds.z_hard.source}", ev.sd.verified and ev.thresholds.z_hard.verified)


def _hard_source(ev: Evidence, up: bool) -> Sourced:
    """The source of the hard tier's limit: the spread when it binds, else the device's tolerance."""
    spread = _spread_limit(ev, up)
    a = float(ev.accuracy.value)
    binds = float(spread.value) >= 1.0 + a if up else float(spread.value) <= 1.0 - a
    return spread if binds else ev.accuracy


@kit.rule("TEL-OVER-INFUSION", "telemetry")
def over_infusion(ev: Evidence) -> list[Violation]:
    """TEL-OVER-INFUSION: a refill interval's ratio_low above 1 + accuracy (soft), above exp(3.5 sd) too (hard)."""
    a = float(ev.accuracy.value)
    hard_at = ev.hard_band[1]
    out = []
    for iv in ev.intervals:
        rl = iv.ratio_low
        if rl is None or not above(rl, 1.0 + a):
            continue
        head = (f"{_between(iv)} the pump delivered {iv.observed:.1f} mL where the program asked {asked(iv)} "
                f"({pct(rl)}{' at least' if iv.empty else ''}")
        if above(rl, hard_at):
            out.append(finding("TEL-OVER-INFUSION", "hard", iv.end.at, rl, hard_at, "ratio",
                               f"{head}, above both the {pct(1.0 + a)} the device tolerance allows and the {pct(hard_at)} "
                               f"a working pump's spread explains{_noted(ev, iv)}): check for over-infusion (a pump "
                               f"running fast), a refill volume entered wrong or a pocket fill, and the patient for "
                               f"overdose", _hard_source(ev, True)))
        else:
            out.append(finding("TEL-OVER-INFUSION", "soft", iv.end.at, rl, 1.0 + a, "ratio",
                               f"{head}, above the {pct(1.0 + a)} the device tolerance allows but within the "
                               f"{pct(hard_at)} a working pump's spread explains{_noted(ev, iv)}): evaluate and measure "
                               "again at the next refill; look for a pump running fast, a refill volume entered wrong, "
                               "a pocket fill or a program changed, and ask about signs of overdose", ev.accuracy))
    return out


@kit.rule("TEL-UNDER-INFUSION", "telemetry")
def under_infusion(ev: Evidence) -> list[Violation]:
    """TEL-UNDER-INFUSION: a refill interval's ratio_high below 1 - accuracy (soft), below exp(-3.5 sd) too (hard)."""
    a = float(ev.accuracy.value)
    hard_at = ev.hard_band[0]
    out = []
    for iv in ev.intervals:
        rh = iv.ratio_high
        if rh is None or iv.empty or not above(1.0 - a, rh):
            continue
        head = (f"{_between(iv)} the pump delivered {iv.observed:.1f} mL where the program asked {asked(iv)} "
                f"({pct(rh)}")
        if above(hard_at, rh):
            out.append(finding("TEL-UNDER-INFUSION", "hard", iv.end.at, rh, hard_at, "ratio",
                               f"{head}, below both the {pct(1.0 - a)} the device tolerance allows and the {pct(hard_at)} "
                               f"a working pump's spread explains{_noted(ev, iv)}): check for a motor stall or catheter "
                               "occlusion, and for withdrawal; residuals repeatedly higher or lower than expected can "
                               "also reveal drug withdrawn from the pump", _hard_source(ev, False)))
        else:
            out.append(finding("TEL-UNDER-INFUSION", "soft", iv.end.at, rh, 1.0 - a, "ratio",
                               f"{head}, below the {pct(1.0 - a)} the device tolerance allows but within the "
                               f"{pct(hard_at)} a working pump's spread explains{_noted(ev, iv)}): evaluate and measure "
                               "again at the next refill; look for a motor stall (alarms, an MRI), an occlusion "
                               "beginning, a refill volume entered wrong or drug withdrawn from the pump, and ask about "
                               "signs of withdrawal", ev.accuracy))
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
        start = ev.stretch(j)
        if start is None:
            continue  # counted before the table's first refill: the earlier fill's
        a, a_open = start
        most, _ = ev.timeline.greedy(a, ev.row_t[j], a_open)
        if r.boluses > most:
            since = "the first refill" if not a_open else f"the previous record ({when(ev.rows[j - 1].time)})"
            out.append(finding("TEL-BOLUS-EXCESS", "hard", r.time, r.boluses, most, "boluses",
                               f"On {day(r.time)} the pump counted {r.boluses} boluses since {since}, where the "
                               f"table's bolus policy allows at most {most}: the pump does not hold the table's bolus "
                               "policy (lockout, maximum per 24 h); check the patient for overdose",
                               Sourced(most, f"the bolus policy of the table {ev.table.path} (lockout, max_per_24h)", True)))
    return out


@kit.rule("TEL-DISCREPANCY", "telemetry")
def discrepancy(ev: Evidence) -> list[Violation]:
    """TEL-DISCREPANCY: the aspirate lies more than 1 mL (20 mL pumps) or 2 mL outside the expected residual range and outside its 99 % prediction range."""
    thr = ev.thresholds
    small = float(ev.table.device.reservoir.value) <= float(thr.small_reservoir_max.value) * (1 + RTOL)
    lim = thr.discrepancy_small if small else thr.discrepancy_large
    zs = float(thr.z_prediction.value) * float(ev.sd.value)
    out = []
    for iv in ev.intervals:
        s, e = iv.start, iv.end
        res_lo, res_hi = max(s.volume - iv.expected_high, 0.0), max(s.volume - iv.expected_low, 0.0)
        pred_lo = max(s.volume - iv.expected_high * math.exp(zs), 0.0)
        pred_hi = max(s.volume - iv.expected_low * math.exp(-zs), 0.0)
        asp = float(e.aspirated)
        off = res_lo - asp if asp < res_lo else (asp - res_hi if asp > res_hi else 0.0)
        outside = above(pred_lo, asp) or above(asp, pred_hi)
        if above(off, float(lim.value)) and outside:
            side = "less" if asp < res_lo else "more"
            out.append(finding("TEL-DISCREPANCY", "soft", e.at, off, float(lim.value), "mL",
                               f"At the refill of {day(e.at)} {asp:.2f} mL was aspirated where the program leaves "
                               f"{range_ml(res_lo, res_hi)}: {off:.2f} mL {side}, beyond the {lim.text} a "
                               f"{'20 mL' if small else 'larger'} reservoir allows and outside the 99 % range of a "
                               f"working pump ({range_ml(pred_lo, pred_hi)}, sd {float(ev.sd.value):g}); "
                               + ("check for a pocket fill (part of the last refill outside the reservoir) and the "
                                  "patient for overdose, for over-infusion and for drug withdrawn from the pump"
                                  if side == "less" else "check for a stall or occlusion and for withdrawal")
                               + "; track the volumes across refills", lim))
    return out


@kit.rule("TEL-DRIFT", "telemetry")
def drift(ev: Evidence) -> list[Violation]:
    """TEL-DRIFT: the two-sided CUSUM of ln(ratio) over the refills crosses its soft threshold (a bias), or its hard one (sustained)."""
    thr, d = ev.thresholds, ev.drift
    out = []
    hard_at = set(d.hard_alarms)
    for k in sorted(set(d.alarms) | hard_at):
        iv = d.judged[k]
        hard = k in hard_at
        ups, los = (d.hard_upper, d.hard_lower) if hard else (d.upper, d.lower)
        up = ups[k] >= los[k]
        stat = ups[k] if up else los[k]
        n, mean = _run_mean(ups if up else los, d.x, k)
        lim = thr.drift_hard_threshold if hard else thr.drift_threshold
        h = float(lim.value)
        what = ("a bias sustained beyond what a working pump's spread explains: act on it; check the pump's accuracy "
                "(a pump running " + ("fast" if up else "slow") + ") and " if hard else
                "a sustained bias that single refills may not show; trend the volumes, check the pump's accuracy and ")
        out.append(finding("TEL-DRIFT", "hard" if hard else "soft", iv.end.at, stat, h, "sd",
                           f"Over the {'last refill interval' if n == 1 else f'last {n} refill intervals'} up to "
                           f"{day(iv.end.at)} the pump delivered on average "
                           f"{abs(mean - 1) * 100:.1f} % {'more' if up else 'less'} than programmed (ratio {mean:.3f}); "
                           f"the cumulative sum of ln(ratio) reached {stat:.1f} sd, above the {h:g} sd "
                           f"{'hard ' if hard else ''}threshold (sd {float(ev.sd.value):g} per refill): {what}"
                           + ("the patient for overdose" if up else "for a partial occlusion, withdrawal or drug withdrawn"),
                           Sourced(h, f"{lim.source}; sd {ev.sd.source}", lim.verified and ev.sd.verified)))
    return out


def _run_mean(series: list[float], x: list[float], k: int) -> tuple[int, float]:
    """The refills since the alarming side was last 0, and their mean ratio (geometric)."""
    start = k
    while start > 0 and series[start - 1] > 0.0:
        start -= 1
    xs = x[start:k + 1]
    return len(xs), math.exp(sum(xs) / len(xs))
