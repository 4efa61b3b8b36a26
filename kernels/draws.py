"""The random draws of one Monte-Carlo run, compiled: the one place they are coded.

Run ``r`` of a simulation with seed ``s`` draws from its own stream (``kernels/rng.py``), so
its numbers depend on (s, r) only, never on the number of threads or the chunking. The
Monte-Carlo kernel calls :func:`draw_conditions` for every run; the plain-Python reference
path calls the same function through :mod:`pumpsim.montecarlo`, so both simulate the same
draws.

Draws of one run, in this order: the accuracy factor (normal, clipped), one delay per refill
session after the first (uniform, or discrete values with their probabilities), one
missed-refill trial per refill session after the first, the bolus request times (a Poisson
process, thinned by the wall-clock hour weights), the MRI stalls, the fever episodes (Poisson
starts, uniform lengths), and, when the accuracy varies per refill, one more factor per refill
session after the first. An episode that starts before the previous one ends is dropped, so
modifiers never overlap.

Units: seconds [s]; rates of Poisson processes per second [1/s]; the wall-clock day of the
hourly weights is ``Pump.day`` [s].

Nothing here can raise: no slice assignment (whose shape check would compile Numba's error
formatting) and no library sort (the episodes of a run are a handful: an insertion sort).
Every function compiled is compiled on the first run after an install, so none is added
lightly: arrays are made with ``np.empty`` and filled in a loop (``np.zeros`` and ``np.full``
would each compile one more function), and a gap of rate r is ``standard_exponential(s) / r``
written out.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from . import cache  # noqa: F401  (keys the compiled cache to the sources; before any kernel)
from .rng import exponential_box, exponential_edge, normal, standard_exponential, stream, uniform, uniform_words
from .structs import BOLUS_NONE, BOLUS_REQUESTS, Conditions

HOUR = 3600.0

#: The variability of a table (its ``[variability]`` with command-line overrides), lowered.
Variation = namedtuple("Variation", [
    "acc_on",  # bool: draw an accuracy factor
    "acc_mean", "acc_sd", "acc_clip",  # normal, clipped to +/- clip [fraction]
    "acc_per_refill",  # bool: a new factor at every refill (else one per run)
    "req_rate",  # bolus requests [1/s] (0: none)
    "hourly",  # (24,) relative weights of the wall-clock hours, mean 1
    "delay_on",  # bool
    "delay_low", "delay_high",  # uniform refill delay [s]
    "delay_values", "delay_cum",  # discrete delays [s] and cumulative probabilities (empty: uniform)
    "miss_p",  # probability that a refill visit is missed
    "stall_rate", "stall_low", "stall_high",  # MRI stalls [1/s], recovery uniform [s]
    "fever_rate", "fever_low", "fever_high", "fever_factor",  # fever episodes [1/s], [s], [-]
])


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def cap_delays(t, delays, out):
    """Effective session instants: scheduled plus delay, never past the next scheduled session
    (the first session is never delayed). One rule for drawn and given delays."""
    n = t.shape[0]
    out[0] = t[0]
    for i in range(1, n):
        e = t[i] + (delays[i] if delays[i] > 0.0 else 0.0)
        if i + 1 < n and e > t[i + 1]:
            e = t[i + 1]
        out[i] = e


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def draw_requests(s, rate, horizon, hourly, clock0, day_len):
    """Poisson request times on [0, horizon) [s], sorted.

    Parameters
    ----------
    s : numpy.ndarray
        The run's stream (``kernels/rng.py``), advanced in place.
    rate : float
        Mean rate of requests [1/s].
    horizon : float
        End of the horizon [s].
    hourly : numpy.ndarray
        (24,) relative weights of the wall-clock hours, mean 1: the rate is ``rate x hourly[h]``
        in hour h (thinning of a process at the peak rate).
    clock0 : float
        Wall-clock time of t = 0 [s after midnight].
    day_len : float
        Length of a day [s].

    Returns
    -------
    numpy.ndarray
        The request instants [s], sorted.
    """
    peak = 0.0
    low = np.inf
    for h in range(24):
        if hourly[h] > peak:
            peak = hourly[h]
        if hourly[h] < low:
            low = hourly[h]
    flat = low == peak  # every hour alike: no thinning, no draw for it
    r = rate * peak
    cap = int(r * horizon + 10.0 * np.sqrt(r * horizon + 1.0) + 16.0)
    out = np.empty(cap)
    n = 0
    # the state in four locals for the thousand draws (the numbers of standard_exponential() and
    # uniform() on the array, in the same order), stored back at the end
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    t = 0.0
    first = True
    while True:
        x, ok, idx, s0, s1, s2, s3 = exponential_box(s0, s1, s2, s3)
        if not ok:
            s[0] = s0
            s[1] = s1
            s[2] = s2
            s[3] = s3
            x, ok = exponential_edge(s, idx, x)
            if not ok:
                x = standard_exponential(s)  # a fresh integer, as the ziggurat does
            s0 = s[0]
            s1 = s[1]
            s2 = s[2]
            s3 = s[3]
        t = x / r if first else t + x / r
        first = False
        if not (t < horizon):
            break
        keep = flat
        if not flat:
            y = (clock0 + t) * (1.0 / day_len)
            h = int((y - np.floor(y)) * 24.0)  # the wall-clock hour
            if h > 23:
                h = 23
            u, s0, s1, s2, s3 = uniform_words(s0, s1, s2, s3)
            keep = u * peak < hourly[h]
        if keep:
            if n == out.shape[0]:
                bigger = np.empty(2 * out.shape[0])
                for i in range(n):
                    bigger[i] = out[i]
                out = bigger
            out[n] = t
            n += 1
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    return out[:n]


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def draw_episodes(s, rate, low, high, factor, horizon, starts, ends, factors, n):
    """Append Poisson episodes on [0, horizon) of uniform length to the modifier rows."""
    if rate <= 0.0:
        return n
    t = standard_exponential(s) / rate
    while t < horizon:
        length = low + (high - low) * uniform(s)
        if n < starts.shape[0]:
            starts[n] = t
            ends[n] = t + length
            factors[n] = factor
            n += 1
        t += standard_exponential(s) / rate
    return n


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def merge_episodes(starts, ends, factors, n):
    """Sort episodes by start (stable); one starting before the previous ends is dropped (no
    overlap)."""
    order = np.empty(n, np.int64)
    for i in range(n):  # insertion sort: a run has a handful of episodes
        order[i] = i
        a = i
        while a > 0 and starts[order[a - 1]] > starts[i]:
            order[a] = order[a - 1]
            a -= 1
        order[a] = i
    ms = np.empty(n)
    me = np.empty(n)
    mf = np.empty(n)
    k = 0
    last_end = -np.inf
    for i in order:
        if starts[i] >= last_end:
            ms[k] = starts[i]
            me[k] = ends[i]
            mf[k] = factors[i]
            last_end = ends[i]
            k += 1
    return ms[:k], me[:k], mf[:k]


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def draw_factor(s, var):
    x = var.acc_mean + var.acc_sd * normal(s)
    if x > var.acc_clip:
        x = var.acc_clip
    elif x < -var.acc_clip:
        x = -var.acc_clip
    return 1.0 + x


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def draw_delay(s, var):
    """One refill delay [s] from the stream ``s``: uniform on [delay_low, delay_high], or one of
    ``delay_values`` with the cumulative probabilities ``delay_cum`` [-]. One uniform draw."""
    u = uniform(s)
    nv = var.delay_values.shape[0]
    if nv == 0:  # uniform on [low, high]
        return var.delay_low + (var.delay_high - var.delay_low) * u
    j = 0  # discrete: values with cumulative probabilities
    while j + 1 < nv and u >= var.delay_cum[j]:
        j += 1
    return var.delay_values[j]


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def draw_refill_delays(seed, first_run, n, k, var):
    """``k`` refill delays for each of ``n`` runs, run ``first_run + r`` from its own stream.

    Parameters
    ----------
    seed : int
        The simulation seed [-].
    first_run : int
        The stream index of the first run [-] (a caller keeps its own range of streams).
    n, k : int
        Runs, and delays per run [-].
    var : Variation
        The lowered variability (delays [s]).

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` delays [s]; zeros when the variability draws no delay.
    """
    out = np.zeros((n, k))
    if not var.delay_on:
        return out
    for r in range(n):
        s = stream(seed, first_run + r)
        for j in range(k):
            out[r, j] = draw_delay(s, var)
    return out


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def draw_conditions(seed, run, sess, pump, var):
    """The conditions of run ``run``: session instants, missed visits, accuracy factors,
    bolus requests and outflow modifiers.

    Parameters
    ----------
    seed, run : int
        The stream of the run (``kernels/rng.py``): its numbers depend on these two only [-].
    sess, pump : Sessions, Pump
        The lowered table (``kernels/structs.py``; instants [s], the day ``pump.day`` [s]).
    var : Variation
        The lowered variability (durations [s], Poisson rates [1/s], probabilities [-]).

    Returns
    -------
    Conditions
        Effective session instants [s], skipped sessions, accuracy factor from each session on
        [-], the bolus mode and request instants [s], the outflow modifiers ([s], [s], [-]).
    """
    s = stream(seed, run)
    n = sess.t.shape[0]
    horizon = pump.horizon
    f0 = draw_factor(s, var) if var.acc_on else 1.0
    # np.empty and a loop, not np.zeros or np.full (see the module text)
    delays = np.empty(n)
    skip = np.empty(n, np.int64)
    factor = np.empty(n)
    for i in range(n):
        delays[i] = 0.0
        skip[i] = 0
        factor[i] = f0
    if var.delay_on:
        for i in range(1, n):
            if sess.refill[i] == 1:
                delays[i] = draw_delay(s, var)
    t_eff = np.empty(n)
    cap_delays(sess.t, delays, t_eff)
    if var.miss_p > 0.0:
        for i in range(1, n):
            if sess.refill[i] == 1 and uniform(s) < var.miss_p:
                skip[i] = 1
    mode = BOLUS_NONE
    if var.req_rate > 0.0:
        requests = draw_requests(s, var.req_rate, horizon, var.hourly, pump.clock0, pump.day)
        mode = BOLUS_REQUESTS
    else:
        requests = np.empty(0)
    cap_mod = 16 + int(4.0 * (var.stall_rate + var.fever_rate) * horizon)
    m_s = np.empty(cap_mod)
    m_e = np.empty(cap_mod)
    m_f = np.empty(cap_mod)
    # np.int64(0), not the literal 0: one compiled version of draw_episodes, not two
    n_mod = draw_episodes(s, var.stall_rate, var.stall_low, var.stall_high, 0.0, horizon, m_s, m_e, m_f, np.int64(0))
    n_mod = draw_episodes(s, var.fever_rate, var.fever_low, var.fever_high, var.fever_factor, horizon,
                          m_s, m_e, m_f, n_mod)
    mod_start, mod_end, mod_factor = merge_episodes(m_s, m_e, m_f, n_mod)
    if var.acc_on and var.acc_per_refill:
        f = f0
        for i in range(1, n):
            if sess.refill[i] == 1:
                f = draw_factor(s, var)  # drawn for every refill, missed or not: streams stay aligned
                if skip[i] == 1:
                    f = factor[i - 1]
            factor[i] = f
    return Conditions(t_eff, skip, factor, mode, requests, mod_start, mod_end, mod_factor)
