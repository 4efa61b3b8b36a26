"""Reconciliation of a pump's telemetry records with its programming table (docs/FORMAT.md §6, docs/RULES.md §7).

Closed-form arithmetic on the table, no simulation: the programmed basal volume over an
interval follows the sessions' rates and flex steps on the wall clock; boluses are the
recorded counts times the policy's volume, and where a stretch has no count, at most the
greedy count the policy allows there. The rules TEL-* compare what the pump did (aspirated
residuals, displayed estimates, counts) with that. docs/TELEMETRY.md states every decision.

Time: this module works in :class:`datetime.datetime`; the model's time unit is touched only
in the helpers of the "time base" section below (:func:`instant`, :func:`moment`,
:func:`duration`, :func:`clock`, :func:`volume_at`).
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pumpsim.io.records import Record
from pumpsim.io.records import field as where
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem
from pumpsim.model.table import Bolus, Program, Sourced, Step, Table
from pumpsim.model.tolerances import RTOL, above
from pumpsim.rules.kit import Judged, Skipped, Violation

RECONCILE_SCHEMA = "pumpsim.reconcile/1"
DAY = dt.timedelta(days=1)


# --------------------------------------------------------------------------- time base
# The only place that knows how the model counts time (exact seconds since the first session,
# flex steps in seconds after midnight, rates in mL/day). Change these when it changes.
def instant(table: Table, when: dt.datetime) -> float:
    """The model instant of a calendar date-time (seconds since ``table.start``; an int when whole)."""
    return span(when - table.start)


def moment(table: Table, t: float) -> dt.datetime:
    """The calendar date-time of a model instant, to the second."""
    return table.start + dt.timedelta(seconds=round(t))


def duration(x: float) -> dt.timedelta:
    """A model duration [s] (a lockout, a parsed ``"24 h"``) as a timedelta, to the microsecond."""
    return dt.timedelta(seconds=x)


def span(td: dt.timedelta) -> float:
    """A timedelta as a model duration [s], an int when it is whole seconds."""
    return td.days * 86400 + td.seconds if not td.microseconds else td.total_seconds()


def clock(step: Step) -> dt.timedelta:
    """The wall-clock start of a flex step after midnight."""
    return dt.timedelta(seconds=step.start)


def volume_at(rate: float, span: dt.timedelta) -> float:
    """The volume [mL] a rate in model units (mL/day) delivers over ``span``."""
    return rate * (span / DAY)


# --------------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class Thresholds:
    match_window: dt.timedelta
    estimate_tolerance: Sourced  # [mL]
    small_reservoir_max: Sourced  # [mL]
    discrepancy_small: Sourced  # [mL]
    discrepancy_large: Sourced  # [mL]
    drift_sigma: Sourced  # [-] sd of ln(ratio) per refill
    drift_reference: Sourced  # k [sigma]
    drift_threshold: Sourced  # h [sigma]
    empty_aspirate: Sourced  # [mL]
    raw: dict[str, Sourced] = field(default_factory=dict)


_KINDS = {"match_window": units.TIME, "estimate_tolerance": units.VOLUME, "small_reservoir_max": units.VOLUME,
          "discrepancy_small": units.VOLUME, "discrepancy_large": units.VOLUME,
          "drift_sigma": None, "drift_reference": None, "drift_threshold": None, "empty_aspirate": units.VOLUME}


@functools.cache
def thresholds() -> Thresholds:
    """The TEL-* thresholds of ``data/telemetry.toml``, each :class:`Sourced`."""
    raw = tomllib.loads(resources.files("pumpsim.data").joinpath("telemetry.toml").read_text(encoding="utf-8"))
    vals: dict[str, Sourced] = {}
    for key, kind in _KINDS.items():
        e = raw[key]
        v = (float(e["value"]) if kind is None else units.parse_duration(e["value"]) if kind == units.TIME
             else units.parse_quantity(e["value"], kind))
        vals[key] = Sourced(v, e["source"], bool(e["verified"]), str(e["value"]))
    return Thresholds(duration(float(vals["match_window"].value)), vals["estimate_tolerance"],
                      vals["small_reservoir_max"], vals["discrepancy_small"], vals["discrepancy_large"],
                      vals["drift_sigma"], vals["drift_reference"], vals["drift_threshold"], vals["empty_aspirate"], vals)


# --------------------------------------------------------------------------- the program in force
class Timeline:
    """The table's sessions at their effective times (refills moved to the recorded times).

    The program in force at ``u`` is that of the highest-numbered session already effective
    at ``u`` (a moved session never undoes a later one). Before the first session: the first.
    """

    def __init__(self, table: Table, effective: list[dt.datetime]) -> None:
        self.table = table
        self.effective = effective
        self.first = effective[0]  # the first session holds the first refill
        order = sorted(range(len(effective)), key=lambda i: (effective[i], i))
        self.changes: list[dt.datetime] = []
        self.in_force: list[int] = []
        best = -1
        for i in order:
            if i > best:
                best = i
                if self.changes and self.changes[-1] == effective[i]:
                    self.in_force[-1] = i
                else:
                    self.changes.append(effective[i])
                    self.in_force.append(i)

    def program_at(self, u: dt.datetime) -> Program:
        k = bisect.bisect_right(self.changes, u) - 1
        return self.table.programs[self.in_force[max(k, 0)]]

    def next_change(self, u: dt.datetime) -> dt.datetime | None:
        k = bisect.bisect_right(self.changes, u)
        return self.changes[k] if k < len(self.changes) else None

    def periods(self, a: dt.datetime, b: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, Program]]:
        """[a, b) cut where the program changes."""
        out = []
        u = a
        while u < b:
            nxt = self.next_change(u)
            e = b if nxt is None or nxt > b else nxt
            out.append((u, e, self.program_at(u)))
            u = e
        return out

    def basal(self, a: dt.datetime, b: dt.datetime) -> float:
        """Programmed basal volume [mL] over [a, b): each flex step on the wall clock, days of 24 h."""
        total = 0.0
        for s, e, prog in self.periods(a, b):
            day = dt.datetime.combine(s.date(), dt.time())
            while day < e:
                for j, st in enumerate(prog.steps):
                    lo = day + clock(st)
                    hi = day + (clock(prog.steps[j + 1]) if j + 1 < len(prog.steps) else DAY)
                    lo, hi = max(lo, s), min(hi, e)
                    if hi > lo:
                        total += volume_at(st.rate, hi - lo)
                day += DAY
        return total

    def greedy(self, a: dt.datetime, b: dt.datetime, a_open: bool, b_open: bool = False) -> tuple[int, float]:
        """The most boluses the policies allow between a and b with no earlier grant: (count, volume [mL]).

        The first grant at ``a`` (just after it when ``a_open``), each next one at
        max(last + lockout, the max_per_24h-th latest grant + 24 h) (docs/FORMAT.md §4), a new policy's
        first grant at the instant it takes effect. ``a_open`` grants sit an instant after the
        times computed, so they count only strictly before ``b``.
        """
        grants: list[tuple[dt.datetime, bool]] = []
        volume = 0.0
        u = (a, a_open)
        while True:
            pol = self.program_at(u[0]).bolus
            nxt = self.next_change(u[0])
            if pol is None:
                if nxt is None or nxt > b:
                    break
                u = (nxt, False)
                continue
            cand = u
            if grants:
                last = grants[-1]
                cand = max(cand, (last[0] + duration(pol.lockout), last[1]))
                if len(grants) >= pol.max_per_24h:
                    g = grants[-pol.max_per_24h]
                    cand = max(cand, (g[0] + DAY, g[1]))
            if nxt is not None and cand[0] >= nxt:
                u = (nxt, False)
                continue
            inside = cand[0] < b if (cand[1] or b_open) else cand[0] <= b
            if not inside:
                break
            grants.append(cand)
            volume += pol.volume
            u = cand
        return len(grants), volume

    def bolus_volumes(self, a: dt.datetime, b: dt.datetime) -> tuple[float, float]:
        """Smallest and largest bolus volume [mL] of the policies in force on [a, b] (0, 0 if none)."""
        vols = [p.bolus.volume for _, _, p in self.periods(a, b + dt.timedelta(microseconds=1))
                if isinstance(p.bolus, Bolus)]
        return (min(vols), max(vols)) if vols else (0.0, 0.0)


# --------------------------------------------------------------------------- matching records to the table
@dataclass(frozen=True)
class Refill:
    """A refill of the table: its session, when it happened and its fill volume [mL]."""

    session: int  # 0-based session index
    at: dt.datetime  # effective (recorded time if a row matched it, else the table's)
    volume: float
    row: int | None  # index in the counting rows, or None when not recorded
    aspirated: float | None


def match(table: Table, records: list[Record], name: str) -> tuple[list[Refill], list[Record], list[dt.datetime]]:
    """Match refill rows to the table's refill sessions; the counting rows; effective session times."""
    thr = thresholds()
    refill_sessions = [i for i, s in enumerate(table.sessions) if s.refill is not None]
    problems: list[Problem] = []
    taken: dict[int, Record] = {}
    for r in records:
        if r.event != "refill":
            continue
        best = min(refill_sessions, key=lambda i: (abs(table.sessions[i].at - r.time), i))
        gap = abs(table.sessions[best].at - r.time)
        if gap > thr.match_window:
            near = table.sessions[best]
            problems.append(Problem(name, where(r.line, "time"),
                                    f"the refill at {r.time.isoformat()} matches no refill of the table within "
                                    f"{thr.match_window / DAY:g} days (nearest: session[{near.index}] at {near.at.isoformat()})",
                                    "check the date, or add the refill session to the table"))
        elif best in taken:
            problems.append(Problem(name, where(r.line, "time"),
                                    f"a second refill row for session[{table.sessions[best].index}] "
                                    f"(line {taken[best].line} already matched it)", "remove the duplicate row"))
        else:
            taken[best] = r
    if problems:
        raise InputError(problems)
    effective = [s.at for s in table.sessions]
    for i, r in taken.items():
        effective[i] = r.time
    first = min(effective[refill_sessions[0]], effective[0])
    counting = [r for r in records if r.counts]
    bad = [Problem(name, where(r.line, "time"), f"{r.event} row at {r.time.isoformat()} is before the table's "
                   f"first refill ({first.isoformat()})", "remove it or use the table that was in the pump then")
           for r in counting if r.time < first]
    if bad:
        raise InputError(bad)
    index = {id(r): k for k, r in enumerate(counting)}
    refills = [Refill(i, effective[i], table.sessions[i].refill.volume,
                      index[id(taken[i])] if i in taken else None, taken[i].volume if i in taken else None)
               for i in refill_sessions]
    return refills, counting, effective


