"""``pumpsim plan``: the longest safe interval until the next refill, and the mix that gives it
(FORMAT.md §5).

The plan changes only the table's last session, which must hold a refill. Each drug's
programmed daily dose is kept, so every concentration of the mix is multiplied by one factor
``k`` and every flex step's rate divided by it; the bolus policy is kept as written (its volume,
lockout and count), so a bolus delivers ``k`` times the drug it did. The fill is the whole
reservoir. What is chosen is ``k`` and the whole number of days ``T`` until the next refill.

The search
----------
1. Bounds on ``k`` from the data, each with its source: CONC-MAX (``k c <= max``), no added
   GRANULOMA-RISK (``k c`` below the threshold, or not above the current concentration if that
   is already at or above it), RATE-RANGE (every step ``r / k`` within the device range), and
   the hard daily ceilings (a bolus grows with ``k``; found by bisection on the 24 h doses of
   the planned refill, in the windows that end after it): DOSE-MAX on the programmed case and,
   since no DOSE-MAX-WORST may be added, the worst case too, unless the table's own last
   interval already breaks that ceiling in the worst case. A constant-flow pump has a fixed
   rate: there, as with ``--keep-concentration``, ``k = 1``.
2. The time the volume lasts, ``tau(k)``, from the planned refill to the low-alarm volume (to
   empty where the device has none): without ``[variability]`` the worst case of ``validate``
   (pump fast by its full tolerance, every bolus the policy allows, as early as allowed); with
   it, the ``P``-quantile over the Monte-Carlo runs of ``tau_i + d1_i - d2_i``, where ``d1`` and
   ``d2`` are the delays of the planned and of the next refill. The low alarm may be reached
   exactly at the next refill, so the volume allows ``floor(tau)`` days. ``tau`` grows with
   ``k`` (a lower rate), and the runs share their random numbers across ``k`` (same seed, same
   run streams), so the quantile does too.
3. ``T(k) = min(floor(tau(k)), stability(k), 365)``. Stability is not smooth in ``k``:
   ziconotide alone at a presentation (25 or 100 mcg/mL) keeps 84 days, diluted 40 (docs/RULES.md
   §3), so each presentation within the bounds is a candidate besides the largest ``k``.
   ``T* = max T(candidates)``; then the lowest ``k`` with ``T(k) >= T*`` (FORMAT.md §5: the
   lowest concentration that reaches the longest interval), by Brent's root finding [1]_
   (:func:`scipy.optimize.brentq`) on ``tau(k) - T*``.

The time to the alarm is measured on a one-session table that starts at the planned refill
(the same clock time, the same device and policy): a worst case that starts with no bolus in
the preceding 24 h, so at least as many boluses as in the whole table's history; the plan is
then written into the whole table and judged by every rule of ``validate``.

Units are the base units of :mod:`pumpsim.model.table` inside (mL, seconds, each drug's dose unit);
the interval ``T`` is a whole number of days at the interface (FORMAT.md §5), ``T x 86,400`` s
inside.

This module is the search. The result and its words (:class:`PlanResult`, :func:`describe`) are
in :mod:`pumpsim.planning.plan_result`, the planned table file (:func:`planned_toml`) in
:mod:`pumpsim.planning.tablewrite`; both are re-exported here.

References
----------
.. [1] R. P. Brent, Algorithms for Minimization without Derivatives, Prentice-Hall, 1973,
   chapter 4 (finding a zero of a function).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np

from pumpsim.io.library import drug_library
from pumpsim.io.tables import resolve_programs
from pumpsim.model.results import Scenario
from pumpsim.model.table import BOLUS_OFF, Profile, Refill, Session, Sourced, Step, Table
from pumpsim.model.timebase import DAY
from pumpsim.model.tolerances import RTOL, above
from pumpsim.planning.plan_result import MAX_INTERVAL_DAYS, PLAN_SCHEMA, Cap, PlanResult, _is_flex, _mean_rate, describe  # noqa: F401  (re-exported)
from pumpsim.planning.tablewrite import _duration, _num, planned_toml  # noqa: F401  (re-exported)
from pumpsim.rules.static import stability_limit
from pumpsim.sim import montecarlo, simulation, stats

MIN_INTERVAL_DAYS = 1  # FORMAT.md §5: at least 1 day
DEFAULT_P_LOW_ALARM = 1e-3  # FORMAT.md §5: default P
GRANULOMA_MARGIN = 1e-6  # "below" the threshold: this relative margin under it (the rule's tolerance is 1e-9)
DELAY_STREAM = 0x504C414E  # the delays of the planned and next refill come from their own stream ("PLAN")
MAX_FACTOR = 1e3  # without a bound from the data, concentrations move at most 1000-fold either way
BRENT_XTOL_EXACT = 1e-12  # relative, on k, for the worst case (a continuous tau)
BRENT_XTOL_MC = 1e-5  # relative, on k, for a Monte-Carlo quantile (a step function of k)


# --------------------------------------------------------------------------- building tables
def scaled(table: Table, k: float) -> tuple[Refill, tuple[Step, ...]]:
    """The last session's refill (the whole reservoir) and flex steps at concentration factor ``k``."""
    last, prog = table.sessions[-1], table.programs[-1]
    assert last.refill is not None
    mix = tuple((d, c * k) for d, c in last.refill.mix)
    steps = tuple(Step(s.start, s.rate / k) for s in prog.steps)
    return Refill(float(table.device.reservoir.value), mix), steps


