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
from pumpsim.planning.rounding import rounding_for
from pumpsim.planning.tablewrite import _duration, _num, planned_toml  # noqa: F401  (re-exported)
from pumpsim.rules.report import days
from pumpsim.rules.static import stability_limit
from pumpsim.sim import draws, montecarlo, simulation, stats

MIN_INTERVAL_DAYS = 1  # FORMAT.md §5: at least 1 day
DEFAULT_P_LOW_ALARM = 1e-3  # FORMAT.md §5: default P
GRANULOMA_MARGIN = 1e-6  # "below" the threshold: this relative margin under it (the rule's tolerance is 1e-9)
MAX_ATTEMPTS = 4  # rounds of the search, each of which may add a dose-ceiling bound
MAX_FACTOR = 1e3  # without a bound from the data, concentrations move at most 1000-fold either way
BRENT_XTOL_EXACT = 1e-12  # relative, on k, for the worst case (a continuous tau)
BRENT_XTOL_MC = 1e-5  # relative, on k, for a Monte-Carlo quantile (a step function of k)


# --------------------------------------------------------------------------- building tables
def scaled(table: Table, k: float) -> tuple[Refill, tuple[Step, ...]]:
    """The last session's refill (the whole reservoir) and flex steps at concentration factor ``k``.

    Parameters
    ----------
    table : Table
        The table to plan; its last session holds a refill.
    k : float
        The concentration factor [-]: every concentration times ``k``, every rate divided by it.

    Returns
    -------
    tuple of (Refill, tuple of Step)
        The refill (volume [mL], concentrations [dose unit/mL]) and the steps (rates [mL/day]).
    """
    last, prog = table.sessions[-1], table.programs[-1]
    assert last.refill is not None
    mix = tuple((d, c * k) for d, c in last.refill.mix)
    steps = tuple(Step(s.start, s.rate / k) for s in prog.steps)
    return Refill(float(table.device.reservoir.value), mix), steps


def planned_table(table: Table, k: float, interval: int, refill: Refill | None = None,
                  steps: tuple[Step, ...] | None = None) -> Table:
    """The whole table with the last session replaced by the plan, a refill of the same mix
    appended ``interval`` days later, and the horizon ending there (FORMAT.md §5 ``-o``).

    Parameters
    ----------
    table : Table
        The table to plan.
    k : float
        The concentration factor [-], used when ``refill`` and ``steps`` are not given.
    interval : int
        Days until the next refill [day].
    refill, steps : Refill and tuple of Step, optional
        The planned refill and steps as written (rounded); default: :func:`scaled` at ``k``.

    Returns
    -------
    Table
        The planned table (horizon [s] at the next refill).
    """
    last = table.sessions[-1]
    if refill is None or steps is None:
        refill, steps = scaled(table, k)
    planned = dataclasses.replace(last, refill=refill, steps=steps, flex=_is_flex(steps))
    nxt = Session(last.index + 1, last.at + dt.timedelta(days=interval), last.t + interval * DAY, refill, None, None, False)
    sessions = table.sessions[:-1] + (planned, nxt)
    return dataclasses.replace(table, sessions=sessions, programs=resolve_programs(sessions),
                               horizon=last.t + interval * DAY)


