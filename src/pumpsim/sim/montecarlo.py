"""``simulate``: Monte-Carlo runs over a table's ``[variability]`` and the risks they estimate.

Runs are computed in chunks by ``kernels/montecarlo.py`` (each run draws its own numbers from
a stream keyed by the seed and its index) and folded into counts and fixed-bin histograms as
each chunk finishes, so memory does not grow with the number of runs and the result is the
same for any number of workers or chunk size.

This module orchestrates the runs (draws, chunks, threads or a Dask cluster). The estimates
(proportions with Wilson intervals, histograms, the fan chart) are in
:mod:`pumpsim.sim.stats`; the risk JSON and the risks in words in
:mod:`pumpsim.render.montecarlo`. Their names are re-exported here, so
``pumpsim.sim.montecarlo.wilson``, ``Histogram``, ``describe``... keep working.

The fan chart of the reservoir (figure 1 with ``simulate``): each run's true volume is sampled
at FAN_POINTS instants evenly over [0, horizon] inside the kernel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pumpsim.kernels.draws import Variation
from pumpsim.kernels.montecarlo import Outputs
from pumpsim.kernels.structs import Pump, Sessions
from pumpsim.model.results import Scenario
from pumpsim.model.table import Profile, Table
from pumpsim.model.timebase import DAY
from pumpsim.model.tolerances import RTOL
from pumpsim.sim.lower import lower_table
from pumpsim.sim.stats import (
    FanData,
    Histogram,
    MonteCarlo,
    Proportion,
    fan_counts,
)

DEFAULT_RUNS = 10_000  # FORMAT.md §4
DEFAULT_SEED = 0
DEFAULT_CHUNK = 4096
FAN_POINTS = 241  # instants of the fan chart, evenly over [0, horizon] (both ends included)
YEAR = 365.25 * DAY  # [s]: rates given per year (MRI stalls, fevers)


def sample_volume(t: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The piecewise-linear volume (t, v) at the instants ``grid``, by search.

    The reference path's own version of ``kernels/montecarlo.sample_grid`` (same rule: at a
    breakpoint instant, the last row there, the state after a refill or bolus; linear in between).

    Parameters
    ----------
    t : numpy.ndarray, shape (m,)
        Breakpoint instants [s since the table's first session], non-decreasing.
    v : numpy.ndarray, shape (m,)
        Reservoir volume at each breakpoint [mL].
    grid : numpy.ndarray
        The instants to sample [s].

    Returns
    -------
    numpy.ndarray
        The volume at each instant of ``grid`` [mL].
    """
    k = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, len(t) - 1)
    k1 = np.minimum(k + 1, len(t) - 1)
    t0, t1 = t[k], t[k1]
    at = (t0 >= grid) | (k1 == k)
    span = np.where(at, 1.0, t1 - t0)
    return np.where(at, v[k], v[k] + (v[k1] - v[k]) * ((grid - t0) / span))