def planned_table(table: Table, k: float, interval: int) -> Table:
    """The whole table with the last session replaced by the plan at factor ``k``, a refill of the
    same mix appended ``interval`` days later, and the horizon ending there (FORMAT.md §5 ``-o``)."""
    last = table.sessions[-1]
    refill, steps = scaled(table, k)
    planned = dataclasses.replace(last, refill=refill, steps=steps, flex=_is_flex(steps))
    nxt = Session(last.index + 1, last.at + dt.timedelta(days=interval), last.t + interval * DAY, refill, None, None, False)
    sessions = table.sessions[:-1] + (planned, nxt)
    return dataclasses.replace(table, sessions=sessions, programs=resolve_programs(sessions),
                               horizon=last.t + interval * DAY)


def one_session_table(table: Table, k: float, horizon: float, variability=None) -> Table:
    """The planned refill alone, as the first session of a table (same clock time, device, policy);
    ``horizon`` [s]."""
    last, prog = table.sessions[-1], table.programs[-1]
    refill, steps = scaled(table, k)
    s = Session(1, last.at, 0, refill, steps, prog.bolus if prog.bolus is not None else BOLUS_OFF, _is_flex(steps))
    return dataclasses.replace(table, sessions=(s,), programs=resolve_programs((s,)), horizon=horizon,
                               variability=variability)


def _volume_before(t: np.ndarray, v: np.ndarray, at: float) -> float:
    """True volume just before instant ``at`` on a piecewise-linear record (jumps are repeated times)."""
    i = int(np.searchsorted(t, at, side="left"))
    if i == 0:
        return float(v[0])
    if i >= len(t):
        return float(v[-1])
    a, b = t[i - 1], t[i]
    return float(v[i - 1] + (v[i] - v[i - 1]) * ((at - a) / (b - a))) if b > a else float(v[i - 1])