# --------------------------------------------------------------------------- the computation
@dataclass
class Interval:
    start: Refill
    end: Refill
    observed: float
    expected_low: float
    expected_high: float
    basal: float

    @property
    def empty(self) -> bool:
        return self.end.aspirated is not None and self.end.aspirated <= float(thresholds().empty_aspirate.value)

    @property
    def ratio(self) -> float | None:
        return self.observed / self.expected_low if self.expected_low > 0 else None

    @property
    def ratio_low(self) -> float | None:
        return self.observed / self.expected_high if self.expected_high > 0 else None

    @property
    def ratio_high(self) -> float | None:
        return self.observed / self.expected_low if self.expected_low > 0 else None

    @property
    def ratio_mid(self) -> float | None:
        mid = 0.5 * (self.expected_low + self.expected_high)
        return self.observed / mid if mid > 0 and self.observed > 0 else None


@dataclass
class Estimate:
    row: Record
    observed: float
    expected: float  # floored at 0
    expected_low: float  # the lowest the pump may show (most boluses), floored at 0
    bolus_range: float  # [mL]


@dataclass
class Drift:
    """The two-sided CUSUM over the judged intervals (in units of sigma)."""

    at: list[dt.datetime]
    x: list[float]  # ln(ratio) per judged interval
    upper: list[float]
    lower: list[float]
    alarms: list[int]  # indices into at/x where a side crossed h (the statistic resets there)


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

    @property
    def band(self) -> tuple[float, float]:
        a = float(self.accuracy.value)
        return (1.0 - a, 1.0 + a)

    def as_json(self) -> dict[str, Any]:
        lo, hi = self.band
        return {
            "schema": RECONCILE_SCHEMA, "verdict": self.verdict,
            "intervals": [{"from": _iso(iv.start.at), "to": _iso(iv.end.at), "delivered_observed": _r(iv.observed),
                           "delivered_expected": _r(iv.expected_low), "delivered_expected_low": _r(iv.expected_low),
                           "delivered_expected_high": _r(iv.expected_high), "ratio": _r(iv.ratio),
                           "ratio_low": _r(iv.ratio_low), "ratio_high": _r(iv.ratio_high), "band": [_r(lo), _r(hi)],
                           "aspirated": iv.end.aspirated} for iv in self.intervals],
            "interrogations": [{"at": _iso(e.row.time), "estimate_observed": e.observed,
                                "estimate_expected": _r(e.expected)} for e in self.estimates],
            "violations": [v.as_json() for v in self.violations],
            "not_checked": [{"rule": s.rule, "reason": s.reason} for s in self.not_checked],
            "context": [{"at": _iso(r.time), "event": r.event, "note": r.note} for r in self.context],
            "drift": {"method": "two-sided CUSUM on ln(ratio)", "at": [_iso(a) for a in self.drift.at],
                      "upper": [_r(x) for x in self.drift.upper], "lower": [_r(x) for x in self.drift.lower],
                      "unit": "sd"},
        }


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None else round(float(x), nd)