def one_session_table(table: Table, k: float, horizon: float, variability=None, refill: Refill | None = None,
                      steps: tuple[Step, ...] | None = None) -> Table:
    """The planned refill alone, as the first session of a table (same clock time, device, policy).

    Parameters
    ----------
    table : Table
        The table to plan.
    k : float
        The concentration factor [-], used when ``refill`` and ``steps`` are not given.
    horizon : float
        The simulated horizon [s].
    variability : Variability or None
        The Monte-Carlo section of the one-session table.
    refill, steps : Refill and tuple of Step, optional
        The planned refill and steps as written (rounded); default: :func:`scaled` at ``k``.

    Returns
    -------
    Table
        A one-session table starting at the planned refill.
    """
    last, prog = table.sessions[-1], table.programs[-1]
    if refill is None or steps is None:
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
        self.rounding = rounding_for(table, profile)
        self._tau_cache: dict[object, float] = {}
        self._margin_cache: dict[object, np.ndarray] = {}

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
        """Seconds from the planned refill to the low alarm (empty without one) at factor ``k``:
        worst case, or the P-quantile of the margin over the runs; capped at the simulated horizon."""
        if k not in self._tau_cache:
            self._tau_cache[k] = self.tau_of(*scaled(self.table, k))
        return self._tau_cache[k]

    def tau_of(self, refill: Refill, steps: tuple[Step, ...]) -> float:
        """:meth:`tau` [s] of a refill and steps as written (a rounded plan)."""
        key = (refill, steps)
        if key not in self._tau_cache:
            self._tau_cache[key] = self._tau_mc(refill, steps) if self.var is not None else self._tau_worst(refill, steps)
        return self._tau_cache[key]

    def _hit(self, r) -> float | None:
        return r.low_alarm_at if self.alarm is not None else r.empty_at

    def _tau_worst(self, refill: Refill, steps: tuple[Step, ...]) -> float:
        h = self.horizon()
        sub = one_session_table(self.table, 1.0, h, refill=refill, steps=steps)
        hit = self._hit(simulation.simulate(sub, Scenario.worst(float(self.table.device.accuracy.value))))
        return h if hit is None else hit

    def _margins(self, refill: Refill, steps: tuple[Step, ...]) -> np.ndarray:
        """Per run: time to the alarm + the planned refill's delay - the next refill's delay [s]."""
        key = (refill, steps)
        if key in self._margin_cache:
            return self._margin_cache[key]
        h = self.horizon()
        var = dataclasses.replace(self.var, refill_delay=None, missed_refill=None)
        sub = one_session_table(self.table, 1.0, h, var, refill=refill, steps=steps)
        mplan = montecarlo.make_plan(sub, self.profile, self.seed, worst_max={})
        key_hit = "low" if self.alarm is not None else "empty"
        hit = np.concatenate([getattr(montecarlo.per_run(mplan, first, n), key_hit)
                              for first, n in montecarlo._chunks(self.runs, montecarlo.DEFAULT_CHUNK)])
        hit = np.where(np.isnan(hit), np.inf, hit)
        self._margin_cache[key] = hit + self.d1 - self.d2
        return self._margin_cache[key]

    def _tau_mc(self, refill: Refill, steps: tuple[Step, ...]) -> float:
        x = np.sort(self._margins(refill, steps))
        m = int(math.floor(self.p_max * self.runs * (1 + RTOL)))  # runs allowed to reach the alarm
        q = x[m] if m < len(x) else math.inf
        # and never past the nominal empty instant (REFILL-EMPTY, hard, judges the nominal case)
        h = self.horizon()
        empty = simulation.simulate(one_session_table(self.table, 1.0, h, refill=refill, steps=steps),
                                    Scenario.nominal()).empty_at
        return min(float(q), h if empty is None else empty, h)

    def p_low_alarm(self, refill: Refill, steps: tuple[Step, ...], interval: int) -> tuple[int, float]:
        """Runs (count, fraction) in which the low alarm comes before the next refill."""
        x = self._margins(refill, steps)
        n = int(np.sum(x < interval * DAY * (1 - RTOL)))
        return n, n / self.runs

    def _delays(self, first_session: bool) -> tuple[np.ndarray, np.ndarray]:
        """The delays [s] of the planned (d1) and of the next (d2) refill of each run, drawn by the
        kernels' own routine from the plan's own streams (:func:`pumpsim.sim.draws.refill_delays`)."""
        n = self.runs
        if self.var.refill_delay is None:
            return np.zeros(n), np.zeros(n)
        d = draws.refill_delays(self.table, self.seed, n, 2)
        d1 = np.zeros(n) if first_session else d[:, 0]  # the first session is never delayed (docs/SIMULATION.md)
        return d1, d[:, 1]

    def interval(self, k: float) -> int:
        """Whole days allowed at factor k (before the 365-day cap and stability)."""
        return int(math.floor(self.tau(k) * (1 + RTOL) / DAY + RTOL))

    def total(self, k: float) -> int:
        """Whole days allowed at factor ``k``: the volume, the stability and the 365-day cap [day]."""
        return int(min(self.interval(k), self.stability_days(k), self.cap_days))

    def total_of(self, refill: Refill, steps: tuple[Step, ...]) -> int:
        """:meth:`total` [day] of a refill and steps as written (a rounded plan)."""
        vol = int(math.floor(self.tau_of(refill, steps) * (1 + RTOL) / DAY + RTOL))
        last = self.table.sessions[-1]
        lim, _, _ = stability_limit(self.table, self.profile, last.index, refill.mix_dict, self.first_zic)
        stab = math.inf if lim is None else float(lim.value) / DAY
        return int(min(vol, stab, self.cap_days))