# --------------------------------------------------------------------------- the planner
class _Search:
    """The pieces of the search that depend on the table, the profile and the options."""

    def __init__(self, table: Table, profile: Profile, p_max: float, keep: bool, runs: int | None, seed: int | None):
        self.table, self.profile, self.keep = table, profile, keep
        self.var = table.variability
        self.alarm = table.device.low_alarm
        last = table.sessions[-1]
        self.first_zic = next((s.index for s in table.sessions if s.refill and "ziconotide" in s.refill.mix_dict), None)
        self.mix0 = last.refill.mix_dict
        self.p_max = p_max
        if self.var is not None:
            v = self.var
            self.runs = runs if runs is not None else (v.runs or montecarlo.DEFAULT_RUNS)
            self.seed = seed if seed is not None else (v.seed if v.seed is not None else montecarlo.DEFAULT_SEED)
            self.d1, self.d2 = self._delays(first_session=last.index == 1)
        else:
            self.runs = self.seed = None
        self.cap_days = MAX_INTERVAL_DAYS
        self._tau_cache: dict[float, float] = {}
        self._margin_cache: dict[float, np.ndarray] = {}

    # ---- bounds on k
    def bounds(self) -> tuple[list[Cap], list[Cap]]:
        """Upper and lower bounds on k from the data (DOSE-MAX is added later)."""
        table, profile, lib = self.table, self.profile, drug_library().drugs
        upper: list[Cap] = []
        lower: list[Cap] = []
        fixed = self.keep or table.device.kind == "constant-flow"
        if fixed:
            why = "--keep-concentration" if self.keep else f"{table.device.model} has a fixed rate"
            return [Cap(1.0, "KEEP", None, why, "", True)], [Cap(1.0, "KEEP", None, why, "", True)]
        for d, c in sorted(self.mix0.items()):
            u = f"{lib[d].dose_unit}/mL"
            lim = profile.limit(d, "max_concentration")
            if lim is not None:
                upper.append(Cap(float(lim.value) / c, "CONC-MAX", d, f"{d} at most {lim.value:g} {u}", lim.source, lim.verified))
            g = profile.limit(d, "granuloma_at")
            if g is not None:
                if c < float(g.value) * (1 - RTOL):
                    upper.append(Cap(float(g.value) * (1 - GRANULOMA_MARGIN) / c, "GRANULOMA-RISK", d,
                                     f"{d} below {g.value:g} {u} (granuloma risk)", g.source, g.verified))
                else:
                    upper.append(Cap(1.0, "GRANULOMA-RISK", d, f"{d} not above its current {c:g} {u} "
                                     f"(already at or above the granuloma threshold {g.value:g} {u})", g.source, g.verified))
        steps = table.programs[-1].steps
        dev = table.device
        if dev.rate_min is not None:
            r = min(s.rate for s in steps)
            upper.append(Cap(r / float(dev.rate_min.value), "RATE-RANGE", None,
                             f"rates at least the device minimum {dev.rate_min.value:g} mL/day", dev.rate_min.source,
                             dev.rate_min.verified))
        if dev.rate_max is not None:
            r = max(s.rate for s in steps)
            lower.append(Cap(r / float(dev.rate_max.value), "RATE-RANGE", None,
                             f"rates at most the device maximum {dev.rate_max.value:g} mL/day", dev.rate_max.source,
                             dev.rate_max.verified))
        return upper, lower

    # ---- stability
    def stability(self, k: float) -> tuple[Sourced, str] | None:
        last = self.table.sessions[-1]
        lim, drug, _ = stability_limit(self.table, self.profile, last.index, {d: c * k for d, c in self.mix0.items()},
                                       self.first_zic)
        return None if lim is None else (lim, drug)

    def stability_days(self, k: float) -> float:
        s = self.stability(k)
        return math.inf if s is None else float(s[0].value) / DAY

    def presentations(self, lo: float, hi: float) -> list[float]:
        """Factors that put ziconotide, alone in the mix, at one of its presentations."""
        if set(self.mix0) != {"ziconotide"}:
            return []
        c = self.mix0["ziconotide"]
        return [p / c for p in drug_library().drugs["ziconotide"].presentations if lo * (1 - RTOL) <= p / c <= hi * (1 + RTOL)]

    # ---- how long the volume lasts
    def horizon(self) -> float:
        """The simulated horizon [s]."""
        extra = 0.0
        if self.var is not None and self.var.refill_delay is not None:
            extra = float(np.max(self.d2)) if len(self.d2) else 0.0
        return (self.cap_days + 1) * DAY + extra

    def tau(self, k: float) -> float:
        """Seconds from the planned refill to the low alarm (empty without one): worst case, or the
        P-quantile of the margin over the runs; capped at the simulated horizon."""
        if k not in self._tau_cache:
            self._tau_cache[k] = self._tau_mc(k) if self.var is not None else self._tau_worst(k)
        return self._tau_cache[k]

    def _hit(self, r) -> float | None:
        return r.low_alarm_at if self.alarm is not None else r.empty_at

    def _tau_worst(self, k: float) -> float:
        h = self.horizon()
        sub = one_session_table(self.table, k, h)
        hit = self._hit(simulation.simulate(sub, Scenario.worst(float(self.table.device.accuracy.value))))
        return h if hit is None else hit

    def _margins(self, k: float) -> np.ndarray:
        """Per run: time to the alarm + the planned refill's delay - the next refill's delay [s]."""
        if k in self._margin_cache:
            return self._margin_cache[k]
        h = self.horizon()
        var = dataclasses.replace(self.var, refill_delay=None, missed_refill=None)
        sub = one_session_table(self.table, k, h, var)
        mplan = montecarlo.make_plan(sub, self.profile, self.seed, worst_max={})
        key = "low" if self.alarm is not None else "empty"
        hit = np.concatenate([getattr(montecarlo.per_run(mplan, first, n), key)
                              for first, n in montecarlo._chunks(self.runs, montecarlo.DEFAULT_CHUNK)])
        hit = np.where(np.isnan(hit), np.inf, hit)
        self._margin_cache[k] = hit + self.d1 - self.d2
        return self._margin_cache[k]

    def _tau_mc(self, k: float) -> float:
        x = np.sort(self._margins(k))
        m = int(math.floor(self.p_max * self.runs * (1 + RTOL)))  # runs allowed to reach the alarm
        q = x[m] if m < len(x) else math.inf
        # and never past the nominal empty instant (REFILL-EMPTY, hard, judges the nominal case)
        h = self.horizon()
        empty = simulation.simulate(one_session_table(self.table, k, h), Scenario.nominal()).empty_at
        return min(float(q), h if empty is None else empty, h)

    def p_low_alarm(self, k: float, interval: int) -> tuple[int, float]:
        """Runs (count, fraction) in which the low alarm comes before the next refill."""
        x = self._margins(k)
        n = int(np.sum(x < interval * DAY * (1 - RTOL)))
        return n, n / self.runs

    def _delays(self, first_session: bool) -> tuple[np.ndarray, np.ndarray]:
        """The delays [s] of the planned (d1) and of the next (d2) refill of each run, from their own stream."""
        n = self.runs
        rd = self.var.refill_delay
        if rd is None:
            return np.zeros(n), np.zeros(n)
        rng = np.random.Generator(np.random.PCG64([self.seed, DELAY_STREAM]))
        if rd.dist == "uniform":
            lo, hi = rd.params["low"], rd.params["high"]
            u = rng.random((n, 2))
            d = lo + (hi - lo) * u
        else:
            values = np.array(rd.params["values"], dtype=float)
            p = np.array(rd.params["p"], dtype=float)
            d = values[rng.choice(len(values), size=(n, 2), p=p / p.sum())]
        d1 = np.zeros(n) if first_session else d[:, 0]  # the first session is never delayed (docs/SIMULATION.md)
        return d1, d[:, 1]

    def interval(self, k: float) -> int:
        """Whole days allowed at factor k (before the 365-day cap and stability)."""
        return int(math.floor(self.tau(k) * (1 + RTOL) / DAY + RTOL))

    def total(self, k: float) -> int:
        return int(min(self.interval(k), self.stability_days(k), self.cap_days))