def _boluses(tl: Timeline, refill: Refill, rows: list[Record], upto: int) -> tuple[float, float]:
    """Bolus volume [mL] (low, high) from ``refill`` to the counting row ``upto`` (included).

    Stretches are [first refill, first row] and then (previous row, row]; a stretch that
    starts before an unrecorded refill straddles it: its count is split with the greedy bound
    of each side.
    """
    low = high = 0.0
    first = refill.row + 1 if refill.row is not None else 0
    for j in range(first, upto + 1):
        r = rows[j]
        if refill.row is None and r.time < refill.at:
            continue  # wholly before this refill
        a, a_open = (tl.first, False) if j == 0 else (rows[j - 1].time, True)
        if refill.row is None and a < refill.at:
            # straddles the (unrecorded) refill: only the part [refill, row] is inside
            n_in, v_in = tl.greedy(refill.at, r.time, False)
            n_out, _ = tl.greedy(a, refill.at, a_open, True)
            vmin, vmax = tl.bolus_volumes(refill.at, r.time)
            if r.boluses is None:
                high += v_in
            else:
                low += max(0, r.boluses - n_out) * vmin
                high += min(r.boluses, n_in) * vmax
            continue
        vmin, vmax = tl.bolus_volumes(a, r.time)
        if r.boluses is None:
            high += tl.greedy(a, r.time, a_open)[1]
        else:
            low += r.boluses * vmin
            high += r.boluses * vmax
    return low, high