def variation(table: Table) -> Variation:
    """The table's ``[variability]`` lowered for the kernels (``kernels/draws.py``).

    Durations in seconds, Poisson rates per second. Absent sources are absent (FORMAT.md §1).

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table: its ``[variability]`` (bolus requests [1/day], MRI stalls and fevers
        [1/year], refill delays, recoveries and durations [s], accuracy mean, sd and clip [-],
        missed-refill probability [-], fever flow increase [-], hourly weights [-]) and its
        device's accuracy [-].

    Returns
    -------
    Variation
        Accuracy draws (``acc_mean``, ``acc_sd``, ``acc_clip`` [-]), request rate ``req_rate``
        [1/s], ``hourly`` weights [-] (mean 1), refill delays (``delay_low``, ``delay_high``,
        ``delay_values`` [s], ``delay_cum`` [-]), ``miss_p`` [-], stalls (``stall_rate`` [1/s],
        ``stall_low``, ``stall_high`` [s]), fevers (``fever_rate`` [1/s], ``fever_low``,
        ``fever_high`` [s], ``fever_factor`` [-]).
    """
    v = table.variability
    kw: dict = dict(acc_on=False, acc_mean=0.0, acc_sd=0.0, acc_clip=1.0, acc_per_refill=False, req_rate=0.0,
                    hourly=np.ones(24), delay_on=False, delay_low=0.0, delay_high=0.0, delay_values=np.empty(0),
                    delay_cum=np.empty(0), miss_p=0.0, stall_rate=0.0, stall_low=0.0, stall_high=0.0,
                    fever_rate=0.0, fever_low=0.0, fever_high=0.0, fever_factor=1.0)
    if v is None:
        return Variation(**kw)
    if v.pump_accuracy is not None:
        p = v.pump_accuracy.params
        # without a clip the tolerance of the device bounds the factor
        kw.update(acc_on=True, acc_mean=float(p.get("mean", 0.0)), acc_sd=float(p["sd"]),
                  acc_clip=float(p.get("clip", float(table.device.accuracy.value))),
                  acc_per_refill=v.pump_accuracy_per == "refill")
    if v.bolus_requests is not None:
        kw["req_rate"] = float(v.bolus_requests.params["per_day"]) / DAY
    if v.refill_delay is not None and v.refill_delay.dist == "uniform":
        kw.update(delay_on=True, delay_low=float(v.refill_delay.params["low"]), delay_high=float(v.refill_delay.params["high"]))
    elif v.refill_delay is not None:
        kw.update(delay_on=True, delay_values=np.array(v.refill_delay.params["values"], dtype=np.float64),
                  delay_cum=np.cumsum(np.array(v.refill_delay.params["p"], dtype=np.float64)))
    if v.hourly is not None:
        w = np.array(v.hourly, dtype=np.float64)
        kw["hourly"] = w / w.mean()
    if v.missed_refill is not None:
        kw["miss_p"] = float(v.missed_refill.params["p"])
    if v.mri_stalls is not None:
        p = v.mri_stalls.params
        kw.update(stall_rate=p["per_year"] / YEAR, stall_low=float(p["recovery_low"]), stall_high=float(p["recovery_high"]))
    if v.fever is not None:
        p = v.fever.params
        kw.update(fever_rate=p["per_year"] / YEAR, fever_low=float(p["duration_low"]),
                  fever_high=float(p["duration_high"]), fever_factor=1.0 + p["flow_increase"])
    return Variation(**kw)


@dataclass
class Plan:
    """Everything a chunk of runs needs, picklable (sent as is to Dask workers)."""

    sessions: Sessions  # the lowered table
    pump: Pump
    variation: Variation
    seed: int
    n_sess: int
    drugs: list[str]
    refill_rows: list[int]
    hard: dict[str, float | None]
    ranges: dict[str, tuple[float, float]]  # histogram ranges by name
    grid: np.ndarray  # instants of the fan chart [s]


@dataclass
class ChunkSummary:
    """Counts and histogram counts of one chunk: sums of these are the whole result."""

    n: int
    n_empty: int
    n_before: list[int]
    n_over: dict[str, int]
    hist: dict[str, np.ndarray]

    def merge(self, other: ChunkSummary) -> ChunkSummary:
        """The sum of two chunks' counts.

        Parameters
        ----------
        other : ChunkSummary
            Counts of other runs [runs], the same histograms.

        Returns
        -------
        ChunkSummary
            Every count [runs] and histogram count [runs per bin] summed.
        """
        return ChunkSummary(self.n + other.n, self.n_empty + other.n_empty,
                            [a + b for a, b in zip(self.n_before, other.n_before, strict=True)],
                            {d: self.n_over[d] + other.n_over[d] for d in self.n_over},
                            {k: self.hist[k] + other.hist[k] for k in self.hist})