def plan(table: Table, profile: Profile, *, p_max: float = DEFAULT_P_LOW_ALARM, keep_concentration: bool = False,
         runs: int | None = None, seed: int | None = None) -> PlanResult:
    """Plan the refill at the table's last session (FORMAT.md §5). The last session must hold a refill."""
    from pumpsim.rules.validate import validate

    assert table.sessions[-1].refill is not None, "the caller checks that the last session holds a refill"
    S = _Search(table, profile, p_max, keep_concentration, runs, seed)
    upper, lower = S.bounds()
    notes: list[str] = []
    if table.device.kind == "constant-flow" and not keep_concentration:
        notes.append(f"{table.device.model} has a fixed rate: the concentrations and the rate are kept")
    planner = "pumpsim plan: concentrations move at most 1000-fold either way when no data bounds them"
    if not upper:
        upper = [Cap(MAX_FACTOR, "PLANNER", None, f"at most {MAX_FACTOR:g} times the written concentrations", planner, True)]
    if not lower:
        lower = [Cap(min(1.0, min(c.k for c in upper)) / MAX_FACTOR, "PLANNER", None,
                     f"at least 1/{MAX_FACTOR:g} of the written concentrations", planner, True)]
    last_t = table.sessions[-1].t
    # FORMAT.md §5: no DOSE-MAX-WORST is added, unless the table's own last interval already breaks
    # the hard ceiling in the worst case (then only the programmed case bounds that drug)
    exempt = set(_over_ceilings(table, profile, Scenario.worst(float(table.device.accuracy.value)), last_t))
    for _attempt in range(2):  # the dose ceilings may lower the upper bound once; validate judges the result
        k_hi = min(c.k for c in upper)
        k_lo = max(c.k for c in lower)
        res = PlanResult(table, None, "", runs=S.runs, seed=S.seed, p_max=p_max if S.var is not None else None,
                         lower_caps=lower, upper_caps=upper, notes=notes)
        if k_lo > k_hi * (1 + RTOL):  # only the device maximum rate bounds k from below
            tight = min(upper, key=lambda c: c.k)
            res.binding = "RATE-RANGE"
            res.notes = notes + [f"no concentration keeps the daily doses with {tight.text} and "
                                 f"{max(lower, key=lambda c: c.k).text}"]
            return res
        if _attempt == 0:  # the simulated horizon covers the longest interval any candidate may reach
            S.cap_days = int(min(MAX_INTERVAL_DAYS, max(S.stability_days(x) for x in
                                                        [k_hi, _generic(S, k_lo, k_hi)] + S.presentations(k_lo, k_hi))))
        cands = [k_hi] + S.presentations(k_lo, k_hi)
        best_t = max(S.total(k) for k in cands)
        if best_t < MIN_INTERVAL_DAYS:
            res.binding = "REFILL-LOW-ALARM"
            what = "the low alarm" if S.alarm is not None else "empty"
            res.notes = notes + [f"even at the most concentrated mix allowed the reservoir reaches {what} within a day"]
            return res
        k = _lowest_k(S, k_lo, k_hi, best_t, cands)
        disagreement = _cross_check(S, k, best_t)
        if disagreement:
            res.binding, res.notes = "CROSS-CHECK", notes + [disagreement]
            return res
        planned = planned_table(table, k, best_t)
        if _attempt == 0 and k > k_lo and _dose_breaches(planned, profile, last_t, exempt):
            cap = _dose_cap(table, profile, k_lo, k, best_t, exempt)
            if cap is not None:
                upper = upper + [cap]
                continue
        report = validate(planned, profile)
        hard = [v for v in report.violations if v.severity == "hard"]
        if hard:
            res.binding, res.violations = hard[0].rule, hard
            res.notes = notes + [f"{v.rule} ({v.at}): {v.message}" for v in hard]
            return res
        return _finish(S, res, k, best_t, planned, k_hi, upper)
    raise AssertionError("unreachable: the DOSE-MAX bound is added at most once")