def reconcile(table: Table, records: list[Record], records_path: str = "<records>") -> Reconciliation:
    """Judge the records against the table (docs/FORMAT.md §6): intervals, estimates, TEL-* findings."""
    thr = thresholds()
    refills, rows, effective = match(table, records, records_path)
    tl = Timeline(table, effective)
    acc = table.device.accuracy
    a = float(acc.value)
    violations: list[Violation] = []
    skipped: list[Skipped] = []
    intervals: list[Interval] = []

    def viol(rule: str, severity: str, when: dt.datetime, value: float | None, limit: float | None, unit: str,
             message: str, src: Sourced) -> Violation:
        return Violation(rule, severity, _iso(when), None, None if value is None else round(float(value), 6),
                         None if limit is None else round(float(limit), 6), unit, message, src.source, src.verified)

    # -------- refill intervals
    for i in range(len(refills) - 1):
        s, e = refills[i], refills[i + 1]
        if e.row is None:
            reason = (f"the interval from {_day(s.at)} to {_day(e.at)} has no refill row at its end "
                      f"(no aspirated volume recorded)")
            for rule in ("TEL-OVER-INFUSION", "TEL-UNDER-INFUSION", "TEL-EMPTY", "TEL-DISCREPANCY"):
                skipped.append(Skipped(rule, reason))
            continue
        basal = tl.basal(s.at, e.at)
        blo, bhi = _boluses(tl, s, rows, e.row)
        iv = Interval(s, e, s.volume - float(e.aspirated), basal + blo, basal + bhi, basal)
        intervals.append(iv)
        between = f"Between the refills of {_day(s.at)} and {_day(e.at)}"
        asked = _asked(iv)
        seen = [f"{'an MRI' if r.event == 'mri' else 'the alarm ' + (r.note or 'without name')} on {_when(r.time)}"
                for r in records if not r.counts and s.at <= r.time <= e.at]
        noted = f"; recorded in this interval: {', '.join(seen)}" if seen else ""
        if iv.empty:
            violations.append(viol("TEL-EMPTY", "hard", e.at, e.aspirated, float(thr.empty_aspirate.value), "mL",
                                   f"{between} the reservoir ran dry: 0 mL was aspirated at the refill of {_day(e.at)} "
                                   f"where the program leaves {_range_ml(s.volume - iv.expected_high, s.volume - iv.expected_low)}; "
                                   "the patient may have gone without drug (withdrawal) and may have been over-infused before: "
                                   "check the delivery ratio, the refill volumes and for drug withdrawn from the pump",
                                   thr.empty_aspirate))
        rl, rh = iv.ratio_low, iv.ratio_high
        if rl is not None and above(rl, 1.0 + a):
            violations.append(viol("TEL-OVER-INFUSION", "hard", e.at, rl, 1.0 + a, "ratio",
                                   f"{between} the pump delivered {iv.observed:.1f} mL where the program asked {asked} "
                                   f"({_pct(rl)}{' at least' if iv.empty else ''}, above the {_pct(1.0 + a)} the device "
                                   f"tolerance allows{noted}): check for over-infusion (a pump running fast), a refill volume "
                                   f"entered wrong or a pocket fill, and the patient for overdose", acc))
        if rh is not None and not iv.empty and above(1.0 - a, rh):
            violations.append(viol("TEL-UNDER-INFUSION", "hard", e.at, rh, 1.0 - a, "ratio",
                                   f"{between} the pump delivered {iv.observed:.1f} mL where the program asked {asked} "
                                   f"({_pct(rh)}, below the {_pct(1.0 - a)} the device tolerance allows{noted}): check for a "
                                   "motor stall or catheter occlusion, and for withdrawal; residuals repeatedly higher or "
                                   "lower than expected can also reveal drug withdrawn from the pump", acc))
        # TEL-DISCREPANCY: the aspirate outside the expected residual range
        res_lo, res_hi = max(s.volume - iv.expected_high, 0.0), max(s.volume - iv.expected_low, 0.0)
        small = float(table.device.reservoir.value) <= float(thr.small_reservoir_max.value) * (1 + RTOL)
        lim = thr.discrepancy_small if small else thr.discrepancy_large
        asp = float(e.aspirated)
        off = res_lo - asp if asp < res_lo else (asp - res_hi if asp > res_hi else 0.0)
        if above(off, float(lim.value)):
            side = "less" if asp < res_lo else "more"
            violations.append(viol("TEL-DISCREPANCY", "soft", e.at, off, float(lim.value), "mL",
                                   f"At the refill of {_day(e.at)} {asp:.2f} mL was aspirated where the program leaves "
                                   f"{_range_ml(res_lo, res_hi)}: {off:.2f} mL {side}, beyond the {lim.text} a "
                                   f"{'20 mL' if small else 'larger'} reservoir allows; "
                                   + ("check for a pocket fill (part of the last refill outside the reservoir) and the "
                                      "patient for overdose, for over-infusion and for drug withdrawn from the pump"
                                      if side == "less" else "check for a stall or occlusion and for withdrawal")
                                   + "; track the volumes across refills", lim))

    # -------- interrogations: what the pump should display
    estimates: list[Estimate] = []
    for j, r in enumerate(rows):
        if r.event != "interrogation":
            continue
        last = None
        for f in refills:
            if (f.row is not None and f.row < j) or (f.row is None and f.at <= r.time):
                if last is None or f.at >= last.at:
                    last = f
        if last is None:
            continue
        basal = tl.basal(last.at, r.time)
        blo, bhi = _boluses(tl, last, rows, j)
        expected = max(last.volume - basal - blo, 0.0)
        expected_low = max(last.volume - basal - bhi, 0.0)
        if r.estimate is None:
            continue
        rng = expected - expected_low
        est = Estimate(r, r.estimate, expected, expected_low, rng)
        estimates.append(est)
        tol = float(thr.estimate_tolerance.value)
        diff = abs(r.estimate - expected)
        if above(diff, tol + rng):
            extra = f" plus the {rng:.2f} mL the uncounted boluses allow" if rng > 0 else ""
            violations.append(viol("TEL-PROGRAM-MISMATCH", "hard", r.time, diff, tol + rng, "mL",
                                   f"On {_day(r.time)} the pump displayed {r.estimate:.2f} mL where the table's program "
                                   f"gives {expected:.2f} mL since the refill of {_day(last.at)} ({diff:.2f} mL apart, "
                                   f"more than the {thr.estimate_tolerance.text}{extra}): the pump does not hold the table's "
                                   "program, or a refill volume was entered wrong; interrogate the pump and compare its "
                                   "rates, steps and reservoir volume with the table", thr.estimate_tolerance))

    # -------- TEL-BOLUS-EXCESS: every counted stretch
    for j, r in enumerate(rows):
        if r.boluses is None:
            continue
        a_, a_open = (refills[0].at, False) if j == 0 else (rows[j - 1].time, True)
        most, _ = tl.greedy(a_, r.time, a_open)
        if r.boluses > most:
            since = "the first refill" if j == 0 else f"the previous record ({_when(a_)})"
            violations.append(viol("TEL-BOLUS-EXCESS", "hard", r.time, r.boluses, most, "boluses",
                                   f"On {_day(r.time)} the pump counted {r.boluses} boluses since {since}, where the "
                                   f"table's bolus policy allows at most {most}: the pump does not hold the table's bolus "
                                   "policy (lockout, maximum per 24 h); check the patient for overdose",
                                   Sourced(most, f"the bolus policy of the table {table.path} (lockout, max_per_24h)", True)))

    drift = _drift(intervals, thr)
    for k in drift.alarms:
        iv = [iv for iv in intervals if iv.ratio_mid is not None and not iv.empty][k]
        up = drift.upper[k] >= drift.lower[k]
        stat = drift.upper[k] if up else drift.lower[k]
        n, mean = _run_mean(drift, k, up)
        h = float(thr.drift_threshold.value)
        violations.append(viol("TEL-DRIFT", "soft", iv.end.at, stat, h, "sd",
                               f"Over the {'last refill interval' if n == 1 else f'last {n} refill intervals'} up to "
                               f"{_day(iv.end.at)} the pump delivered on average "
                               f"{abs(mean - 1) * 100:.1f} % {'more' if up else 'less'} than programmed (ratio {mean:.3f}); "
                               f"the cumulative sum of ln(ratio) reached {stat:.1f} sd, above the {h:g} sd threshold "
                               f"(sd {float(thr.drift_sigma.value):g} per refill): a sustained bias that single refills "
                               "may not show; trend the volumes, check the pump's accuracy and "
                               + ("the patient for overdose" if up else "for a partial occlusion, withdrawal or drug withdrawn"),
                               thr.drift_sigma))

    order = {"TEL-EMPTY": 0, "TEL-OVER-INFUSION": 1, "TEL-UNDER-INFUSION": 2, "TEL-PROGRAM-MISMATCH": 3,
             "TEL-BOLUS-EXCESS": 4, "TEL-DISCREPANCY": 5, "TEL-DRIFT": 6}
    violations.sort(key=lambda v: (v.at or "", order.get(v.rule, 9)))
    context = [r for r in records if not r.counts]
    return Reconciliation(table, records_path, intervals, estimates, violations, skipped, context, drift, acc)


