"""The pooled sequential test of a group of pumps (docs/FLEET.md §2).

Model: the log delivery ratio of pump i's j-th refill interval is x_ij = b_i + e_ij, with the
pump's own mean b_i ~ N(0, tau^2) (a random effect: each pump is allowed its own bias) and the
per-refill spread e_ij ~ N(0, sigma^2). Given the pump's earlier refills (n of them, sum S),
its next ratio is predicted with mean m = (S / sigma^2) / P and variance sigma^2 + 1 / P, where
P = 1 / tau^2 + n / sigma^2 (the normal-normal posterior). Its standardized innovation

    z_ij = (x_ij - m) / sqrt(sigma^2 + 1 / P)

is N(0, 1) and independent of every earlier z of any pump while the model holds (the prediction
error decomposition): pooled in date order, a group's innovations are one N(0, 1) stream, and a
device problem shared by the group's pumps from some date shifts it. A two-sided CUSUM (Page
1954) on that stream, U = max(0, U + z - k), L = max(0, L - z - k), signals when either side
passes h. A pump's constant bias is learnt by its own mean and does not accumulate; a change
common to many pumps does, about n_pumps times faster than on one pump's record.

The signal's onset estimate is the last refill before the signal at which the signalling side
was 0 (the CUSUM's change-point estimate). mean_ratio is the geometric mean of the group's
per-refill ratios; its 95 % interval is from the cluster-robust variance of the mean (pumps as
clusters), which does not rely on sigma or tau.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import statistics
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from pumpsim.model.table import Sourced

Z95 = 1.959963984540054  # the two-sided 95 % normal quantile (a statistical constant, not a limit)


@dataclass(frozen=True)
class Parameters:
    sigma: Sourced  # per-refill sd of ln(ratio)
    tau: Sourced  # between-pump sd of the mean ln(ratio)
    k: Sourced  # CUSUM reference value [sd]
    h: Sourced  # CUSUM decision threshold [sd]


@functools.cache
def fleet_data() -> dict:
    """``data/fleet.toml`` as parsed TOML."""
    return tomllib.loads(resources.files("pumpsim.data").joinpath("fleet.toml").read_text(encoding="utf-8"))


def _sourced(e: dict) -> Sourced:
    return Sourced(float(e["value"]), e["source"], bool(e["verified"]), str(e["value"]))


def parameters(sigma: Sourced) -> Parameters:
    """The group test's parameters: ``sigma`` from the telemetry data, the rest from ``data/fleet.toml``."""
    d = fleet_data()
    return Parameters(sigma, _sourced(d["between_pump_sd"]), _sourced(d["group_reference"]), _sourced(d["group_threshold"]))


@dataclass
class GroupResult:
    by: str
    value: str
    model: str
    pumps: int
    refills: int
    mean_ratio: float | None
    ci95: tuple[float, float] | None
    signal: bool
    signal_at: dt.datetime | None
    onset: dt.datetime | None  # the CUSUM's change-point estimate (last zero of the signalling side)
    direction: str | None  # "over" | "under"
    statistic: float  # the signalling side at the signal, else the largest value either side reached
    threshold: float
    cycle_days: float | None  # the group's median refill interval
    at: list[dt.datetime] = field(default_factory=list)  # per refill, date order (for the figure)
    x: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)


def innovations(refills: list[tuple[dt.datetime, str, float]], sigma: float, tau: float) -> list[float]:
    """Standardized innovations of (time, pump, ln ratio) rows already in date order."""
    s2, prior = sigma * sigma, 1.0 / (tau * tau)
    n: dict[str, int] = {}
    tot: dict[str, float] = {}
    out = []
    for _, pump, x in refills:
        k, s = n.get(pump, 0), tot.get(pump, 0.0)
        prec = prior + k / s2
        m = (s / s2) / prec
        out.append((x - m) / math.sqrt(s2 + 1.0 / prec))
        n[pump], tot[pump] = k + 1, s + x
    return out


def cusum(z: list[float], k: float, h: float) -> tuple[list[float], list[float], int | None]:
    """The two-sided CUSUM of ``z``: (upper, lower, index of the first crossing of h or None).
    The statistic runs on after the first crossing (for the figure); the signal is the first."""
    up = lo = 0.0
    ups, los, first = [], [], None
    for i, v in enumerate(z):
        up, lo = max(0.0, up + v - k), max(0.0, lo - v - k)
        ups.append(up)
        los.append(lo)
        if first is None and (up > h or lo > h):
            first = i
    return ups, los, first


def judge_group(by: str, value: str, model: str, rows: list[tuple[dt.datetime, str, float, float]],
               params: Parameters) -> GroupResult:
    """Judge one group from its pumps' (end of interval, pump, ln ratio, interval days) rows."""
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    k, h = float(params.k.value), float(params.h.value)
    z = innovations([(r[0], r[1], r[2]) for r in rows], float(params.sigma.value), float(params.tau.value))
    up, lo, first = cusum(z, k, h)
    pumps = sorted({r[1] for r in rows})
    res = GroupResult(by, value, model, len(pumps), len(rows), None, None, False, None, None, None,
                      max(max(up, default=0.0), max(lo, default=0.0)), h, None,
                      [r[0] for r in rows], [r[2] for r in rows], up, lo)
    if rows:
        xs = [r[2] for r in rows]
        mean = sum(xs) / len(xs)
        res.mean_ratio = math.exp(mean)
        res.ci95 = _ci(rows, mean)
        res.cycle_days = statistics.median(r[3] for r in rows)
    if first is not None:
        side = up if up[first] > h else lo
        start = first
        while start > 0 and side[start - 1] > 0.0:
            start -= 1
        res.signal, res.signal_at, res.onset = True, rows[first][0], rows[start][0]
        res.direction = "over" if side is up else "under"
        res.statistic = side[first]
    return res


def _ci(rows: list[tuple[dt.datetime, str, float, float]], mean: float) -> tuple[float, float]:
    """95 % interval of the geometric mean ratio, cluster-robust with pumps as clusters."""
    n = len(rows)
    per: dict[str, float] = {}
    for r in rows:
        per[r[1]] = per.get(r[1], 0.0) + (r[2] - mean)
    g = len(per)
    if g > 1:
        var = sum(v * v for v in per.values()) / (n * n) * g / (g - 1)
    elif n > 1:
        var = sum((r[2] - mean) ** 2 for r in rows) / (n * (n - 1))
    else:
        return (math.exp(mean), math.exp(mean))
    half = Z95 * math.sqrt(var)
    return (math.exp(mean - half), math.exp(mean + half))