def _lowest_k(S: _Search, k_lo: float, k_hi: float, target: int, cands: list[float]) -> float:
    """The lowest factor in [k_lo, k_hi] whose interval reaches ``target`` days."""
    from scipy.optimize import brentq

    found = [k for k in cands if S.total(k) >= target]
    generic_ok = S.stability_days(_generic(S, k_lo, k_hi)) >= target
    if generic_ok:
        if S.interval(k_lo) >= target:
            found.append(k_lo)
        else:
            hi = min(k for k in [k_hi] + cands if S.interval(k) >= target)
            xtol = (BRENT_XTOL_MC if S.var is not None else BRENT_XTOL_EXACT) * hi
            root = brentq(lambda x: S.tau(x) * (1 + RTOL) / DAY + RTOL - target, k_lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=200)
            x = root
            while S.interval(x) < target and x < hi:  # the root may sit an ulp (or a bin) on the short side
                x = min(hi, x + xtol)
            found.append(x)
    return min(k for k in found if S.total(k) >= target)


def _cross_check(S: _Search, k: float, interval: int) -> str | None:
    """The worst-case volume recomputed by :mod:`pumpsim.rules.check` (closed form, no stepping): the
    alarm must not come before the planned interval ends. A disagreement means the plan cannot
    be trusted (CROSS-CHECK). The Monte-Carlo quantile has no independent twin; its nominal
    empty cap is checked the same way."""
    from pumpsim.rules import check

    sub = one_session_table(S.table, k, interval * DAY)
    if S.var is None:
        low, empty = check.worst_reservoir(sub)
        case = "worst case"
    else:
        low, empty = None, check.nominal_reservoir(sub)[1]
        case = "nominal case"
    hit = low if S.alarm is not None and S.var is None else empty
    if hit is not None and hit < interval * DAY - check.CROSS_CHECK_ATOL_S:
        what = "low alarm" if S.alarm is not None and S.var is None else "empty reservoir"
        return (f"the independent check puts the {case} {what} at day {hit / DAY:.6f} after the planned refill, "
                f"before the {interval} days the simulator allowed: the plan cannot be trusted")
    return None