def _drift(intervals: list[Interval], thr: Thresholds) -> Drift:
    """Two-sided CUSUM (Page 1954) on x = ln(ratio) per refill, in units of sigma, reset after an alarm."""
    sigma = float(thr.drift_sigma.value)
    k, h = float(thr.drift_reference.value), float(thr.drift_threshold.value)
    d = Drift([], [], [], [], [])
    up = lo = 0.0
    for iv in intervals:
        r = iv.ratio_mid
        if r is None or iv.empty:
            continue
        z = math.log(r) / sigma
        up = max(0.0, up + z - k)
        lo = max(0.0, lo - z - k)
        d.at.append(iv.end.at)
        d.x.append(math.log(r))
        d.upper.append(up)
        d.lower.append(lo)
        if up > h or lo > h:
            d.alarms.append(len(d.at) - 1)
            up = lo = 0.0
    return d


def cusum_alarms(ratios: list[float], thr: Thresholds | None = None) -> list[int]:
    """Indices of the refills where the drift test alarms for a series of ratios (for simulations)."""
    thr = thr or thresholds()
    sigma = float(thr.drift_sigma.value)
    k, h = float(thr.drift_reference.value), float(thr.drift_threshold.value)
    out, up, lo = [], 0.0, 0.0
    for i, r in enumerate(ratios):
        z = math.log(r) / sigma
        up, lo = max(0.0, up + z - k), max(0.0, lo - z - k)
        if up > h or lo > h:
            out.append(i)
            up = lo = 0.0
    return out


