"""Monte-Carlo statistics: the estimates of ``simulate`` and what they are exact to.

A proportion p of n runs comes with its 95 % Wilson score interval (:func:`wilson`). Quantiles
are read from histograms of ``HIST_BINS`` bins over a known range (reservoir volume, horizon, the
worst-case 24 h dose), so they are exact to one bin width (documented in the report). The fan
chart of the reservoir folds each run's true volume at FAN_POINTS instants into a histogram of
FAN_BINS bins per instant; its 5/25/50/75/95 % quantiles are the bands.

Nothing here runs a simulation (:mod:`pumpsim.sim.montecarlo`) or writes words
(:mod:`pumpsim.render.montecarlo`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY

HIST_BINS = 4000
FAN_BINS = 500  # volume bins of the fan chart over [0, reservoir] (0.04 mL for 20 mL)
QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)
Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion [1]_, 95 % by default.

    Parameters
    ----------
    k : int
        Runs in which the event happened [runs] (a count, 0 <= k <= n).
    n : int
        Runs in all [runs] (a count); 0 gives the uninformative interval (0, 1).
    z : float
        Two-sided standard normal quantile of the confidence level [-] (dimensionless;
        1.96 for 95 %).

    Returns
    -------
    (lo, hi) : tuple of float
        Bounds of the proportion [-] (fractions of runs, in [0, 1]); exactly 0 when k = 0 and
        exactly 1 when k = n, so that rounding never invents a risk.

    Notes
    -----
    The same numbers as ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` (a test
    compares them to 1e-12); written out because importing ``scipy.stats`` costs about a second
    at every ``pumpsim simulate``.

    References
    ----------
    .. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical
       inference", Journal of the American Statistical Association 22(158):209-212, 1927.
    """
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends: rounding must not invent a risk
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


@dataclass
class Histogram:
    """Counts over [lo, hi] in len(counts) bins, HIST_BINS by default (values outside are
    clamped to the end bins)."""

    lo: float
    hi: float
    counts: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, np.int64))

    def add(self, x: np.ndarray) -> None:
        """Count the values ``x`` into the bins (NaN ignored; values outside clamped to the end bins).

        Parameters
        ----------
        x : numpy.ndarray
            Values in the histogram's unit: [s], [mL], [dose unit] or [-] (time to empty [s], residual volume
            [mL], 24 h dose [dose unit], accuracy factor [-]); NaN: no value (e.g. never empty).
        """
        x = x[~np.isnan(x)]
        if x.size == 0:
            return
        bins = self.counts.shape[0]
        width = (self.hi - self.lo) / bins if self.hi > self.lo else 1.0
        idx = np.clip(((x - self.lo) / width).astype(np.int64), 0, bins - 1)
        self.counts += np.bincount(idx, minlength=bins)

    @property
    def n(self) -> int:
        """The number of values counted.

        Returns
        -------
        int
            Values counted in all bins [runs].
        """
        return int(self.counts.sum())

    @property
    def bin_width(self) -> float:
        """The width of a bin: each quantile is exact to it.

        Returns
        -------
        float
            (hi - lo) / bins, in the histogram's unit: [s], [mL], [dose unit] or [-].
        """
        return (self.hi - self.lo) / self.counts.shape[0]

    def quantile(self, q: float) -> float | None:
        """The q-quantile, interpolated inside its bin; None without values.

        Parameters
        ----------
        q : float
            The quantile's level [-], in [0, 1] (0.5: the median).

        Returns
        -------
        float or None
            The quantile in the histogram's unit: [s], [mL], [dose unit] or [-], exact to
            :attr:`bin_width`; None when no value was counted.
        """
        n = self.n
        if n == 0:
            return None
        cum = np.cumsum(self.counts)
        target = q * n
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, self.counts.shape[0] - 1)
        before = cum[i - 1] if i else 0
        inside = self.counts[i]
        frac = (target - before) / inside if inside else 0.0
        return self.lo + (i + min(max(frac, 0.0), 1.0)) * self.bin_width


@dataclass
class Proportion:
    """k of n runs [runs]: a proportion and its 95 % Wilson interval."""

    k: int
    n: int

    @property
    def p(self) -> float:
        """The proportion k / n (0 with no run).

        Returns
        -------
        float
            The fraction of runs [-], in [0, 1].
        """
        return self.k / self.n if self.n else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        """The 95 % Wilson score interval of the proportion (:func:`wilson`) [1]_.

        Returns
        -------
        (lo, hi) : tuple of float
            Bounds of the proportion [-], in [0, 1].

        References
        ----------
        .. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical
           inference", Journal of the American Statistical Association 22(158):209-212, 1927.
        """
        return wilson(self.k, self.n)

    def as_json(self) -> dict:
        """The proportion as a JSON object.

        Returns
        -------
        dict
            ``p`` (fraction of runs [-]), ``ci95`` ([lo, hi], its 95 % Wilson interval [-]) and
            ``runs`` (n [runs]).
        """
        lo, hi = self.ci
        return {"p": self.p, "ci95": [lo, hi], "runs": self.n}


