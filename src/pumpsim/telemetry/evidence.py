"""What the TEL rules judge: the records matched to the table, the refill intervals with their
observed and expected delivery, the interrogations' expected estimates and the drift statistic
(docs/FORMAT.md §6, docs/TELEMETRY.md §3).

:func:`gather` builds one :class:`Evidence` from a table and its records; the rules of
:mod:`pumpsim.telemetry.rules` read it and judge nothing else. The expected delivery is
closed-form arithmetic on the table (why not a simulation: docs/TELEMETRY.md §8).

Time: the one time base of pumpsim (:mod:`pumpsim.model.timebase`), seconds since the table's
first session; record and refill date-times are kept beside their instants only to be printed.
"""
from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from pumpsim.io.records import Record
from pumpsim.io.records import field as where
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem
from pumpsim.model.table import Bolus, Program, Sourced, Table
from pumpsim.model.timebase import DAY
from pumpsim.rules.kit import Violation


# --------------------------------------------------------------------------- time base
def span(td: dt.timedelta) -> float:
    """A timedelta as a duration [s], an int when it is whole seconds."""
    return td.days * DAY + td.seconds if not td.microseconds else td.total_seconds()


def instant(table: Table, when: dt.datetime) -> float:
    """The instant [s since the table's first session] of a calendar date-time (an int when whole)."""
    return span(when - table.start)


def moment(table: Table, t: float) -> dt.datetime:
    """The calendar date-time of an instant [s since the first session], to the second."""
    return table.start + dt.timedelta(seconds=round(t))


def duration(x: float) -> dt.timedelta:
    """A duration [s] as a timedelta, to the microsecond (for calendar arithmetic on date-times)."""
    return dt.timedelta(seconds=x)


# --------------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class Thresholds:
    match_window: float  # [s]
    estimate_tolerance: Sourced  # [mL]
    small_reservoir_max: Sourced  # [mL]
    discrepancy_small: Sourced  # [mL]
    discrepancy_large: Sourced  # [mL]
    sd: Sourced  # [-] sd of ln(ratio) per refill, for models without their own
    z_hard: Sourced  # [sd] hard tiers of TEL-OVER-INFUSION and TEL-UNDER-INFUSION
    z_prediction: Sourced  # [sd] TEL-DISCREPANCY's 99 % prediction range
    drift_reference: Sourced  # k [sd]
    drift_threshold: Sourced  # h [sd], soft tier
    drift_hard_threshold: Sourced  # [sd], hard tier
    empty_aspirate: Sourced  # [mL]
    sd_by_model: dict[str, Sourced] = field(default_factory=dict)
    raw: dict[str, Sourced] = field(default_factory=dict)

    def spread(self, model: str) -> Sourced:
        """The per-refill sd of ln(ratio) of a device model [-], with its source (the default if none)."""
        return self.sd_by_model.get(model, self.sd)


_KINDS = {"match_window": units.TIME, "estimate_tolerance": units.VOLUME, "small_reservoir_max": units.VOLUME,
          "discrepancy_small": units.VOLUME, "discrepancy_large": units.VOLUME, "sd": None, "z_hard": None,
          "z_prediction": None, "drift_reference": None, "drift_threshold": None, "drift_hard_threshold": None,
          "empty_aspirate": units.VOLUME}


def _sourced(e: dict, kind: str | None) -> Sourced:
    """One entry of the data file: a plain number (``kind`` None), a duration [s] or a quantity in base units."""
    v = (float(e["value"]) if kind is None else units.parse_duration(e["value"]) if kind == units.TIME
         else units.parse_quantity(e["value"], kind))
    return Sourced(v, e["source"], bool(e["verified"]), str(e["value"]))


def _any(e: dict) -> Sourced:
    """An entry no field names: a plain number, or a quantity of any dimension in base units."""
    v = e["value"]
    return Sourced(float(v) if isinstance(v, (int, float)) else units.parse(v).value, e["source"],
                   bool(e["verified"]), str(v))