def plan(table: Table, profile: Profile, *, p_max: float = DEFAULT_P_LOW_ALARM, keep_concentration: bool = False,
         runs: int | None = None, seed: int | None = None) -> PlanResult:
    """Plan the refill at the table's last session (FORMAT.md §5).

    Parameters
    ----------
    table : Table
        The table; its last session must hold a refill (the caller checks it).
    profile : Profile
        The guideline profile of limits.
    p_max : float
        With ``[variability]``: the largest allowed fraction of runs reaching the low alarm
        before the next refill [-].
    keep_concentration : bool
        Keep the concentrations and the rate; choose only the volume and the date.
    runs, seed : int or None
        Monte-Carlo runs and seed (default: the table's, else those of ``simulate``).

    Returns
    -------
    PlanResult
        The plan, every number that of the rounded table ``-o`` writes (FORMAT.md §5): the
        interval [day], the refill date, the fill [mL], the rate [mL/day], the concentrations
        [dose unit/mL]; or ``interval_days`` None and the rule that prevents a plan.
    """
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
    exempt = _exempt(table, profile, last_t)
    before = _findings(validate(table, profile).violations)  # what the input already has
    for attempt in range(MAX_ATTEMPTS):  # each round may lower the upper bound by a dose ceiling
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
        if attempt == 0:  # the simulated horizon covers the longest interval any candidate may reach
            S.cap_days = int(min(MAX_INTERVAL_DAYS, max(S.stability_days(x) for x in
                                                        [k_hi, _generic(S, k_lo, k_hi)] + S.presentations(k_lo, k_hi))))
        cands = [k_hi] + S.presentations(k_lo, k_hi)
        best_t = max(S.total(k) for k in cands)
        if best_t < MIN_INTERVAL_DAYS:
            return _too_short(S, res, notes)
        k = _lowest_k(S, k_lo, k_hi, best_t, cands)
        # every candidate, a presentation included, is judged against the dose ceilings: a bolus
        # grows with the concentration (no DOSE-MAX or DOSE-MAX-WORST added, FORMAT.md §5)
        breach = _dose_breaches(planned_table(table, k, best_t), profile, last_t, exempt)
        if breach:
            cap = _dose_cap(table, profile, k_lo, k, best_t, exempt)
            if cap is None:
                drug, rule = sorted(breach.items())[0]
                rule = rule.split()[0]
                res.binding = rule
                res.notes = notes + [f"even the least concentrated mix allowed breaks the hard daily ceiling of {drug} "
                                     f"({rule}): no plan adds it"]
                return res
            upper = upper + [cap]
            continue
        chosen = _round(S, k, best_t, k_hi, exempt, before)
        if chosen is None:
            return _too_short(S, res, notes)
        refill, steps, interval, planned, report, added = chosen
        disagreement = _cross_check(S, refill, steps, interval)
        if disagreement:
            res.binding, res.notes = "CROSS-CHECK", notes + [disagreement]
            return res
        hard = [v for v in report.violations if v.severity == "hard"]
        if hard:
            res.binding, res.violations = hard[0].rule, hard
            res.notes = notes + [f"{v.rule} ({v.at}): {v.message}" for v in hard]
            return res
        if added:
            res.binding, res.violations = added[0].rule, added
            res.notes = notes + [f"the planned table would add {v.rule} ({v.at}): {v.message}" for v in added]
            return res
        return _finish(S, res, k, refill, steps, interval, planned, k_hi, upper)
    res.binding = "DOSE-MAX-WORST"
    res.notes = notes + [f"no concentration found within the hard daily ceilings after {MAX_ATTEMPTS} bounds"]
    return res


def _too_short(S: _Search, res: PlanResult, notes: list[str]) -> PlanResult:
    res.binding = "REFILL-LOW-ALARM"
    what = "the low alarm" if S.alarm is not None else "empty"
    res.notes = notes + [f"even at the most concentrated mix allowed the reservoir reaches {what} within a day"]
    return res


def _findings(violations) -> set[tuple[str, str | None]]:
    """(rule, drug) of each violation: what "a violation the input did not have" compares."""
    return {(v.rule, v.drug) for v in violations}


