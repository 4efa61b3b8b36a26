"""Monte-Carlo runs of one table: each run draws its own numbers (``kernels/rng.py``, keyed by
the seed and the run's index) and is simulated by ``kernels/pump.py``; runs are spread over the
cores with ``prange``. A run's numbers depend on (seed, run index) only, never on the number
of threads or the chunking.

Per run the kernel keeps a handful of numbers, not trajectories: the accuracy factor drawn,
the first empty and low-alarm instants, which refills the pump ran dry before, each
drug's exact maximum over rolling 24 h windows, the true volume left in the reservoir just
before each refill, and the true volume at a fixed grid of instants (``sample_grid``: the fan
chart of the reservoir, a few hundred numbers a run, folded into histograms per chunk).

Draws of one run, in this order: the accuracy factor (normal, clipped), one delay per refill
session after the first (uniform, or discrete values with their probabilities), one missed-refill trial per refill session after the first,
the bolus request times (a Poisson process, thinned by the wall-clock hour weights), the MRI
stalls, then the fever episodes (Poisson starts, uniform lengths). An episode that starts before
the previous one ends is dropped, so modifiers never overlap.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .pump import BOLUS_NONE, BOLUS_REQUESTS, EV_EMPTY, OK, simulate_pump
from .rng import exponential, normal, stream, uniform
from .window import max_window_sweep_columns


@njit(cache=True)
def draw_requests(s, per_day, horizon, hourly, clock0):
    """Poisson request times on [0, horizon), sorted. ``hourly`` (24 weights, mean 1) makes the
    rate per_day x hourly[h] in wall-clock hour h (thinning of a process at the peak rate)."""
    peak = 0.0
    for h in range(24):
        if hourly[h] > peak:
            peak = hourly[h]
    rate = per_day * peak
    cap = int(rate * horizon + 10.0 * np.sqrt(rate * horizon + 1.0) + 16.0)
    out = np.empty(cap)
    n = 0
    t = exponential(s, rate)
    while t < horizon:
        y = clock0 + t
        h = int((y - np.floor(y)) * 24.0)
        if h > 23:
            h = 23
        if uniform(s) * peak < hourly[h]:
            if n == out.shape[0]:
                bigger = np.empty(2 * out.shape[0])
                bigger[:n] = out[:n]
                out = bigger
            out[n] = t
            n += 1
        t += exponential(s, rate)
    return out[:n]


@njit(cache=True)
def draw_episodes(s, per_day, low, high, factor, horizon, starts, ends, factors, n):
    """Append Poisson episodes on [0, horizon) of uniform length to the modifier rows."""
    if per_day <= 0.0:
        return n
    t = exponential(s, per_day)
    while t < horizon:
        length = low + (high - low) * uniform(s)
        if n < starts.shape[0]:
            starts[n] = t
            ends[n] = t + length
            factors[n] = factor
            n += 1
        t += exponential(s, per_day)
    return n


@njit(cache=True)
def merge_episodes(starts, ends, factors, n):
    """Sort episodes by start; one starting before the previous ends is dropped (no overlap)."""
    order = np.argsort(starts[:n], kind="mergesort")
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


@njit(cache=True)
def sample_grid(bp_t, bp_v, nbp, grid, out, row):
    """The piecewise-linear volume (breakpoints bp_t, bp_v; the first nbp rows) at the sorted
    instants ``grid``, into out[row, :]. At an instant that is a breakpoint the value is that of
    the last row at that instant: the state after everything that happens then (after a refill,
    after a bolus). One linear merge over the breakpoints, not a search per instant."""
    k = 0
    for j in range(grid.shape[0]):
        g = grid[j]
        while k + 1 < nbp and bp_t[k + 1] <= g:
            k += 1
        if bp_t[k] >= g or k + 1 >= nbp:
            out[row, j] = bp_v[k]
        else:
            t0 = bp_t[k]
            out[row, j] = bp_v[k] + (bp_v[k + 1] - bp_v[k]) * ((g - t0) / (bp_t[k + 1] - t0))


@njit(cache=True)
def fold_grid(values, lo, hi, counts):
    """Add runs x instants of ``values`` to ``counts`` (instants x bins): bins of equal width
    over [lo, hi], values outside clamped to the end bins (as ``Histogram.add`` does)."""
    bins = counts.shape[1]
    width = (hi - lo) / bins if hi > lo else 1.0
    for r in range(values.shape[0]):
        for j in range(values.shape[1]):
            b = int((values[r, j] - lo) / width)
            if b < 0:
                b = 0
            elif b > bins - 1:
                b = bins - 1
            counts[j, b] += 1


@njit(cache=True)
def one_run(run, seed, s_t, s_refill, s_volume, s_mix, s_nsteps, s_starts, s_rates, s_bolus, s_bvol, s_block,
            s_bmax, s_bdur, conc, clock0, horizon, low_alarm, dead_volume,
            acc_on, acc_mean, acc_sd, acc_clip, req_per_day, delay_on, delay_low, delay_high, delay_values, delay_cum,
            hourly, miss_p, stall_per_day, stall_low, stall_high, fever_per_day, fever_low, fever_high, fever_factor,
            grid, out_factor, out_empty, out_low, out_max24, out_residual, out_dry, out_fan, row):
    """Draw and simulate run ``run``; write its summary in row ``row`` of the outputs
    (``out_fan[row]``: the true volume at the instants ``grid``)."""
    s = stream(seed, run)
    n = s_t.shape[0]
    nd = conc.shape[1]
    factor = 1.0
    if acc_on:
        x = acc_mean + acc_sd * normal(s)
        if x > acc_clip:
            x = acc_clip
        elif x < -acc_clip:
            x = -acc_clip
        factor = 1.0 + x
    eff = s_t.copy()
    if delay_on:
        for i in range(1, n):
            if s_refill[i] == 1:
                u = uniform(s)
                if delay_values.shape[0] == 0:  # uniform on [low, high]
                    d = delay_low + (delay_high - delay_low) * u
                else:  # discrete: values with cumulative probabilities delay_cum
                    j = 0
                    while j + 1 < delay_values.shape[0] and u >= delay_cum[j]:
                        j += 1
                    d = delay_values[j]
                eff[i] = s_t[i] + d
                if i + 1 < n and eff[i] > s_t[i + 1]:
                    eff[i] = s_t[i + 1]
    # missed refills: the session is skipped (its refill and its changes), later ones are kept
    keep = np.ones(n, np.bool_)
    if miss_p > 0.0:
        for i in range(1, n):
            if s_refill[i] == 1 and uniform(s) < miss_p:
                keep[i] = False
    idx = np.empty(n, np.int64)
    n_keep = 0
    for i in range(n):
        if keep[i] and eff[i] < horizon:
            idx[n_keep] = i
            n_keep += 1
    idx = idx[:n_keep]
    mode = BOLUS_NONE
    if req_per_day > 0.0:
        requests = draw_requests(s, req_per_day, horizon, hourly, clock0)
        mode = BOLUS_REQUESTS
    else:
        requests = np.empty(0)
    cap_mod = 16 + int(4.0 * (stall_per_day + fever_per_day) * horizon)
    m_s = np.empty(cap_mod)
    m_e = np.empty(cap_mod)
    m_f = np.empty(cap_mod)
    n_mod = draw_episodes(s, stall_per_day, stall_low, stall_high, 0.0, horizon, m_s, m_e, m_f, 0)
    n_mod = draw_episodes(s, fever_per_day, fever_low, fever_high, fever_factor, horizon, m_s, m_e, m_f, n_mod)
    mod_start, mod_end, mod_factor = merge_episodes(m_s, m_e, m_f, n_mod)
    k_t = eff[idx]
    k_refill = s_refill[idx]
    k_volume = s_volume[idx]
    k_mix = s_mix[idx]
    k_nsteps = s_nsteps[idx]
    k_starts = s_starts[idx]
    k_rates = s_rates[idx]
    k_bolus = s_bolus[idx]
    k_bvol = s_bvol[idx]
    k_block = s_block[idx]
    k_bmax = s_bmax[idx]
    k_bdur = s_bdur[idx]
    cap = 64 + int(horizon * (8.0 + 2.0 * s_starts.shape[1])) + 4 * n + 2 * requests.shape[0] + 4 * mod_start.shape[0]
    while True:
        bp_t = np.empty(cap)
        bp_dose = np.empty((cap, nd))
        bp_v = np.empty(cap)
        bp_vest = np.empty(cap)
        ev_t = np.empty(cap)
        ev_code = np.empty(cap, np.int64)
        ev_val = np.empty(cap)
        grants = np.empty(cap)
        chg_u = np.empty(cap)
        chg_mix = np.empty(cap, np.int64)
        nbp, nev, status, sc = simulate_pump(
            k_t, k_refill, k_volume, k_mix, k_nsteps, k_starts, k_rates, k_bolus, k_bvol, k_block, k_bmax, k_bdur,
            conc, clock0, horizon, factor, low_alarm, dead_volume, mode, requests, mod_start, mod_end,
            mod_factor, bp_t, bp_dose, bp_v, bp_vest, ev_t, ev_code, ev_val, grants, chg_u, chg_mix)
        if status == OK:
            break
        cap *= 2
    out_factor[row] = factor
    out_low[row] = sc[0]
    out_empty[row] = sc[1]
    # dry before which refill: out_dry[row, i] = 1 if the pump was empty at some time in the
    # period that ends with the refill of session i (its effective instant); column n: the
    # period that ends with the horizon
    for i in range(n + 1):
        out_dry[row, i] = 0
    for e in range(nev):
        if ev_code[e] == EV_EMPTY:
            nxt = n
            for j in range(1, n_keep):
                if k_refill[j] == 1 and k_t[j] > ev_t[e]:
                    nxt = idx[j]
                    break
            out_dry[row, nxt] = 1
    max24 = np.empty(nd)
    max_window_sweep_columns(bp_t[:nbp], bp_dose[:nbp], 1.0, max24)
    for d in range(nd):
        out_max24[row, d] = max24[d]
    # the true volume just before each refill (at its effective instant), NaN if not reached
    for i in range(n):
        out_residual[row, i] = np.nan
    k = 0
    for j in range(1, n_keep):
        if k_refill[j] == 1:
            while k < nbp and bp_t[k] < k_t[j]:
                k += 1
            if k < nbp:
                out_residual[row, idx[j]] = bp_v[k]
    sample_grid(bp_t, bp_v, nbp, grid, out_fan, row)


@njit(cache=True, parallel=True)
def run_chunk(first_run, n_runs, seed, s_t, s_refill, s_volume, s_mix, s_nsteps, s_starts, s_rates, s_bolus,
              s_bvol, s_block, s_bmax, s_bdur, conc, clock0, horizon, low_alarm, dead_volume,
              acc_on, acc_mean, acc_sd, acc_clip, req_per_day, delay_on, delay_low, delay_high, delay_values, delay_cum,
              hourly, miss_p, stall_per_day, stall_low, stall_high, fever_per_day, fever_low, fever_high, fever_factor,
              grid, out_factor, out_empty, out_low, out_max24, out_residual, out_dry, out_fan):
    """Runs first_run .. first_run + n_runs - 1, in parallel; row r holds run first_run + r."""
    for r in prange(n_runs):
        one_run(first_run + r, seed, s_t, s_refill, s_volume, s_mix, s_nsteps, s_starts, s_rates, s_bolus,
                s_bvol, s_block, s_bmax, s_bdur, conc, clock0, horizon, low_alarm, dead_volume,
                acc_on, acc_mean, acc_sd, acc_clip, req_per_day, delay_on, delay_low, delay_high, delay_values, delay_cum,
                hourly, miss_p, stall_per_day, stall_low, stall_high, fever_per_day, fever_low, fever_high,
                fever_factor, grid, out_factor, out_empty, out_low, out_max24, out_residual, out_dry, out_fan, r)