@functools.cache
def thresholds() -> Thresholds:
    """The TEL-* thresholds of ``data/telemetry.toml``, each :class:`Sourced`."""
    raw = tomllib.loads(resources.files("pumpsim.data").joinpath("telemetry.toml").read_text(encoding="utf-8"))
    vals = {key: _sourced(raw[key], kind) for key, kind in _KINDS.items()}
    # every other sourced entry too, so that a new rule's threshold is one entry of the data file
    # (read as ``thresholds().raw["key"]``)
    vals.update({key: _any(e) for key, e in raw.items()
                 if key not in vals and isinstance(e, dict) and {"value", "source", "verified"} <= set(e)})
    by_model = {m: _sourced(e, None) for m, e in raw.get("sd_by_model", {}).items()}
    return Thresholds(float(vals["match_window"].value), vals["estimate_tolerance"], vals["small_reservoir_max"],
                      vals["discrepancy_small"], vals["discrepancy_large"], vals["sd"], vals["z_hard"],
                      vals["z_prediction"], vals["drift_reference"], vals["drift_threshold"],
                      vals["drift_hard_threshold"], vals["empty_aspirate"], by_model, vals)


# --------------------------------------------------------------------------- the program in force
class Timeline:
    """The table's sessions at their effective instants [s] (refills moved to the recorded times).

    The program in force at ``u`` is that of the highest-numbered session already effective
    at ``u`` (a moved session never undoes a later one). Before the first session: the first.
    """

    def __init__(self, table: Table, effective: list[float]) -> None:
        self.table = table
        self.clock0 = table.clock0  # [s after midnight] of instant 0
        self.effective = effective
        self.first = effective[0]  # the first session holds the first refill
        order = sorted(range(len(effective)), key=lambda i: (effective[i], i))
        self.changes: list[float] = []
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

    def program_at(self, u: float) -> Program:
        k = bisect.bisect_right(self.changes, u) - 1
        return self.table.programs[self.in_force[max(k, 0)]]

    def next_change(self, u: float) -> float | None:
        k = bisect.bisect_right(self.changes, u)
        return self.changes[k] if k < len(self.changes) else None

    def periods(self, a: float, b: float) -> list[tuple[float, float, Program]]:
        """[a, b) cut where the program changes."""
        out = []
        u = a
        while u < b:
            nxt = self.next_change(u)
            e = b if nxt is None or nxt > b else nxt
            out.append((u, e, self.program_at(u)))
            u = e
        return out

    def basal(self, a: float, b: float) -> float:
        """Programmed basal volume [mL] over [a, b): each flex step on the wall clock, days of 24 h."""
        total = 0.0
        for s, e, prog in self.periods(a, b):
            day = s - (s + self.clock0) % DAY  # the midnight before s
            while day < e:
                for j, st in enumerate(prog.steps):
                    lo = day + st.start
                    hi = day + (prog.steps[j + 1].start if j + 1 < len(prog.steps) else DAY)
                    lo, hi = max(lo, s), min(hi, e)
                    if hi > lo:
                        total += st.rate * ((hi - lo) / DAY)
                day += DAY
        return total

    def greedy(self, a: float, b: float, a_open: bool, b_open: bool = False) -> tuple[int, float]:
        """The most boluses the policies allow between a and b with no earlier grant: (count, volume [mL]).

        The first grant at ``a`` (just after it when ``a_open``), each next one at
        max(last + lockout, the max_per_24h-th latest grant + 24 h) (docs/FORMAT.md §4), a new policy's
        first grant at the instant it takes effect. ``a_open`` grants sit an instant after the
        times computed, so they count only strictly before ``b``.
        """
        fast = self._greedy_one_policy(a, b, a_open or b_open)
        return fast if fast is not None else self._greedy_loop(a, b, a_open, b_open)

    def _greedy_loop(self, a: float, b: float, a_open: bool, b_open: bool) -> tuple[int, float]:
        """:meth:`greedy`, grant by grant (the definition)."""
        grants: list[tuple[float, bool]] = []
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
                cand = max(cand, (last[0] + pol.lockout, last[1]))
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

    def _greedy_one_policy(self, a: float, b: float, strict: bool) -> tuple[int, float] | None:
        """:meth:`greedy` in closed form where one policy holds over [a, b] and the instants are whole
        seconds (the grants fall at a + q x 24 h + r x lockout, r < max_per_24h, when max_per_24h
        lockouts are shorter than 24 h; else every lockout); None where it does not apply."""
        k = bisect.bisect_right(self.changes, a)
        if k < len(self.changes) and self.changes[k] <= b:
            return None  # the program changes within the stretch
        pol = self.program_at(a).bolus
        if pol is None:
            return 0, 0.0
        lock, m = pol.lockout, pol.max_per_24h
        if not (isinstance(a, int) and isinstance(b, int) and isinstance(lock, int)) or lock <= 0 or m <= 0:
            return None
        d = b - a
        if d < 0 or (strict and d == 0):
            return 0, 0.0
        if m * lock >= DAY:  # the 24 h maximum never binds: every lockout
            n = d // lock + 1 - (1 if strict and d % lock == 0 else 0)
        else:
            q, rest = divmod(d, DAY)
            n = q * m + min(m, rest // lock + 1)
            if strict and rest % lock == 0 and rest // lock < m:
                n -= 1  # the last grant falls exactly at b
        volume = 0.0
        for _ in range(n):  # summed as the grants are (the same float as the general loop)
            volume += pol.volume
        return n, volume

    def bolus_volumes(self, a: float, b: float) -> tuple[float, float]:
        """Smallest and largest bolus volume [mL] of the policies in force on [a, b] (0, 0 if none)."""
        progs = [self.program_at(a)]
        k = bisect.bisect_right(self.changes, a)
        while k < len(self.changes) and self.changes[k] <= b:
            progs.append(self.table.programs[self.in_force[k]])
            k += 1
        vols = [p.bolus.volume for p in progs if isinstance(p.bolus, Bolus)]
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
    t: float = 0.0  # ``at`` as an instant [s since the first session]


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
        gap = span(abs(table.sessions[best].at - r.time))
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
                      index[id(taken[i])] if i in taken else None, taken[i].volume if i in taken else None,
                      instant(table, effective[i]))
               for i in refill_sessions]
    return refills, counting, effective