#: With ``[variability]`` the low alarm before the next refill is judged by its probability
#: (FORMAT.md §5), so the worst case may reach it, and empty: not counted as added.
BY_PROBABILITY = ("REFILL-EMPTY-WORST", "REFILL-LOW-ALARM")

#: Rounding modes of a rate (:mod:`pumpsim.planning.rounding`); "floor": no drug's daily dose
#: above the one written (the smallest ratio of the drugs, rounded down).
RATE_MODES = ("nearest", "down", "up", "floor")
#: Concentrations tried: rounded down or up, and one step further either way [steps of the rounding].
CONCENTRATION_SHIFTS = (0, 1, -1, 2, -2)


def _shifted(R, drug: str, c: float, shift: int) -> float:
    """``c`` rounded down (shift <= 0) or up (shift > 0), then moved by ``|shift| - 1`` more steps
    of the rounding (0: to the nearest)."""
    if shift == 0:
        return R.concentration(drug, c, "nearest")
    mode = "up" if shift > 0 else "down"
    x = R.concentration(drug, c, mode)
    for _ in range(abs(shift) - 1):
        x = R.concentration(drug, x * (1 + 1e-9) if shift > 0 else x * (1 - 1e-9), mode)
    return x


def _rounded(S: _Search, k: float, shift: int, rmode: str, top: bool = False) -> tuple[Refill, tuple[Step, ...]]:
    """The refill and steps at factor ``k``, rounded as prepared and programmed: each concentration
    rounded (:func:`_shifted`), then each rate set to keep the daily doses with the rounded
    concentrations (the geometric mean of the drugs' ratios) and rounded (``rmode``). As written
    when ``k`` is 1 (a presentation, or the concentrations kept). ``top``: ``k`` is the upper
    bound, every concentration rounded down under it."""
    if math.isclose(k, 1.0, rel_tol=RTOL, abs_tol=0.0):
        return scaled(S.table, 1.0)
    refill, steps = scaled(S.table, k)
    R = S.rounding
    mix = tuple((d, R.concentration(d, c, "down") if top else _shifted(R, d, c, shift)) for d, c in refill.mix)
    ratios = [c / cr for (_, c), (_, cr) in zip(refill.mix, mix) if c > 0 and cr > 0]
    if rmode == "floor":
        g, rmode = (min(ratios) if ratios else 1.0), "down"
    else:
        g = math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else 1.0
    rmin = S.table.device.rate_min
    new_steps = []
    for st in steps:
        r = R.rate(st.rate * g, rmode)
        if rmin is not None and r < float(rmin.value) * (1 - RTOL):
            r = R.rate(st.rate * g, "up")
        new_steps.append(Step(st.start, r))
    return Refill(refill.volume, mix), tuple(new_steps)


def _dose_deviation(S: _Search, refill: Refill, steps: tuple[Step, ...]) -> float:
    """The largest relative change of a drug's programmed daily dose from the one written [-]."""
    c0, r0 = S.table.sessions[-1].refill.mix_dict, S.table.programs[-1].mean_rate
    r = _mean_rate(steps)
    return max((abs(c * r / (c0[d] * r0) - 1) for d, c in refill.mix if c0[d] > 0), default=0.0)


def _round(S: _Search, k: float, target: int, k_hi: float, exempt: dict[str, set[str]], before: set):
    """The rounded plan. Candidates: each concentration rounded (to the nearest, down, up, or one
    step further), each rate then set to keep the daily doses and rounded to the nearest, down
    or up; tried from the smallest change of a daily dose.
    The first whose table keeps the interval ``target`` [day], stays within the concentration
    bounds and the device range, adds no hard daily ceiling and no violation the input did not
    have is the plan; else the one with the longest interval.

    Returns
    -------
    tuple or None
        (refill, steps, interval [day], planned table, its validate report, the violations it
        adds), or None when no rounding lasts a day.
    """
    from pumpsim.rules.validate import validate

    table, profile = S.table, S.profile
    last = table.sessions[-1]
    c0 = last.refill.mix_dict
    rmax = table.device.rate_max
    cands: dict[tuple[Refill, tuple[Step, ...]], float] = {}
    for shift in CONCENTRATION_SHIFTS:
        for rmode in RATE_MODES:
            refill, steps = _rounded(S, k, shift, rmode)
            if any(c > c0[d] * k_hi * (1 + RTOL) for d, c in refill.mix):
                continue  # rounded above a concentration bound (CONC-MAX, no added GRANULOMA-RISK, a ceiling)
            if rmax is not None and any(above(st.rate, float(rmax.value)) for st in steps):
                continue
            cands.setdefault((refill, steps), _dose_deviation(S, refill, steps))
    order = [key for key, _ in sorted(cands.items(), key=lambda kv: kv[1])]
    # last: the most concentrated mix that can be written, at the slowest rate, should the
    # roundings near ``k`` all fall short of the interval
    order.append(_rounded(S, k_hi, 0, "floor", top=True))
    fallback = None
    for refill, steps in order:
        interval = S.total_of(refill, steps)
        if interval < MIN_INTERVAL_DAYS or (fallback is not None and interval < target and interval <= fallback[2]):
            continue
        planned = planned_table(table, k, interval, refill, steps)
        if _dose_breaches(planned, profile, last.t, exempt):
            continue
        report = validate(planned, profile)
        added = [v for v in report.violations if (v.rule, v.drug) not in before and (v.session or 0) >= last.index
                 and not (S.var is not None and v.rule in BY_PROBABILITY)]
        found = (refill, steps, interval, planned, report, added)
        if interval >= target and not added:
            return found
        if fallback is None or (not added, interval) > (not fallback[5], fallback[2]):
            fallback = found
    return fallback


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