@dataclass
class FanData:
    """The true reservoir volume over the runs at a grid of instants (the fan chart)."""

    t: np.ndarray  # the grid: FAN_POINTS instants evenly over [0, horizon] [s]
    counts: np.ndarray  # (instants, FAN_BINS) runs per volume bin over [lo, hi]
    lo: float  # [mL]
    hi: float  # [mL], the reservoir's capacity
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)  # QUANTILES -> volume at each instant [mL]

    @staticmethod
    def of(t: np.ndarray, counts: np.ndarray, lo: float, hi: float) -> FanData:
        """The fan chart of the counts, with the volume at each instant for every level of ``QUANTILES``.

        Parameters
        ----------
        t : numpy.ndarray, shape (instants,)
            The grid: instants [s since the table's first session].
        counts : numpy.ndarray, shape (instants, FAN_BINS)
            Runs per volume bin at each instant [runs] (:func:`fan_counts`).
        lo, hi : float
            The range of the volume bins [mL] (hi: the reservoir's capacity).

        Returns
        -------
        FanData
            The data, with ``quantiles``: level [-] -> true volume at each instant [mL].
        """
        fan = FanData(t, counts, lo, hi)
        rows = [Histogram(lo, hi, counts=c) for c in counts]
        fan.quantiles = {q: np.array([h.quantile(q) for h in rows], dtype=np.float64) for q in QUANTILES}
        return fan

    @property
    def resolution(self) -> float:
        """The width of a volume bin [mL]: each quantile is exact to it.

        Returns
        -------
        float
            (hi - lo) / FAN_BINS [mL].
        """
        return (self.hi - self.lo) / self.counts.shape[1]


def fan_counts(out_fan: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Runs x instants of volumes folded into (instants, FAN_BINS) counts over [lo, hi].

    Values outside are clamped to the end bins, as ``Histogram.add`` does.

    Parameters
    ----------
    out_fan : numpy.ndarray, shape (runs, instants)
        True reservoir volume of each run at each instant of the grid [mL].
    lo, hi : float
        The range of the volume bins [mL] (0 and the reservoir's capacity).

    Returns
    -------
    numpy.ndarray, shape (instants, FAN_BINS), int64
        Runs per volume bin at each instant [runs].
    """
    from pumpsim.kernels.montecarlo import fold_grid

    counts = np.zeros((out_fan.shape[1], FAN_BINS), np.int64)
    fold_grid(np.ascontiguousarray(out_fan, dtype=np.float64), float(lo), float(hi), counts)
    return counts


@dataclass
class MonteCarlo:
    """What ``simulate`` estimated."""

    runs: int
    seed: int
    p_empty: Proportion
    empty_before: list[tuple[int, float, Proportion]]  # (session index, scheduled instant [s], P(dry in the period before it))
    p_over_hard: dict[str, Proportion]
    residual: dict[int, Histogram]  # session index -> volume left just before that refill [mL]
    time_to_empty: Histogram  # [s], runs that ran dry
    max24: dict[str, Histogram]  # drug -> max rolling 24 h dose [dose unit]
    factor: Histogram
    fan: FanData | None = None  # the true volume over time (not in the risk JSON)

    def risk_json(self, table: Table) -> dict:
        """The ``risk`` object of FORMAT.md §3, extended with intervals and distributions.

        Parameters
        ----------
        table : pumpsim.model.table.Table
            The table simulated: its session instants [s] are written as ISO date-times.

        Returns
        -------
        dict
            Proportions [fraction of runs, -] with their 95 % Wilson intervals [-] [1]_,
            instants as ISO date-times, residual volumes before each refill [mL], the time to
            empty [day] and the 24 h maxima [dose unit, mg or mcg] as quantiles (p05 ... p95,
            with the runs counted and the resolution, one bin width, in the same unit).

        References
        ----------
        .. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical
           inference", Journal of the American Statistical Association 22(158):209-212, 1927.
        """
        def qs(h: Histogram, scale: float = 1.0) -> dict | None:
            """The quantiles of a histogram as a JSON object, divided by ``scale``.

            Parameters
            ----------
            h : Histogram
                Counts in [s], [mL] or [dose unit].
            scale : float
                Divisor of the values (``DAY`` [s/day] turns seconds into days; 1: unchanged).

            Returns
            -------
            dict or None
                ``p05`` ... ``p95`` [the histogram's unit / scale], ``runs`` [runs],
                ``resolution`` (one bin width [the histogram's unit / scale]); None without values.
            """
            if h.n == 0:
                return None
            return ({f"p{int(q * 100):02d}": h.quantile(q) / scale for q in QUANTILES}
                    | {"runs": h.n, "resolution": h.bin_width / scale})

        return {
            "runs": self.runs,
            "seed": self.seed,
            "p_empty": self.p_empty.p,
            "p_over_hard_limit": {d: pr.p for d, pr in self.p_over_hard.items()},
            "p_empty_ci95": list(self.p_empty.ci),
            "p_over_hard_limit_ci95": {d: list(pr.ci) for d, pr in self.p_over_hard.items()},
            "empty_before_refill": [{"session": s, "refill_at": table.iso(t), "p": pr.p, "ci95": list(pr.ci)}
                                    for s, t, pr in self.empty_before],
            "reservoir_before_refill_mL": [{"session": s, "refill_at": table.iso(table.sessions[s - 1].t),
                                            "quantiles": qs(h)} for s, h in self.residual.items()],
            "time_to_empty_days": qs(self.time_to_empty, DAY),
            "max_24h_dose": {d: qs(h) for d, h in self.max24.items()},
        }