# --------------------------------------------------------------------------- what is judged
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
    since: Refill | None = None  # the last refill before the interrogation


@dataclass
class Drift:
    """The two-sided CUSUM over the judged intervals (in units of sd), two tiers on one input.

    The soft sums (``upper``, ``lower``) restart at 0 after a soft alarm; the hard sums
    (``hard_upper``, ``hard_lower``) follow the same recursion but restart only after a hard
    alarm, so they measure the evidence sustained across soft alarms."""

    at: list[dt.datetime]
    x: list[float]  # ln(ratio) per judged interval
    upper: list[float]
    lower: list[float]
    alarms: list[int]  # indices into at/x where a soft side crossed h (the soft sums restart there)
    judged: list[Interval] = field(default_factory=list)  # the interval of each entry of at/x
    hard_upper: list[float] = field(default_factory=list)
    hard_lower: list[float] = field(default_factory=list)
    hard_alarms: list[int] = field(default_factory=list)  # where a hard side crossed the hard threshold


@dataclass
class Evidence:
    """Everything the TEL rules read: one reconciliation's inputs and what it computed."""

    table: Table
    records: list[Record]  # every row, context rows included
    rows: list[Record]  # the counting rows (refill and interrogation)
    refills: list[Refill]
    timeline: Timeline
    intervals: list[Interval]
    estimates: list[Estimate]
    drift: Drift
    thresholds: Thresholds
    accuracy: Sourced  # the pump's flow tolerance [fraction]
    sd: Sourced  # the per-refill sd of ln(ratio) of the pump's model [-]
    row_t: list[float] = field(default_factory=list)  # instants of ``rows`` [s]
    first_row: int | None = None  # the row of the table's first refill, if recorded
    memo: dict = field(default_factory=dict, repr=False)  # (refill session, row) -> its bolus volumes

    def stretch(self, j: int) -> tuple[float, bool] | None:
        """Where the bolus stretch that row ``j`` closes starts: (instant [s], open), or None when the
        row's count belongs to the fill before the table's first refill (docs/FORMAT.md §6)."""
        return stretch_start(j, self.first_row, self.refills[0].t, self.timeline.first, self.row_t)

    @property
    def hard_band(self) -> tuple[float, float]:
        """[min(1 - accuracy, exp(-z_hard sd)), max(1 + accuracy, exp(z_hard sd))]: beyond it a refill's
        ratio is more than both the device's tolerance and a working pump's spread explain."""
        return hard_band(float(self.accuracy.value), float(self.sd.value), float(self.thresholds.z_hard.value))


def hard_band(accuracy: float, sd: float, z: float) -> tuple[float, float]:
    """The hard tier's band of one refill's ratio (FORMAT.md §12.13) [-]."""
    return min(1.0 - accuracy, math.exp(-z * sd)), max(1.0 + accuracy, math.exp(z * sd))