def _cross_check(S: _Search, refill: Refill, steps: tuple[Step, ...], interval: int) -> str | None:
    """The worst-case volume recomputed by :mod:`pumpsim.rules.check` (closed form, no stepping): the
    alarm must not come before the planned interval ends. A disagreement means the plan cannot
    be trusted (CROSS-CHECK). The Monte-Carlo quantile has no independent twin; its nominal
    empty cap is checked the same way.

    Parameters
    ----------
    S : _Search
        The search.
    refill, steps : Refill and tuple of Step
        The planned refill and steps as written.
    interval : int
        The planned interval [day].

    Returns
    -------
    str or None
        The disagreement in words, or None.
    """
    from pumpsim.rules import check

    sub = one_session_table(S.table, 1.0, interval * DAY, refill=refill, steps=steps)
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
                f"before the {days(interval)} the simulator allowed: the plan cannot be trusted")
    return None


def _generic(S: _Search, lo: float, hi: float) -> float:
    """A factor in [lo, hi] that is not a presentation (for the stability of a diluted mix)."""
    pres = S.presentations(lo, hi)
    for f in (0.5, 0.37, 0.73, 0.11, 0.91):
        x = lo + (hi - lo) * f
        if all(abs(x - p) > RTOL * p for p in pres):
            return x
    return hi


def _maxima(table: Table, scenario: Scenario, since: float) -> dict[str, float]:
    """Each drug's largest dose in a rolling 24 h window ending after ``since`` [s], in
    ``scenario`` [dose unit]."""
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
    # the doses are cumulative from the first session: count them from ``a``, or a window that
    # starts before the cut would read the whole history as one day's dose
    r = dataclasses.replace(r, dose=r.dose - r.dose[0])
    return {d: dose for d, (dose, _) in simulation.max_24h(r, table.horizon).items()}


def _over(maxima: dict[str, float], profile: Profile, key: str) -> set[str]:
    """The drugs whose maximum is above their ``key`` ceiling (daily_hard or daily_soft)."""
    return {d for d, dose in maxima.items() if (lim := profile.limit(d, key)) is not None and above(dose, float(lim.value))}


def _exempt(table: Table, profile: Profile, since: float) -> dict[str, set[str]]:
    """The ceilings the table's own last interval already breaks, which a plan may keep: the hard
    one in the worst case ("worst"), the soft one as programmed ("soft")."""
    return {"worst": _over(_maxima(table, Scenario.worst(float(table.device.accuracy.value)), since), profile, "daily_hard"),
            "soft": _over(_maxima(table, Scenario.programmed(), since), profile, "daily_soft")}


def _dose_breaches(planned: Table, profile: Profile, since: float, exempt: dict[str, set[str]]) -> dict[str, str]:
    """Daily ceilings the planned refill breaks (drug -> what): "DOSE-MAX", the programmed case
    above the hard ceiling; "DOSE-MAX-WORST", the worst case above it; "DOSE-MAX soft", the
    programmed case above the soft ceiling (no violation the input did not have is added; a
    drug in ``exempt`` already breaks that ceiling in the table's last interval)."""
    prog = _maxima(planned, Scenario.programmed(), since)
    out = {d: "DOSE-MAX" for d in _over(prog, profile, "daily_hard")}
    worst = _over(_maxima(planned, Scenario.worst(float(planned.device.accuracy.value)), since), profile, "daily_hard")
    for d in sorted(worst - exempt["worst"]):
        out.setdefault(d, "DOSE-MAX-WORST")
    for d in sorted(_over(prog, profile, "daily_soft") - exempt["soft"]):
        out.setdefault(d, "DOSE-MAX soft")
    return out