def _run_mean(d: Drift, k: int, up: bool) -> tuple[int, float]:
    """The refills since the alarming side was last 0, and their mean ratio (geometric)."""
    series = d.upper if up else d.lower
    start = k
    while start > 0 and series[start - 1] > 0.0:
        start -= 1
    xs = d.x[start:k + 1]
    return len(xs), math.exp(sum(xs) / len(xs))


def _day(t: dt.datetime) -> str:
    return f"{t.day} {t.strftime('%b %Y')}"


def _when(t: dt.datetime) -> str:
    return f"{_day(t)} {t.strftime('%H:%M')}"


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def _range_ml(lo: float, hi: float) -> str:
    lo, hi = max(lo, 0.0), max(hi, 0.0)
    return f"{hi:.2f} mL" if abs(hi - lo) < 0.005 else f"{lo:.2f} to {hi:.2f} mL"


def _asked(iv: Interval) -> str:
    if abs(iv.expected_high - iv.expected_low) < 0.05:
        return f"{iv.expected_low:.1f} mL"
    return f"{iv.expected_low:.1f} to {iv.expected_high:.1f} mL with the uncounted boluses"


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
           f"Band of one refill: {lo:.3f} to {hi:.3f} (pump accuracy {rec.accuracy.text or _pct(float(rec.accuracy.value))}"
           f"{'' if rec.accuracy.verified else ', UNVERIFIED'}; source: {rec.accuracy.source})."]
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
        elif iv.ratio_low is not None and iv.ratio_high is not None and lo <= iv.ratio_high and iv.ratio_low <= hi:
            ok = "  within the band"
        out.append(f"  {_when(iv.start.at)} -> {_when(iv.end.at)}: {iv.observed:.2f} mL / {_asked(iv)}; "
                   f"ratio {ratio}; aspirated {iv.end.aspirated:.2f} mL{ok}")
    if rec.estimates:
        out.append("\nInterrogations (displayed / the table's program gives):")
        for e in rec.estimates:
            out.append(f"  {_when(e.row.time)}: {e.observed:.2f} mL / {e.expected:.2f} mL")
    if rec.drift.at:
        h = float(thresholds().drift_threshold.value)
        last_u, last_l = rec.drift.upper[-1], rec.drift.lower[-1]
        out.append(f"\nDrift test (two-sided CUSUM on ln(ratio), threshold {h:g} sd): at the last refill "
                   f"{last_u:.2f} sd upwards, {last_l:.2f} sd downwards; {len(rec.drift.alarms)} alarm(s).")
    if rec.context:
        out.append("\nContext (alarms and MRI):")
        for r in rec.context:
            out.append(f"  {_when(r.time)}: {r.event}{': ' + r.note if r.note else ''}")
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
    for key in ("estimate_tolerance", "discrepancy_small", "discrepancy_large", "drift_sigma", "drift_reference",
                "drift_threshold", "match_window"):
        s = thr.raw[key]
        out.append(f"  {key} {s.text}{'' if s.verified else ' [UNVERIFIED]'}: {s.source}")
    return "\n".join(out) + "\n"