def stretch_start(j: int, first_row: int | None, first_refill: float, first: float,
                  row_t: list[float]) -> tuple[float, bool] | None:
    """The start of the stretch counting row ``j`` closes: [first refill, first row], then (previous
    row, row]; the table's first refill's own row bounds no stretch and its count (and that of rows
    before it) belongs to the earlier fill."""
    if first_row is not None:
        if j <= first_row:
            return None
        if j == first_row + 1:
            return first_refill, False
    if j == 0:
        return first, False
    return row_t[j - 1], True


def _bolus_of_row(ev: Evidence, refill: Refill, j: int) -> tuple[float, float] | None:
    """:func:`_row_bolus`, computed once per (refill, row): intervals and interrogations share it."""
    key = (refill.session, j)
    if key not in ev.memo:
        ev.memo[key] = _row_bolus(ev, refill, j)
    return ev.memo[key]


def _row_bolus(ev: Evidence, refill: Refill, j: int) -> tuple[float, float] | None:
    """The bolus volume [mL] (low, high) that counting row ``j`` adds to what was delivered since
    ``refill``, or None when none of its stretch is after the refill.

    Stretches are [first refill, first row] and then (previous row, row]; a stretch that
    starts before an unrecorded refill straddles it: its count is split with the greedy bound
    of each side (docs/FORMAT.md §6, §12.13).
    """
    tl, r, rt = ev.timeline, ev.rows[j], ev.row_t[j]
    if refill.row is None and rt < refill.t:
        return None  # wholly before this refill
    start = ev.stretch(j)
    if start is None:
        return None  # counted before the table's first refill
    a, a_open = start
    if refill.row is None and a < refill.t:
        # straddles the (unrecorded) refill: only the part [refill, row] is inside
        n_in, v_in = tl.greedy(refill.t, rt, False)
        vmin, vmax = tl.bolus_volumes(refill.t, rt)
        if r.boluses is None:
            return 0.0, v_in
        n_out, _ = tl.greedy(a, refill.t, a_open, True)
        return max(0, r.boluses - n_out) * vmin, min(r.boluses, n_in) * vmax
    vmin, vmax = tl.bolus_volumes(a, rt)
    if r.boluses is None:
        return 0.0, tl.greedy(a, rt, a_open)[1]
    return r.boluses * vmin, r.boluses * vmax


def _first_row_after(ev: Evidence, refill: Refill) -> int:
    """The first counting row whose stretch may hold boluses delivered after ``refill``."""
    return refill.row + 1 if refill.row is not None else bisect.bisect_left(ev.row_t, refill.t)


def _boluses(ev: Evidence, refill: Refill, upto: int) -> tuple[float, float]:
    """Bolus volume [mL] (low, high) from ``refill`` to the counting row ``upto`` (included)."""
    low = high = 0.0
    for j in range(_first_row_after(ev, refill), upto + 1):
        add = _bolus_of_row(ev, refill, j)
        if add is not None:
            low += add[0]
            high += add[1]
    return low, high


def gather(table: Table, records: list[Record], records_path: str = "<records>") -> tuple[Evidence, list[tuple[Refill, Refill]]]:
    """Match the records to the table and compute what the rules judge (docs/FORMAT.md §6).

    Linear in the rows (each row's bolus stretch is valued once per refill it follows; the
    interrogations keep running sums since their last refill). Returns the evidence and the
    intervals that cannot be judged (no refill row at their end)."""
    thr = thresholds()
    refills, rows, effective = match(table, records, records_path)
    tl = Timeline(table, [instant(table, e) for e in effective])
    sd = thr.spread(table.device.model)
    ev = Evidence(table, records, rows, refills, tl, [], [], Drift([], [], [], [], []), thr, table.device.accuracy, sd,
                  [instant(table, r.time) for r in rows], refills[0].row)
    unjudged: list[tuple[Refill, Refill]] = []
    for i in range(len(refills) - 1):
        s, e = refills[i], refills[i + 1]
        if e.row is None:
            unjudged.append((s, e))
            continue
        basal = tl.basal(s.t, e.t)
        blo, bhi = _boluses(ev, s, e.row)
        ev.intervals.append(Interval(s, e, s.volume - float(e.aspirated), basal + blo, basal + bhi, basal))

    # interrogations: the last refill before each (the latest in time among those before its row, the
    # later session on a tie), with the basal and bolus volumes since it as running sums
    order = {id(f): k for k, f in enumerate(refills)}
    arrive: dict[int, list[Refill]] = {}
    for f in refills:
        arrive.setdefault(f.row + 1 if f.row is not None else bisect.bisect_left(ev.row_t, f.t), []).append(f)
    last: Refill | None = None
    low = high = basal = 0.0
    at = 0.0
    for j, r in enumerate(rows):
        changed = False
        for f in arrive.get(j, ()):
            if last is None or f.t > last.t or (f.t == last.t and order[id(f)] > order[id(last)]):
                last, changed = f, True
        if last is None:
            continue
        if changed:
            low, high = _boluses(ev, last, j)
            basal, at = tl.basal(last.t, ev.row_t[j]), ev.row_t[j]
        else:
            add = _bolus_of_row(ev, last, j)
            if add is not None:
                low += add[0]
                high += add[1]
        if r.event != "interrogation" or r.estimate is None:
            continue
        if at != ev.row_t[j]:
            basal, at = basal + tl.basal(at, ev.row_t[j]), ev.row_t[j]
        expected = max(last.volume - basal - low, 0.0)
        expected_low = max(last.volume - basal - high, 0.0)
        ev.estimates.append(Estimate(r, r.estimate, expected, expected_low, expected - expected_low, last))

    ev.drift = drift(ev.intervals, thr, float(sd.value))
    return ev, unjudged