def _dose_cap(table: Table, profile: Profile, lo: float, hi: float, interval: int, exempt: dict[str, set[str]]) -> Cap | None:
    """The largest factor in [lo, hi] at which the planned refill adds no daily-ceiling violation
    (:func:`_dose_breaches`, bisection), and what bounds it; None when ``lo`` already adds one."""
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
    drug, what = sorted(at_b.items())[0]
    soft = what == "DOSE-MAX soft"
    lim = profile.limit(drug, "daily_soft" if soft else "daily_hard")
    assert lim is not None
    unit = f"{drug_library().drugs[drug].dose_unit}/day"
    case = "as programmed" if what != "DOSE-MAX-WORST" else \
        f"in the worst case (pump {float(table.device.accuracy.value) * 100:g} % fast)"
    return Cap(a, "DOSE-MAX" if soft else what, drug, f"{drug} {case} within its {'soft' if soft else 'hard'} daily ceiling "
               f"{float(lim.value):g} {unit} (a bolus grows with the concentration)", lim.source, lim.verified)


def _finish(S: _Search, res: PlanResult, k: float, refill: Refill, steps: tuple[Step, ...], interval: int,
            planned: Table, k_hi: float, upper: list[Cap]) -> PlanResult:
    """Fill ``res`` with the numbers of the rounded plan (FORMAT.md §5) and its binding."""
    table = S.table
    last = table.sessions[-1]
    res.interval_days, res.k, res.planned = interval, k, planned
    res.refill_at = last.at + dt.timedelta(days=interval)
    res.fill_volume = refill.volume
    res.steps = steps
    res.concentrations = dict(refill.mix)
    res.daily_doses = {d: c * _mean_rate(steps) for d, c in refill.mix}
    lim, drug, _ = stability_limit(table, S.profile, last.index, refill.mix_dict, S.first_zic)
    res.stability = None if lim is None else (lim, drug)
    sub = one_session_table(table, 1.0, (interval + 1) * DAY, refill=refill, steps=steps)
    worst = simulation.simulate(sub, Scenario.worst(float(table.device.accuracy.value)))
    nominal = simulation.simulate(sub, Scenario.nominal())
    res.residual_worst = _volume_before(worst.t, worst.volume_true, interval * DAY)
    res.residual_nominal = _volume_before(nominal.t, nominal.volume_true, interval * DAY)
    if S.var is not None:
        n, p = S.p_low_alarm(refill, steps, interval)
        res.p_low_alarm, res.p_ci95 = p, stats.wilson(n, S.runs)
    # FORMAT.md §5: stability, else the device minimum rate, else the 365-day cap, else the volume
    stab = math.inf if lim is None else float(lim.value) / DAY
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
    lib = drug_library().drugs
    c0 = last.refill.mix_dict
    exact, _ = scaled(table, k)
    if exact != refill or _ != steps:
        kept = {d: c * table.programs[-1].mean_rate for d, c in c0.items()}
        words = ", ".join(f"{d} {res.daily_doses[d]:.6g} {lib[d].dose_unit}/day ({(res.daily_doses[d] / kept[d] - 1) * 100:+.2g} %)"
                          for d in sorted(kept) if kept[d] > 0)
        data = "; ".join(f"{what} {s.text}{'' if s.verified else ' [UNVERIFIED]'}" for what, s in S.rounding.sources())
        res.notes.append(f"rounded as prepared and programmed ({data}): the daily doses become {words} against those written")
    b = table.programs[-1].bolus
    if b is not None and any(not math.isclose(c, c0[d], rel_tol=RTOL) for d, c in refill.mix):
        doses = ", ".join(f"{b.volume * c:.4g} {lib[d].dose_unit} of {d} (was {b.volume * c0[d]:.4g})"
                          for d, c in refill.mix)
        res.notes.append(f"the bolus policy is kept as written: a bolus of {b.volume * 1000:g} uL now delivers {doses}")
    return res