def new_outputs(plan: Plan, n: int) -> Outputs:
    """Empty per-run outputs for ``n`` runs (``kernels/montecarlo.Outputs``).

    Parameters
    ----------
    plan : Plan
        The lowered table (instants [s], volumes [mL], rates [mL/s]), the variability, the seed,
        the hard limits [dose unit/day] and the histogram ranges (see :func:`make_plan`).
    n : int
        Runs [runs].

    Returns
    -------
    Outputs
        Buffers, one row per run: ``factor`` [-], ``empty`` and ``low`` instants [s], ``max24``
        [dose unit], ``residual`` [mL] (NaN), ``dry`` flags (0), ``fan`` [mL].
    """
    return Outputs(np.empty(n), np.empty(n), np.empty(n), np.empty((n, len(plan.drugs))),
                   np.full((n, plan.n_sess), np.nan), np.zeros((n, plan.n_sess + 1), np.int8),
                   np.empty((n, len(plan.grid))))


def default_threads() -> int:
    """Threads of this process for the runs: ``NUMBA_NUM_THREADS`` if set, else the usable cores.

    Returns
    -------
    int
        Threads [count], at least 1.
    """
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def per_run(plan: Plan, first: int, n: int, threads: int | None = None) -> Outputs:
    """The per-run numbers of runs first .. first + n - 1, named as ``kernels/montecarlo.Outputs`` says.

    The runs are cut into one block per thread; each block is one call of the compiled
    ``run_block``, which releases the GIL. The blocks change nothing in the numbers: each run
    draws from its own xoshiro256** stream [1]_ seeded by SplitMix64 [2]_ from (seed, run),
    exponential gaps by the ziggurat [3]_ (``kernels/rng.py``).

    Parameters
    ----------
    plan : Plan
        The lowered table (instants [s], volumes [mL], rates [mL/s]), the variability, the seed,
        the hard limits [dose unit/day] and the histogram ranges (see :func:`make_plan`).
    first : int
        Index of the first run [runs].
    n : int
        Runs [runs].
    threads : int or None
        Threads [count]; None: :func:`default_threads`.

    Returns
    -------
    Outputs
        One row per run: accuracy ``factor`` [-], first ``empty`` and ``low`` instants [s] (NaN:
        never), ``max24`` per drug [dose unit, mg or mcg], ``residual`` volume before each refill
        [mL] (NaN: not reached), ``dry`` flags per refill period, ``fan`` volumes at the grid [mL].

    References
    ----------
    .. [1] D. Blackman and S. Vigna, "Scrambled linear pseudorandom number generators", ACM
       Transactions on Mathematical Software 47(4), article 36, 2021 (xoshiro256**).
    .. [2] G. L. Steele Jr., D. Lea and C. H. Flood, "Fast splittable pseudorandom number
       generators", Proceedings of OOPSLA 2014, ACM SIGPLAN Notices 49(10):453-472, 2014
       (SplitMix64).
    .. [3] G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating Random Variables",
       Journal of Statistical Software 5(8), 2000.
    """
    from pumpsim.kernels.montecarlo import run_block
    from pumpsim.sim import compiling

    compiling.ensure(plan)  # the first run after an install compiles on two cores
    out = new_outputs(plan, n)
    blocks = max(1, min(n, threads or default_threads()))
    cuts = [(n * b) // blocks for b in range(blocks + 1)]

    def block(b: int) -> None:
        """Compute the runs of block ``b`` into ``out``.

        Parameters
        ----------
        b : int
            Index of the block [-], 0 <= b < blocks: runs first + cuts[b] .. first + cuts[b + 1] - 1.
        """
        run_block(first, cuts[b], cuts[b + 1], plan.seed, plan.sessions, plan.pump, plan.variation, plan.grid, out)

    if blocks == 1:
        block(0)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(blocks) as pool:
            for _ in pool.map(block, range(blocks)):
                pass
    return out


def run_summary(plan: Plan, first: int, n: int, threads: int | None = None) -> ChunkSummary:
    """Runs first .. first + n - 1 folded into counts (on ``threads`` threads of this process).

    Parameters
    ----------
    plan : Plan
        The lowered table (instants [s], volumes [mL], rates [mL/s]), the variability, the seed,
        the hard limits [dose unit/day] and the histogram ranges (see :func:`make_plan`).
    first : int
        Index of the first run [runs].
    n : int
        Runs [runs].
    threads : int or None
        Threads [count]; None: :func:`default_threads`.

    Returns
    -------
    ChunkSummary
        Runs [runs], runs that ran dry [runs], runs dry before each refill [runs], runs over each
        drug's hard limit [runs], and histogram counts [runs per bin] by name.
    """
    return summarize(plan, per_run(plan, first, n, threads))


def summarize(plan: Plan, o: Outputs) -> ChunkSummary:
    """Fold the per-run numbers of a chunk into counts and histogram counts.

    A run is over a drug's hard limit when its maximum 24 h dose exceeds the limit by more than
    the relative tolerance ``RTOL``.

    Parameters
    ----------
    plan : Plan
        The lowered table (instants [s], volumes [mL], rates [mL/s]), the variability, the seed,
        the hard limits [dose unit/day] and the histogram ranges (see :func:`make_plan`).
    o : Outputs
        Per-run numbers: ``factor`` [-], ``empty`` and ``low`` [s], ``max24`` [dose unit],
        ``residual`` [mL], ``dry`` flags, ``fan`` [mL].

    Returns
    -------
    ChunkSummary
        Runs [runs], runs that ran dry [runs], runs dry before each refill [runs], runs over each
        drug's hard limit [runs], and histogram counts [runs per bin] by name.
    """
    hist = {}

    def add(name: str, x: np.ndarray) -> None:
        """Count ``x`` into the histogram ``name`` over ``plan.ranges[name]``.

        Parameters
        ----------
        name : str
            The histogram (``time_to_empty`` [s], ``factor`` [-], ``max24:DRUG`` [dose unit],
            ``residual:ROW`` [mL]).
        x : numpy.ndarray
            One value per run in that unit; NaN: none.
        """
        h = Histogram(*plan.ranges[name])
        h.add(x)
        hist[name] = h.counts

    add("time_to_empty", o.empty)
    add("factor", o.factor)
    n_over = {}
    for j, d in enumerate(plan.drugs):
        add(f"max24:{d}", o.max24[:, j])
        lim = plan.hard[d]
        n_over[d] = 0 if lim is None else int(np.sum(o.max24[:, j] > lim * (1.0 + RTOL)))
    for i in plan.refill_rows:
        add(f"residual:{i}", o.residual[:, i])
    hist["fan"] = fan_counts(o.fan, *plan.ranges["fan"])
    return ChunkSummary(len(o.factor), int(np.sum(~np.isnan(o.empty))),
                        [int(o.dry[:, i].sum()) for i in plan.refill_rows], n_over, hist)


def draw_run(plan: Plan, run: int) -> Scenario:
    """The conditions of one run, drawn by the kernels' own routine (``kernels/draws.py``), as a :class:`Scenario`.

    For the reference engine: the same draws as the kernel's run, from the run's own
    xoshiro256** stream [1]_ seeded by SplitMix64 [2]_ (exponential gaps by the ziggurat [3]_,
    normal draws by Box-Muller [4]_).

    Parameters
    ----------
    plan : Plan
        The lowered table (instants [s], volumes [mL], rates [mL/s]), the variability, the seed,
        the hard limits [dose unit/day] and the histogram ranges (see :func:`make_plan`).
    run : int
        Index of the run [runs].

    Returns
    -------
    Scenario
        Accuracy factor of the first session [-], bolus mode (``"requests"`` when the table
        draws requests) and request instants [s], session delays [s], modifiers (start [s],
        end [s], factor [-]), skipped sessions, per-session accuracy factors [-] when drawn
        per refill.

    References
    ----------
    .. [1] D. Blackman and S. Vigna, "Scrambled linear pseudorandom number generators", ACM
       Transactions on Mathematical Software 47(4), article 36, 2021 (xoshiro256**).
    .. [2] G. L. Steele Jr., D. Lea and C. H. Flood, "Fast splittable pseudorandom number
       generators", Proceedings of OOPSLA 2014, ACM SIGPLAN Notices 49(10):453-472, 2014
       (SplitMix64).
    .. [3] G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating Random Variables",
       Journal of Statistical Software 5(8), 2000.
    .. [4] G. E. P. Box and M. E. Muller, "A note on the generation of random normal deviates",
       Annals of Mathematical Statistics 29(2):610-611, 1958.
    """
    from pumpsim.kernels.draws import draw_conditions

    c = draw_conditions(plan.seed, run, plan.sessions, plan.pump, plan.variation)
    mods = np.stack([c.mod_start, c.mod_end, c.mod_factor], axis=1) if len(c.mod_start) else None
    return Scenario(float(c.factor[0]), "requests" if plan.variation.req_rate > 0.0 else "none", c.requests,
                    c.t_eff - plan.sessions.t, mods, tuple(int(i) for i in np.flatnonzero(c.skip)),
                    c.factor.copy() if plan.variation.acc_per_refill else None)


def run_summary_reference(plan: Plan, table: Table, first: int, n: int) -> ChunkSummary:
    """The same chunk computed by the plain-Python reference engine (``simulate --engine reference``).

    Parameters
    ----------
    plan : Plan
        The lowered table (instants [s], volumes [mL], rates [mL/s]), the variability, the seed,
        the hard limits [dose unit/day] and the histogram ranges (see :func:`make_plan`).
    table : pumpsim.model.table.Table
        The table the plan was made of (instants [s], volumes [mL], rates [mL/day]).
    first : int
        Index of the first run [runs].
    n : int
        Runs [runs].

    Returns
    -------
    ChunkSummary
        Runs [runs], runs that ran dry [runs], runs dry before each refill [runs], runs over each
        drug's hard limit [runs], and histogram counts [runs per bin] by name.
    """
    from pumpsim.sim import reference
    from pumpsim.sim.events import EV_EMPTY

    o = new_outputs(plan, n)
    s_refill = plan.sessions.refill
    horizon = plan.pump.horizon
    for row in range(n):
        sc = draw_run(plan, first + row)
        eff = plan.sessions.t + sc.session_delays
        r = reference.simulate(table, sc)
        o.factor[row] = sc.accuracy_factor
        o.empty[row] = np.nan if r.empty_at is None else r.empty_at
        o.low[row] = np.nan if r.low_alarm_at is None else r.low_alarm_at
        o.fan[row] = sample_volume(r.t, r.volume_true, plan.grid)
        mx = reference.max_24h(r, table.horizon)
        for j, d in enumerate(plan.drugs):
            o.max24[row, j] = mx[d][0]
        refills = [i for i in range(1, plan.n_sess)
                   if s_refill[i] == 1 and i not in sc.skipped and eff[i] < horizon]
        for i in refills:
            k = int(np.searchsorted(r.t, eff[i], side="left"))
            if k < len(r.t):
                o.residual[row, i] = r.volume_true[k]
        for t_e in r.event_t[r.event_code == EV_EMPTY]:
            nxt = next((i for i in refills if eff[i] > t_e), plan.n_sess)
            o.dry[row, nxt] = 1
    return summarize(plan, o)


def make_plan(table: Table, profile: Profile, seed: int, worst_max: dict[str, float] | None) -> Plan:
    """Everything the runs need (:class:`Plan`): the lowered table, the draws, the limits and the histogram ranges.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table (instants [s], volumes [mL], rates [mL/day], concentrations [dose unit/mL])
        and its ``[variability]``.
    profile : pumpsim.model.table.Profile
        The drug profile: each drug's ``daily_hard`` limit on the 24 h dose [dose unit/day].
    seed : int
        Seed of the runs' random streams [-].
    worst_max : dict of str to float or None
        Drug -> maximum 24 h dose of the worst case [dose unit], the top of the ``max24``
        histograms (widened by 5 %, and by the ratio of a clip wider than the device's
        tolerance); None: simulated here.

    Returns
    -------
    Plan
        The lowered sessions and pump (instants [s], rates [mL/s]), the :class:`Variation`
        (rates [1/s], durations [s]), the seed, the sessions [count], the drugs, the refill rows,
        the hard limits [dose unit/day] (None: none), the histogram ranges (``time_to_empty`` [s],
        ``factor`` [-], ``max24:DRUG`` [dose unit], ``residual:ROW`` and ``fan`` [mL]) and the
        fan chart's grid [s].
    """
    var = variation(table)
    sess, pump = lower_table(table)
    n_sess = len(sess.t)
    drugs = table.drugs()
    refill_rows = [i for i in range(1, n_sess) if sess.refill[i] == 1 and sess.t[i] < pump.horizon]
    if worst_max is None:  # the histogram of 24 h doses spans up to the worst case
        from pumpsim.sim import engine

        worst = engine.simulate(table, Scenario.worst(float(table.device.accuracy.value)))
        worst_max = {d: m for d, (m, _) in engine.max_24h(worst, table.horizon).items()}
    # a clip wider than the device tolerance can exceed the worst case: widen by that ratio
    widen = (max(1.0, (1.0 + var.acc_mean + var.acc_clip) / (1.0 + float(table.device.accuracy.value)))
             if var.acc_on else 1.0)
    ranges: dict[str, tuple[float, float]] = {
        "time_to_empty": (0.0, float(table.horizon)),
        "factor": (1.0 - var.acc_clip, 1.0 + var.acc_clip) if var.acc_on else (0.0, 2.0),
    }
    for d in drugs:
        ranges[f"max24:{d}"] = (0.0, max(1e-9, worst_max.get(d, 0.0) * widen * 1.05))
    for i in refill_rows:
        ranges[f"residual:{i}"] = (0.0, float(table.device.reservoir.value))
    ranges["fan"] = (0.0, float(table.device.reservoir.value))
    hard = {}
    for d in drugs:
        lim = profile.limit(d, "daily_hard")
        hard[d] = None if lim is None else float(lim.value)
    return Plan(sess, pump, var, seed, n_sess, drugs, refill_rows, hard, ranges,
                np.linspace(0.0, float(pump.horizon), FAN_POINTS))


def _chunks(runs: int, chunk: int) -> list[tuple[int, int]]:
    return [(first, min(chunk, runs - first)) for first in range(0, runs, chunk)]


def run(table: Table, profile: Profile, runs: int | None = None, seed: int | None = None,
        workers: int | None = None, chunk: int = DEFAULT_CHUNK, progress=None,
        worst_max: dict[str, float] | None = None, dask: str | None = None, engine: str = "numba") -> MonteCarlo:
    """Run the Monte-Carlo simulation of ``table``; ``progress(done, total)`` is called per chunk.

    ``dask``: None (this machine, ``workers`` threads), ``"local"`` (a LocalCluster of worker
    processes) or the address of a Dask scheduler (``tcp://host:8786``); every worker must have
    pumpsim installed. The result is the same in all three cases for the same seed.
    ``engine="reference"`` computes every run with the plain-Python reference (same draws, same
    numbers, about a hundred times slower): a check of the kernel on any table. Each run draws
    from its own xoshiro256** stream [1]_ seeded by SplitMix64 [2]_ from (seed, run index),
    exponential gaps by the ziggurat [3]_.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table (instants [s], volumes [mL], rates [mL/day], concentrations [dose unit/mL])
        and its ``[variability]``.
    profile : pumpsim.model.table.Profile
        The drug profile: each drug's ``daily_hard`` limit on the 24 h dose [dose unit/day].
    runs : int or None
        Runs [runs]; None: the table's ``runs``, else ``DEFAULT_RUNS``.
    seed : int or None
        Seed [-]; None: the table's ``seed``, else ``DEFAULT_SEED``.
    workers : int or None
        Threads of this process [count], or worker processes of a local Dask cluster; None:
        :func:`default_threads` (2 for a local cluster).
    chunk : int
        Runs per chunk [runs].
    progress : callable or None
        ``progress(done, total)`` [runs], called after each chunk.
    worst_max : dict of str to float or None
        Drug -> maximum 24 h dose of the worst case [dose unit] (see :func:`make_plan`); None:
        simulated here.
    dask : str or None
        None, ``"local"`` or a scheduler address (above).
    engine : str
        ``"numba"`` (the kernel) or ``"reference"``.

    Returns
    -------
    MonteCarlo
        Runs [runs] and seed; the probability of running dry, before each refill (with its
        scheduled instant [s]) and over each drug's hard limit, as proportions [-] with 95 %
        Wilson intervals [4]_; histograms of the residual volume before each refill [mL], the
        time to empty [s], each drug's maximum 24 h dose [dose unit, mg or mcg] and the accuracy
        factor [-]; the fan chart of the true volume [mL] at instants [s].

    References
    ----------
    .. [1] D. Blackman and S. Vigna, "Scrambled linear pseudorandom number generators", ACM
       Transactions on Mathematical Software 47(4), article 36, 2021 (xoshiro256**).
    .. [2] G. L. Steele Jr., D. Lea and C. H. Flood, "Fast splittable pseudorandom number
       generators", Proceedings of OOPSLA 2014, ACM SIGPLAN Notices 49(10):453-472, 2014
       (SplitMix64).
    .. [3] G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating Random Variables",
       Journal of Statistical Software 5(8), 2000.
    .. [4] E. B. Wilson, "Probable inference, the law of succession, and statistical
       inference", Journal of the American Statistical Association 22(158):209-212, 1927.
    """
    var = table.variability
    runs = runs if runs is not None else (var.runs if var and var.runs else DEFAULT_RUNS)
    seed = seed if seed is not None else (var.seed if var and var.seed is not None else DEFAULT_SEED)
    plan = make_plan(table, profile, seed, worst_max)
    total: ChunkSummary | None = None
    if engine == "reference":
        for first, n in _chunks(runs, chunk):
            part = run_summary_reference(plan, table, first, n)
            total = part if total is None else total.merge(part)
            if progress is not None:
                progress(total.n, runs)
    elif dask is None:
        threads = max(1, workers) if workers is not None else default_threads()
        for first, n in _chunks(runs, chunk):
            part = run_summary(plan, first, n, threads)
            total = part if total is None else total.merge(part)
            if progress is not None:
                progress(total.n, runs)
    else:
        from pumpsim.sim.cluster import map_chunks

        run_summary(plan, 0, 1)  # compile (or load) the kernels here once, before fanning out
        for part in map_chunks(dask, run_summary, plan, _chunks(runs, chunk), workers):
            total = part if total is None else total.merge(part)
            if progress is not None:
                progress(total.n, runs)
    assert total is not None and total.n == runs

    def hist(name: str) -> Histogram:
        """The summed histogram ``name`` over ``plan.ranges[name]``.

        Parameters
        ----------
        name : str
            The histogram (``time_to_empty`` [s], ``factor`` [-], ``max24:DRUG`` [dose unit],
            ``residual:ROW`` [mL]).

        Returns
        -------
        Histogram
            Counts [runs per bin] over the range, in that unit.
        """
        return Histogram(*plan.ranges[name], counts=total.hist[name])

    low_t = plan.sessions.t
    return MonteCarlo(
        runs=runs, seed=seed, p_empty=Proportion(total.n_empty, runs),
        empty_before=[(i + 1, float(low_t[i]), Proportion(total.n_before[k], runs))
                      for k, i in enumerate(plan.refill_rows)],
        p_over_hard={d: Proportion(total.n_over[d], runs) for d in plan.drugs},
        residual={i + 1: hist(f"residual:{i}") for i in plan.refill_rows},
        time_to_empty=hist("time_to_empty"), max24={d: hist(f"max24:{d}") for d in plan.drugs},
        factor=hist("factor"), fan=FanData.of(plan.grid, total.hist["fan"], *plan.ranges["fan"]))