def drift(intervals: list[Interval], thr: Thresholds, sd: float) -> Drift:
    """Two-sided CUSUM (Page 1954) on z = ln(ratio) / sd per judged refill, in two tiers (:class:`Drift`)."""
    k = float(thr.drift_reference.value)
    h, h2 = float(thr.drift_threshold.value), float(thr.drift_hard_threshold.value)
    d = Drift([], [], [], [], [])
    up = lo = hup = hlo = 0.0
    for iv in intervals:
        r = iv.ratio_mid
        if r is None or iv.empty:
            continue
        z = math.log(r) / sd
        up, lo = max(0.0, up + z - k), max(0.0, lo - z - k)
        hup, hlo = max(0.0, hup + z - k), max(0.0, hlo - z - k)
        d.at.append(iv.end.at)
        d.x.append(math.log(r))
        d.upper.append(up)
        d.lower.append(lo)
        d.hard_upper.append(hup)
        d.hard_lower.append(hlo)
        d.judged.append(iv)
        if up > h or lo > h:
            d.alarms.append(len(d.at) - 1)
            up = lo = 0.0
        if hup > h2 or hlo > h2:
            d.hard_alarms.append(len(d.at) - 1)
            hup = hlo = 0.0
    return d


def cusum_alarms(ratios: list[float], thr: Thresholds | None = None, sd: float | None = None,
                 hard: bool = False) -> list[int]:
    """Indices of the refills where the drift test alarms (its hard tier when ``hard``) for a series of
    ratios (for simulations); ``sd`` defaults to the data's default spread."""
    thr = thr or thresholds()
    sd = float(thr.sd.value) if sd is None else sd
    k = float(thr.drift_reference.value)
    h = float((thr.drift_hard_threshold if hard else thr.drift_threshold).value)
    out, up, lo = [], 0.0, 0.0
    for i, r in enumerate(ratios):
        z = math.log(r) / sd
        up, lo = max(0.0, up + z - k), max(0.0, lo - z - k)
        if up > h or lo > h:
            out.append(i)
            up = lo = 0.0
    return out


# --------------------------------------------------------------------------- findings and their words
def finding(rule: str, severity: str, when: dt.datetime, value: float | None, limit: float | None, unit: str,
            message: str, src: Sourced) -> Violation:
    """A TEL finding at a calendar date-time, its source and verified flag from ``src``."""
    return Violation(rule, severity, iso(when), None, None if value is None else round(float(value), 6),
                     None if limit is None else round(float(limit), 6), unit, message, src.source, src.verified)


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds")


def day(t: dt.datetime) -> str:
    return f"{t.day} {t.strftime('%b %Y')}"


def when(t: dt.datetime) -> str:
    return f"{day(t)} {t.strftime('%H:%M')}"


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def range_ml(lo: float, hi: float) -> str:
    lo, hi = max(lo, 0.0), max(hi, 0.0)
    return f"{hi:.2f} mL" if abs(hi - lo) < 0.005 else f"{lo:.2f} to {hi:.2f} mL"


def asked(iv: Interval) -> str:
    if abs(iv.expected_high - iv.expected_low) < 0.05:
        return f"{iv.expected_low:.1f} mL"
    return f"{iv.expected_low:.1f} to {iv.expected_high:.1f} mL with the uncounted boluses"