def _generic(S: _Search, lo: float, hi: float) -> float:
    """A factor in [lo, hi] that is not a presentation (for the stability of a diluted mix)."""
    pres = S.presentations(lo, hi)
    for f in (0.5, 0.37, 0.73, 0.11, 0.91):
        x = lo + (hi - lo) * f
        if all(abs(x - p) > RTOL * p for p in pres):
            return x
    return hi


def _over_ceilings(table: Table, profile: Profile, scenario: Scenario, since: float) -> dict[str, float]:
    """The drugs whose dose in some rolling 24 h window ending after ``since`` (in ``scenario``)
    is above their hard daily ceiling, with that maximum [dose unit]."""
    if since >= table.horizon:
        return {}
    r = simulation.simulate(table, scenario)
    a = since - DAY  # the windows that end after ``since`` start after ``a``
    i = int(np.searchsorted(r.t, a, side="left"))
    if 0 < i < len(r.t) and r.t[i] > a:  # cut the record at ``a`` (linear between breakpoints)
        w = (a - r.t[i - 1]) / (r.t[i] - r.t[i - 1])
        d = r.dose[i - 1] + w * (r.dose[i] - r.dose[i - 1])
        r = dataclasses.replace(r, t=np.concatenate(([a], r.t[i:])), dose=np.vstack((d, r.dose[i:])))
    elif i > 0:
        r = dataclasses.replace(r, t=r.t[i:], dose=r.dose[i:])
    out = {}
    for d, (dose, _) in simulation.max_24h(r, table.horizon).items():
        lim = profile.limit(d, "daily_hard")
        if lim is not None and above(dose, float(lim.value)):
            out[d] = dose
    return out


def _dose_breaches(planned: Table, profile: Profile, since: float, exempt: set[str]) -> dict[str, str]:
    """Hard ceilings the planned refill breaks (drug -> rule): DOSE-MAX, the programmed case above
    it; DOSE-MAX-WORST, the worst case above it (a drug in ``exempt`` is judged as programmed only)."""
    out = {d: "DOSE-MAX" for d in _over_ceilings(planned, profile, Scenario.programmed(), since)}
    worst = _over_ceilings(planned, profile, Scenario.worst(float(planned.device.accuracy.value)), since)
    for d in worst:
        if d not in exempt and d not in out:
            out[d] = "DOSE-MAX-WORST"
    return out


