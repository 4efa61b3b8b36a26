"""Monte-Carlo runs of one table: each run draws its own numbers (``kernels/rng.py``, keyed by
the seed and the run's index) and is simulated by ``kernels/pump.py``; runs are spread over the
cores with ``prange``. A run's numbers depend on (seed, run index) only, never on the number
of threads or the chunking.

Per run the kernel keeps a handful of numbers, not trajectories: the accuracy factor drawn,
the first empty and low-alarm instants, which refills the pump ran dry before, each
drug's exact maximum over rolling 24 h windows, and the true volume left in the reservoir just
before each refill.

Draws of one run, in this order: the accuracy factor (normal, clipped), one delay per refill
session after the first (uniform), then the bolus request times (a Poisson process: exponential
gaps) until the horizon.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .pump import BOLUS_NONE, BOLUS_REQUESTS, EV_EMPTY, OK, simulate_pump
from .rng import exponential, normal, stream, uniform
from .window import max_window_sweep_columns


@njit(cache=True)
def draw_requests(s, per_day, horizon):
    """Poisson request times on [0, horizon), sorted."""
    cap = int(per_day * horizon + 10.0 * np.sqrt(per_day * horizon + 1.0) + 16.0)
    out = np.empty(cap)
    n = 0
    t = exponential(s, per_day)
    while t < horizon:
        if n == out.shape[0]:
            bigger = np.empty(2 * out.shape[0])
            bigger[:n] = out[:n]
            out = bigger
        out[n] = t
        n += 1
        t += exponential(s, per_day)
    return out[:n]


@njit(cache=True)
def one_run(run, seed, s_t, s_refill, s_volume, s_mix, s_nsteps, s_starts, s_rates, s_bolus, s_bvol, s_block,
            s_bmax, s_bdur, conc, clock0, horizon, low_alarm, dead_volume,
            acc_on, acc_mean, acc_sd, acc_clip, req_per_day, delay_on, delay_low, delay_high,
            out_factor, out_empty, out_low, out_max24, out_residual, out_dry, row):
    """Draw and simulate run ``run``; write its summary in row ``row`` of the outputs."""
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
                d = delay_low + (delay_high - delay_low) * uniform(s)
                eff[i] = s_t[i] + d
                if i + 1 < n and eff[i] > s_t[i + 1]:
                    eff[i] = s_t[i + 1]
    n_eff = 0
    while n_eff < n and eff[n_eff] < horizon:
        n_eff += 1
    mode = BOLUS_NONE
    if req_per_day > 0.0:
        requests = draw_requests(s, req_per_day, horizon)
        mode = BOLUS_REQUESTS
    else:
        requests = np.empty(0)
    empty_mods = np.empty(0)
    cap = 64 + int(horizon * (8.0 + 2.0 * s_starts.shape[1])) + 4 * n + 2 * requests.shape[0]
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
            eff[:n_eff], s_refill[:n_eff], s_volume[:n_eff], s_mix[:n_eff], s_nsteps[:n_eff], s_starts[:n_eff],
            s_rates[:n_eff], s_bolus[:n_eff], s_bvol[:n_eff], s_block[:n_eff], s_bmax[:n_eff], s_bdur[:n_eff],
            conc, clock0, horizon, factor, low_alarm, dead_volume, mode, requests, empty_mods, empty_mods,
            empty_mods, bp_t, bp_dose, bp_v, bp_vest, ev_t, ev_code, ev_val, grants, chg_u, chg_mix)
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
            for i in range(1, n_eff):
                if s_refill[i] == 1 and eff[i] > ev_t[e]:
                    nxt = i
                    break
            out_dry[row, nxt] = 1
    max24 = np.empty(nd)
    max_window_sweep_columns(bp_t[:nbp], bp_dose[:nbp], 1.0, max24)
    for d in range(nd):
        out_max24[row, d] = max24[d]
    # the true volume just before each refill (at its effective instant), NaN if not reached
    k = 0
    for i in range(n):
        out_residual[row, i] = np.nan
        if i < n_eff and s_refill[i] == 1 and i > 0:
            while k < nbp and bp_t[k] < eff[i]:
                k += 1
            if k < nbp:
                out_residual[row, i] = bp_v[k]


@njit(cache=True, parallel=True)
def run_chunk(first_run, n_runs, seed, s_t, s_refill, s_volume, s_mix, s_nsteps, s_starts, s_rates, s_bolus,
              s_bvol, s_block, s_bmax, s_bdur, conc, clock0, horizon, low_alarm, dead_volume,
              acc_on, acc_mean, acc_sd, acc_clip, req_per_day, delay_on, delay_low, delay_high,
              out_factor, out_empty, out_low, out_max24, out_residual, out_dry):
    """Runs first_run .. first_run + n_runs - 1, in parallel; row r holds run first_run + r."""
    for r in prange(n_runs):
        one_run(first_run + r, seed, s_t, s_refill, s_volume, s_mix, s_nsteps, s_starts, s_rates, s_bolus,
                s_bvol, s_block, s_bmax, s_bdur, conc, clock0, horizon, low_alarm, dead_volume,
                acc_on, acc_mean, acc_sd, acc_clip, req_per_day, delay_on, delay_low, delay_high,
                out_factor, out_empty, out_low, out_max24, out_residual, out_dry, r)
