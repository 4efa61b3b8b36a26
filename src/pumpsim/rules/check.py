"""The independent check: the key numbers of ``validate`` recomputed another way.

The simulator (``kernels/pump.py``) steps from event to event and carries a state. This module
shares no code with it and does not step: it writes the pushed volume as a closed-form
function of time and reads every quantity off that function. Time is exact (FORMAT.md §4):
instants and durations are seconds, whole wherever the table makes them whole, so the grant
``max_per_24h`` grants back plus 86,400 s is exactly 24 h later, with no rounding to correct.

- Programmed basal volume. On a session interval the programmed rate is a daily-periodic step
  function of the wall clock, so its antiderivative is ``Q(y) = floor(y / 86400) *
  daily_volume + partial(y mod 86400)`` with ``y`` the wall-clock second from the midnight of
  day 0; the cumulative basal volume ``B(t)``
  is a sum of such differences over the session intervals.
- Pushed volume of a refill period (from a refill to the next): ``D(t) = f * (B(t) - B(a)) +
  f * sum of boluses``, a bolus contributing its volume times ``clip((t - g) / duration, 0, 1)``
  (a step for a bolus given at once). The reservoir is ``V_a - D(t)`` until it reaches 0:
  the empty and low-alarm instants solve ``D(t) = V_a`` and ``D(t) = V_a - L`` on the linear
  piece that brackets them (``D`` is evaluated only at its knots).
- Worst-case boluses: the greedy schedule ``next = max(last + lockout, g_k + 24 h)`` (g_k the
  ``max_per_24h``-th most recent grant), skipped while the pump is empty, i.e. while
  ``D(t) >= V_a`` counting the grants already made at t (docs/SIMULATION.md §4).
- Dose at the catheter tip: ``F(t) = C(W(t))`` with ``W`` the cumulative pushed volume and
  ``C(W) = integral of c(w - V_d) over [0, W]`` the dose contained in the first ``W`` mL to
  leave the tip (dead volume first in, first out), ``c`` piecewise constant over the mixes in
  the order they entered the line.
- The programmed case (exact pump, every bolus allowed) is the worst-case computation with
  the factor 1.
- The maximum over rolling 24 h windows evaluates ``F`` directly (not by interpolating a stored
  trajectory) at every knot ``p`` and ``p - 24 h``.

:func:`cross_check` compares these numbers with the simulator's: a disagreement beyond the
stated tolerances is reported by ``validate`` as CROSS-CHECK (hard): a result that cannot be
trusted is never a pass.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from pumpsim.model.results import SimResult
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY

CROSS_CHECK_RTOL = 1e-6  # relative tolerance on doses and volumes
CROSS_CHECK_ATOL_S = 0.05  # absolute tolerance on instants [s]
DOSE_ATOL = 1e-12  # absolute floor for doses near zero [dose unit]
PLATEAU_RTOL = 1e-9  # the earliest window within this of the maximum is its start
WINDOW = DAY  # [s]


@dataclass(frozen=True)
class Disagreement:
    """The simulator and the check differ on ``quantity`` beyond ``tolerance``."""

    quantity: str
    drug: str | None
    simulated: float | None
    checked: float | None
    tolerance: float
    unit: str


# --------------------------------------------------------------------------- basal volume
class _Daily:
    """Antiderivative of one daily step schedule on the wall clock (starts in s after midnight,
    rates in mL/day)."""

    def __init__(self, steps, clock0: int):
        self.starts = [s.start for s in steps]
        self.rates = [s.rate for s in steps]
        ends = self.starts[1:] + [DAY]
        self.cum = [0.0]
        for s, e, r in zip(self.starts, ends, self.rates):
            self.cum.append(self.cum[-1] + r * ((e - s) / DAY))
        self.daily = self.cum[-1]
        self.clock0 = clock0

    def Q(self, t: float) -> float:
        """Programmed volume from the wall-clock midnight of day 0 to instant t [s], in mL."""
        y = self.clock0 + t
        n = y // DAY
        c = y - n * DAY
        k = bisect.bisect_right(self.starts, c) - 1
        return n * self.daily + self.cum[k] + self.rates[k] * ((c - self.starts[k]) / DAY)

    def knots(self, a: float, b: float) -> list[float]:
        """Step boundaries in the open interval (a, b) [s]."""
        out = []
        n = (self.clock0 + a) // DAY
        while True:
            for s in self.starts:
                x = (n * DAY + s) - self.clock0
                if x >= b:
                    return out
                if x > a:
                    out.append(x)
            n += 1


class _Basal:
    """B(t): the programmed basal volume from t = 0 [mL], over all session intervals."""

    def __init__(self, table: Table, starts: list[float], horizon: float):
        self.starts = starts
        self.sched = [_Daily(table.programs[i].steps, table.clock0) for i in range(len(starts))]
        self.base = [0.0]
        for i in range(1, len(starts)):
            d = self.sched[i - 1]
            self.base.append(self.base[-1] + d.Q(starts[i]) - d.Q(starts[i - 1]))
        self.horizon = horizon

    def __call__(self, t: float) -> float:
        i = max(bisect.bisect_right(self.starts, t) - 1, 0)
        d = self.sched[i]
        return self.base[i] + d.Q(t) - d.Q(self.starts[i])

    def knots(self, a: float, b: float) -> list[float]:
        out = []
        for i, s in enumerate(self.starts):
            e = self.starts[i + 1] if i + 1 < len(self.starts) else self.horizon
            lo, hi = max(a, s), min(b, e)
            if lo < hi:
                out += self.sched[i].knots(lo, hi)
            if a < s < b:
                out.append(s)
        return out


# --------------------------------------------------------------------------- refill periods
@dataclass
class _Grant:
    t: float
    volume: float  # true volume [mL]
    duration: float  # [s]

    def phi(self, x: float, left: bool) -> float:
        """Fraction delivered by x (left: strictly before x)."""
        if self.duration <= 0.0:
            return 1.0 if (x > self.t if left else x >= self.t) else 0.0
        return min(max((x - self.t) / self.duration, 0.0), 1.0)


class _Period:
    """From a refill at ``a`` to the next refill (or the horizon) at ``b``."""

    def __init__(self, a: float, b: float, volume: float, w0: float, basal: _Basal, factor: float):
        self.a, self.b, self.volume, self.w0 = a, b, volume, w0
        self.basal, self.factor = basal, factor
        self.b_a = basal(a)
        self.grants: list[_Grant] = []
        self.gt: list[float] = []
        self.prefix = [0.0]  # prefix[k]: true volume of the first k grants
        self.carry: _Grant | None = None  # an extended bolus still running at the refill
        self.carry_phi0 = 0.0

    def add(self, g: _Grant) -> None:
        self.grants.append(g)
        self.gt.append(g.t)
        self.prefix.append(self.prefix[-1] + g.volume)

    def pushed_raw(self, x: float, left: bool = False) -> float:
        """D(x): volume the pump would have pushed since ``a``, ignoring that it empties."""
        d = self.factor * (self.basal(x) - self.b_a)
        if self.carry is not None:
            d += self.carry.volume * (self.carry.phi(x, left) - self.carry_phi0)
        k = (bisect.bisect_left if left else bisect.bisect_right)(self.gt, x)
        if k:
            # boluses never overlap: every bolus started before the last one is complete
            last = self.grants[k - 1]
            d += self.prefix[k - 1] + last.volume * last.phi(x, left)
        return d

    def pushed(self, x: float, left: bool = False) -> float:
        return min(self.pushed_raw(x, left), self.volume)

    def knots(self) -> list[float]:
        ks = {self.a, self.b}
        ks.update(self.basal.knots(self.a, self.b))
        for g in self.grants + ([self.carry] if self.carry else []):
            for x in (g.t, g.t + g.duration):
                if self.a <= x <= self.b:
                    ks.add(x)
        return sorted(ks)

    def first_reaching(self, level: float) -> float | None:
        """First x in [a, b) with D(x) >= level (right value), solved on its linear piece."""
        if level <= 0.0:
            return self.a
        ks = self.knots()
        if self.pushed_raw(ks[0]) >= level:
            return ks[0]
        # D never decreases: the first knot whose right value reaches the level, by bisection
        lo, hi = 0, len(ks)  # D(ks[lo]) < level; D(ks[i]) >= level for i >= hi (if hi < len)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.pushed_raw(ks[mid]) >= level:
                hi = mid
            else:
                lo = mid
        if hi == len(ks):
            return None
        prev_x, prev_d, x = ks[lo], self.pushed_raw(ks[lo]), ks[hi]
        dl = self.pushed_raw(x, left=True)
        if dl >= level:  # reached on the linear piece before x
            root = prev_x + (level - prev_d) * (x - prev_x) / (dl - prev_d)
            root = min(max(root, prev_x), x)
            return root if root < self.b else None
        return x if x < self.b else None  # reached by the jump at x


@dataclass
class _Run:
    periods: list[_Period]
    mixes: list[tuple[float, dict[str, float]]]  # (W at which the mix entered the line, mix)
    empty_at: float | None
    low_alarm_at: float | None
    horizon: float
    dead_volume: float
    empties: list[float | None]  # per refill period: its first empty instant [s], or None
    lows: list[float | None]  # per refill period: its first low-alarm instant [s], or None

    def period_at(self, x: float, left: bool) -> _Period:
        starts = [p.a for p in self.periods]
        i = (bisect.bisect_left(starts, x) - 1) if left else (bisect.bisect_right(starts, x) - 1)
        return self.periods[max(i, 0)]

    def W(self, x: float, left: bool = False) -> float:
        if x <= 0.0 and (left or x < 0.0):
            return 0.0
        x = min(x, self.horizon)
        p = self.period_at(x, left)
        return p.w0 + p.pushed(x, left)

    def C(self, w: float, drug: str) -> float:
        """Dose of ``drug`` in the first ``w`` mL to leave the tip."""
        lo = -self.dead_volume
        hi = w - self.dead_volume
        total = 0.0
        for k, (u, mix) in enumerate(self.mixes):
            start = -math.inf if k == 0 else u
            end = self.mixes[k + 1][0] if k + 1 < len(self.mixes) else math.inf
            a, b = max(start, lo), min(end, hi)
            if b > a:
                total += mix.get(drug, 0.0) * (b - a)
        return total

    def F(self, x: float, drug: str, left: bool = False) -> float:
        if x > self.horizon:
            x, left = self.horizon, False
        return self.C(self.W(x, left), drug)

    def knots(self) -> list[float]:
        """Every instant where F may change slope or jump, in [0, H]."""
        ks = set()
        for p in self.periods:
            ks.update(p.knots())
            e = p.first_reaching(p.volume)  # W stops rising when the pump is empty
            if e is not None:
                ks.add(e)
        ordered = sorted(k for k in ks if 0.0 <= k <= self.horizon)
        # instants where the next mix reaches the tip: W(x) = u + V_d, W monotone and linear
        # between the knots above
        ws = [(x, self.W(x, True), self.W(x)) for x in ordered]
        for u, _ in self.mixes[1:]:
            target = u + self.dead_volume
            for (x0, _, w0), (x1, w1l, _) in zip(ws, ws[1:]):
                if w0 < target < w1l:
                    ks.add(x0 + (target - w0) * (x1 - x0) / (w1l - w0))
                    break
        return sorted(k for k in ks if 0.0 <= k <= self.horizon)


def _run(table: Table, factor: float, greedy: bool) -> _Run:
    H = table.horizon
    idx = [i for i, s in enumerate(table.sessions) if s.t < H]
    starts = [table.sessions[i].t for i in idx]
    basal = _Basal(table, starts, H)
    periods: list[_Period] = []
    mixes: list[tuple[float, dict[str, float]]] = []
    grants: list[_Grant] = []  # history across periods
    last_end = -math.inf  # when the last bolus ends: its duration, or the pump emptying first
    low = table.device.low_alarm
    low_at = empty_at = None
    empties: list[float | None] = []
    lows: list[float | None] = []
    refill_rows = [r for r, i in enumerate(idx) if table.sessions[i].refill is not None]

    for n, row in enumerate(refill_rows):
        a = starts[row]
        b = starts[refill_rows[n + 1]] if n + 1 < len(refill_rows) else H
        refill = table.sessions[idx[row]].refill
        w0 = 0.0 if not periods else periods[-1].w0 + periods[-1].pushed(a)
        per = _Period(a, b, refill.volume, w0, basal, factor)
        if periods and grants:
            last = grants[-1]
            prev = periods[-1]
            running = last.duration > 0 and last.t + last.duration > a
            # it was under way in the previous period (not cut short when an earlier one emptied)
            in_prev = prev.carry is last or (prev.grants and prev.grants[-1] is last)
            if running and in_prev and prev.pushed_raw(a, left=True) < prev.volume:
                per.carry, per.carry_phi0 = last, last.phi(a, True)
        mix = refill.mix_dict
        if not mixes or mixes[-1][1] != mix:
            mixes.append((w0, mix))
        # the session intervals of this period, with their bolus policies
        if greedy:
            for r in range(row, len(idx)):
                s_a = starts[r]
                if s_a >= b:
                    break
                s_b = starts[r + 1] if r + 1 < len(starts) else H
                s_b = min(s_b, b)
                pol = table.programs[idx[r]].bolus
                if pol is None:
                    continue
                x = s_a
                while True:
                    cand = x
                    if grants:
                        last = grants[-1]
                        cand = max(cand, last.t + pol.lockout, last_end)
                        if len(grants) >= pol.max_per_24h:
                            cand = max(cand, grants[-pol.max_per_24h].t + WINDOW)
                    if cand >= s_b:
                        break
                    if per.pushed_raw(cand) >= per.volume:
                        break  # empty (after the grants already made at cand): none until the next refill
                    g = _Grant(cand, factor * pol.volume, pol.duration)
                    grants.append(g)
                    per.add(g)
                    last_end = g.t + g.duration
                    x = cand
        periods.append(per)
        e = per.first_reaching(per.volume)
        empties.append(e)
        if empty_at is None and e is not None:
            empty_at = e
        if e is not None and grants and grants[-1].t <= e < last_end:
            last_end = e  # an extended bolus is cut short when the pump empties
        la = per.first_reaching(per.volume - float(low.value)) if low is not None else None
        lows.append(la)
        if low_at is None and la is not None:
            low_at = la
    return _Run(periods, mixes, empty_at, low_at, H, table.device.dead_volume_mL, empties, lows)


# --------------------------------------------------------------------------- public numbers
def nominal_reservoir(table: Table) -> tuple[float | None, float | None]:
    """The nominal case's first reservoir instants over the table (exact pump, no bolus).

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    tuple of (float or None, float or None)
        (low_alarm_at, empty_at) [s since the first session], true volume; None if never.
    """
    r = _run(table, 1.0, False)
    return r.low_alarm_at, r.empty_at


def worst_reservoir(table: Table) -> tuple[float | None, float | None]:
    """The worst case's first reservoir instants over the table (fast pump, every bolus allowed).

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    tuple of (float or None, float or None)
        (low_alarm_at, empty_at) [s since the first session]; None if never.
    """
    r = _run(table, 1.0 + float(table.device.accuracy.value), True)
    return r.low_alarm_at, r.empty_at


def reservoir_per_interval(table: Table, case: str) -> list[tuple[float, float | None, float | None]]:
    """Per refill interval, the first low-alarm and empty instants (FORMAT.md §4), computed here.

    Parameters
    ----------
    table : Table
        The table.
    case : str
        ``"nominal"`` (exact pump, no bolus) or ``"worst"`` (fast pump, every bolus allowed).

    Returns
    -------
    list of (float, float or None, float or None)
        (the refill [s], low_alarm_at [s] or None, empty_at [s] or None), one per interval in
        time order; each instant within ``[refill, next refill)``.
    """
    r = _run(table, 1.0, False) if case == "nominal" else _run(table, 1.0 + float(table.device.accuracy.value), True)
    return [(p.a, lo, e) for p, lo, e in zip(r.periods, r.lows, r.empties)]


def nominal_total_delivered(table: Table) -> dict[str, float]:
    """Dose of each drug delivered at the tip over the horizon, nominal case.

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    dict of str to float
        Drug -> total dose [dose unit].
    """
    r = _run(table, 1.0, False)
    return {d: r.F(table.horizon, d) for d in table.drugs()}


def max_24h_all(run: _Run, drugs: list[str]) -> dict[str, tuple[float, float]]:
    """Each drug's largest dose in any window [s, s + 24 h) and its earliest start [s].

    The windows are those with a knot as an exact end ([p, p + 24 h) and [p - 24 h, p), never
    p - 24 h + 24 h); the pushed volume W is evaluated once at each window end, left and right,
    and every drug reads its dose off it (F = C(W)).

    Parameters
    ----------
    run : _Run
        One computed case (:func:`_run`).
    drugs : list of str
        The drugs to read.

    Returns
    -------
    dict of str to (float, float)
        Drug -> (largest 24 h dose [dose unit], earliest start of such a window [s]).
    """
    windows = set()
    for p in run.knots():
        windows.add((p, p + WINDOW))
        windows.add((p - WINDOW, p))
    ordered = sorted(windows)
    ends = {x for w in ordered for x in w}

    def w_at(x: float, left: bool) -> float:
        return run.W(run.horizon, False) if x > run.horizon else run.W(x, left)

    wl = {x: w_at(x, True) for x in ends}
    wr = {x: w_at(x, False) for x in ends}
    out = {}
    for drug in drugs:
        dose_l = {x: run.C(w, drug) for x, w in wl.items()}
        dose_r = {x: run.C(w, drug) for x, w in wr.items()}
        vals = [(max(dose_l[b] - dose_l[a], dose_r[b] - dose_r[a]), max(a, 0.0)) for a, b in ordered]
        best = max(v for v, _ in vals)
        start = min(c for v, c in vals if v >= best - PLATEAU_RTOL * abs(best))
        out[drug] = (best, start)
    return out


def worst_max_24h(table: Table) -> dict[str, tuple[float, float]]:
    """Each drug's worst-case maximum dose in any rolling 24 h and the window start.

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    dict of str to (float, float)
        Drug -> (dose [dose unit], window start [s]); the pump fast by its tolerance, every bolus.
    """
    r = _run(table, 1.0 + float(table.device.accuracy.value), True)
    return max_24h_all(r, table.drugs())


def programmed_max_24h(table: Table) -> dict[str, tuple[float, float]]:
    """The same in the programmed case: exact pump, every bolus allowed, the dead-volume flush.

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    dict of str to (float, float)
        Drug -> (dose [dose unit], window start [s]).
    """
    r = _run(table, 1.0, True)
    return max_24h_all(r, table.drugs())


def _dose_unit(drug: str) -> str:
    from pumpsim.io.library import drug_library

    info = drug_library().drugs.get(drug)
    return info.dose_unit if info else "dose"


def cross_check(table: Table, nominal: SimResult, worst: SimResult,
                worst_max: dict[str, tuple[float, float]], programmed: SimResult | None = None,
                programmed_max: dict[str, tuple[float, float]] | None = None,
                per_interval: dict[str, list[float]] | None = None) -> list[Disagreement]:
    """Where the simulator's numbers differ from this module's beyond tolerance.

    Parameters
    ----------
    table : Table
        The table both judged.
    nominal, worst : SimResult
        The simulator's nominal and worst-case runs (instants [s], doses [dose unit]).
    worst_max : dict
        The simulator's worst-case 24 h maximum per drug: (dose [dose unit], window start [s]).
    programmed, programmed_max : SimResult and dict, optional
        The programmed case and its maxima, compared too when given.
    per_interval : dict of str to list of float, optional
        The simulator's first instant [s] in each refill interval that reaches it, for
        ``"nominal empty_at"``, ``"worst empty_at"`` and ``"nominal low_alarm_at"``: the
        instants the REFILL rules report (FORMAT.md §4), compared interval by interval.

    Returns
    -------
    list of Disagreement
        One per quantity beyond tolerance (instants [s], doses relative); empty when they agree.
    """
    out: list[Disagreement] = []

    # an instant within tolerance of a refill or of the horizon may fall on either side of it,
    # where "reached" flips (a refill at that instant counts first; the horizon is excluded)
    edges = [s.t for s in table.sessions if s.refill is not None] + [table.horizon]

    def instant(q: str, sim: float | None, chk: float | None) -> None:
        if sim is None and chk is None:
            return
        one = sim if chk is None else chk
        if (sim is None) != (chk is None) and min(abs(one - e) for e in edges) <= CROSS_CHECK_ATOL_S:
            return
        if sim is None or chk is None or abs(sim - chk) > CROSS_CHECK_ATOL_S:
            out.append(Disagreement(q, None, sim, chk, CROSS_CHECK_ATOL_S, "s"))

    def amount(q: str, drug: str | None, sim: float, chk: float, unit: str) -> None:
        tol = CROSS_CHECK_RTOL * max(abs(sim), abs(chk)) + DOSE_ATOL
        if not abs(sim - chk) <= tol:
            out.append(Disagreement(q, drug, sim, chk, CROSS_CHECK_RTOL, unit))

    nom = _run(table, 1.0, False)
    wst = _run(table, 1.0 + float(table.device.accuracy.value), True)
    if per_interval:
        own = {"nominal empty_at": nom.empties, "worst empty_at": wst.empties, "nominal low_alarm_at": nom.lows}
        starts = [p.a for p in nom.periods]
        for q, sim_list in per_interval.items():
            slots: list[float | None] = [None] * len(starts)
            for x in sim_list:
                slots[max(bisect.bisect_right(starts, x) - 1, 0)] = x
            for n, (sim, chk) in enumerate(zip(slots, own[q]), start=1):
                instant(f"{q} (refill interval {n})", sim, chk)
    instant("nominal low_alarm_at", nominal.low_alarm_at, nom.low_alarm_at)
    instant("nominal empty_at", nominal.empty_at, nom.empty_at)
    instant("worst low_alarm_at", worst.low_alarm_at, wst.low_alarm_at)
    instant("worst empty_at", worst.empty_at, wst.empty_at)
    prg = None
    if programmed is not None:  # the worst-case path with an exact pump
        prg = _run(table, 1.0, True)
        instant("programmed low_alarm_at", programmed.low_alarm_at, prg.low_alarm_at)
        instant("programmed empty_at", programmed.empty_at, prg.empty_at)
    totals = nominal.total_delivered()
    wst_max = max_24h_all(wst, table.drugs())
    prg_max = max_24h_all(prg, table.drugs()) if prg is not None and programmed_max is not None else None
    for d in table.drugs():
        unit = _dose_unit(d)
        amount("nominal total_delivered", d, totals[d], nom.F(table.horizon, d), unit)
        amount("worst max_24h_dose", d, worst_max[d][0], wst_max[d][0], unit)
        if prg_max is not None:
            amount("programmed max_24h_dose", d, programmed_max[d][0], prg_max[d][0], unit)
    return out