def _dose_cap(table: Table, profile: Profile, lo: float, hi: float, interval: int, exempt: set[str]) -> Cap | None:
    """The largest factor in [lo, hi] at which the planned refill breaks no hard daily ceiling, as
    programmed or (outside ``exempt``) in the worst case (bisection), and what bounds it."""
    since = table.sessions[-1].t

    def breaches(k: float) -> dict[str, str]:
        return _dose_breaches(planned_table(table, k, interval), profile, since, exempt)

    if breaches(lo):
        return None
    a, b = lo, hi
    at_b = breaches(hi)
    for _ in range(60):
        m = 0.5 * (a + b)
        hit = breaches(m)
        if hit:
            b, at_b = m, hit
        else:
            a = m
        if b - a <= 1e-9 * b:
            break
    drug, rule = sorted(at_b.items())[0]
    lim = profile.limit(drug, "daily_hard")
    assert lim is not None
    unit = f"{drug_library().drugs[drug].dose_unit}/day"
    case = "as programmed" if rule == "DOSE-MAX" else \
        f"in the worst case (pump {float(table.device.accuracy.value) * 100:g} % fast)"
    return Cap(a, rule, drug, f"{drug} {case} within its hard daily ceiling {float(lim.value):g} {unit} "
               "(a bolus grows with the concentration)", lim.source, lim.verified)


def _finish(S: _Search, res: PlanResult, k: float, interval: int, planned: Table, k_hi: float, upper: list[Cap]) -> PlanResult:
    table = S.table
    last = table.sessions[-1]
    refill, steps = scaled(table, k)
    res.interval_days, res.k, res.planned = interval, k, planned
    res.refill_at = last.at + dt.timedelta(days=interval)
    res.fill_volume = refill.volume
    res.steps = steps
    res.concentrations = dict(refill.mix)
    res.daily_doses = {d: c * _mean_rate(steps) for d, c in refill.mix}
    res.stability = S.stability(k)
    sub = one_session_table(table, k, (interval + 1) * DAY)
    worst = simulation.simulate(sub, Scenario.worst(float(table.device.accuracy.value)))
    nominal = simulation.simulate(sub, Scenario.nominal())
    res.residual_worst = _volume_before(worst.t, worst.volume_true, interval * DAY)
    res.residual_nominal = _volume_before(nominal.t, nominal.volume_true, interval * DAY)
    if S.var is not None:
        n, p = S.p_low_alarm(k, interval)
        res.p_low_alarm, res.p_ci95 = p, stats.wilson(n, S.runs)
    # FORMAT.md §5: stability, else the device minimum rate, else the 365-day cap, else the volume
    stab = S.stability_days(k)
    rate_min = table.device.rate_min
    at_min = rate_min is not None and any(c.rule == "RATE-RANGE" and c.k <= k_hi * (1 + RTOL) for c in upper) \
        and S.interval(k_hi) == interval
    if S.keep or table.device.kind == "constant-flow":
        at_min = rate_min is not None and min(s.rate for s in steps) <= float(rate_min.value) * (1 + RTOL)
    if math.isclose(stab, interval, rel_tol=RTOL):
        res.binding = "REFILL-STABILITY"
    elif at_min:
        res.binding = "RATE-RANGE"
    elif interval == MAX_INTERVAL_DAYS:
        res.binding = "HORIZON"
    else:
        res.binding = "REFILL-LOW-ALARM"
    b = table.programs[-1].bolus
    if b is not None and not math.isclose(k, 1.0, rel_tol=RTOL):
        lib = drug_library().drugs
        doses = ", ".join(f"{b.volume * c:.4g} {lib[d].dose_unit} of {d} (was {b.volume * c / k:.4g})"
                          for d, c in refill.mix)
        res.notes.append(f"the bolus policy is kept as written: a bolus of {b.volume * 1000:g} uL now delivers {doses}")
    return res
