"""The exact maximum of a cumulative dose over all rolling windows (docs/SIMULATION.md §6).

F is given by breakpoints (t_i, F_i), non-decreasing in t, linear between them, with a jump
where two breakpoints share a time (a bolus given at once). The dose in the half-open window
[s, s + w) is G(s) = F⁻(s + w) - F⁻(s), F⁻ the left limit (what was delivered strictly before),
with F = 0 before the first breakpoint and F = F_last after the last.

Algorithm: G is linear between consecutive points of the candidate set
C = {t_i} ∪ {t_i - w}, because neither F(s) nor F(s + w) has a breakpoint strictly between
two candidates. A linear function on an interval reaches its supremum at an end, approached
either at the end itself (G) or from the right of the left end (G⁺(c) = F⁺(c + w) - F⁺(c)).
So the supremum over all real s is max over c in C of max(G(c), G⁺(c)): 2m candidates, each
evaluated by two binary searches, O(m log m), exact up to rounding. The candidate windows are
written [p, p + w) and [p - w, p) so that the breakpoint p is an end exactly (never p - w + w,
which rounding can move by an ulp and so count a bolus given exactly 24 h later). F is 0
before t_0 and constant after t_last, so windows reaching outside [t_0, t_last] are evaluated
as they are; a start before t_0 is reported as t_0.

The start returned is the earliest candidate whose value is within ``rtol`` of the supremum.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def left_value(t, f, x):
    """F⁻(x): the left limit of F at x."""
    m = t.shape[0]
    if x <= t[0]:
        return 0.0
    if x > t[m - 1]:
        return f[m - 1]
    i = np.searchsorted(t, x, side="left")  # first t[i] >= x
    if t[i] == x:
        return f[i]
    a = i - 1
    return f[a] + (f[i] - f[a]) * ((x - t[a]) / (t[i] - t[a]))


@njit(cache=True)
def right_value(t, f, x):
    """F⁺(x): the right limit of F at x."""
    m = t.shape[0]
    if x < t[0]:
        return 0.0
    if x >= t[m - 1]:
        return f[m - 1]
    i = np.searchsorted(t, x, side="right") - 1  # last t[i] <= x
    if t[i] == x:
        return f[i]
    b = i + 1
    return f[i] + (f[b] - f[i]) * ((x - t[i]) / (t[b] - t[i]))


@njit(cache=True)
def max_window(t, f, width, rtol):
    """(sup over s of F⁻(s + width) - F⁻(s), earliest start reaching it within rtol)."""
    m = t.shape[0]
    if m == 0:
        return 0.0, 0.0
    # each candidate window keeps the breakpoint itself as one of its ends: [p, p + w) and
    # [p - w, p). Computing p - w and then (p - w) + w could land an ulp away from p and let
    # a window of "24 h" hold one more bolus than the lockout rules allow.
    starts = np.empty(2 * m)
    ends = np.empty(2 * m)
    for i in range(m):
        starts[2 * i] = t[i]
        ends[2 * i] = t[i] + width
        starts[2 * i + 1] = t[i] - width
        ends[2 * i + 1] = t[i]
    vals = np.empty(2 * m)
    best = -np.inf
    for i in range(2 * m):
        a = starts[i]
        b = ends[i]
        g = left_value(t, f, b) - left_value(t, f, a)
        gr = right_value(t, f, b) - right_value(t, f, a)
        if gr > g:
            g = gr
        vals[i] = g
        if g > best:
            best = g
    tol = rtol * abs(best)
    at = np.inf
    for i in range(2 * m):
        if vals[i] >= best - tol and starts[i] < at:
            at = starts[i]
    lo = t[0]
    return best, (at if at > lo else lo)


@njit(cache=True)
def max_window_sweep_columns(t, f, width, out):
    """The same suprema as :func:`max_window` (without the starts) for every column of ``f``
    (m x n) at once, into ``out`` (n,), in one linear sweep. Used by the Monte-Carlo runs.

    The candidate windows [t_i, t_i + w) and [t_i - w, t_i) are visited in increasing order of
    their moving end, so each limit of F is found by a pointer that only moves forward: O(m)
    instead of O(m log m). The slopes of the segments and the runs of equal times (jumps) are
    computed once; candidates that cannot be a local maximum are skipped.
    """
    m = t.shape[0]
    nd = f.shape[1]
    if m == 0:
        for d in range(nd):
            out[d] = 0.0
        return
    first = np.empty(m, np.int64)  # first row of the run of equal times holding row i
    last = np.empty(m, np.int64)
    for i in range(m):
        first[i] = first[i - 1] if i > 0 and t[i - 1] == t[i] else i
    for i in range(m - 1, -1, -1):
        last[i] = last[i + 1] if i + 1 < m and t[i + 1] == t[i] else i
    slope = np.zeros((m, nd))  # slope of segment (k, k + 1)
    for k in range(m - 1):
        dt = t[k + 1] - t[k]
        if dt > 0.0:
            inv = 1.0 / dt
            for d in range(nd):
                slope[k, d] = (f[k + 1, d] - f[k, d]) * inv
    t0 = t[0]
    tl = t[m - 1]
    for d in range(nd):
        best = 0.0  # F is non-decreasing: every window holds at least 0
        for direction in range(2):
            kl = 0  # first index with t >= x
            kr = 0  # last index with t <= x
            for i in range(m):
                if first[i] != i:
                    continue  # one window per distinct time: its first and last rows are used
                ip = i
                jp = last[i]
                # Only a local maximum of G can be its supremum. Where F does not jump at p, a
                # window starting at p can be one only if F's slope increases at p, and a window
                # ending at p only if it decreases (the slopes of G left and right of the
                # candidate differ by that change); where it does not change, G is linear
                # through the candidate.
                if f[jp, d] == f[ip, d]:
                    s_left = slope[ip - 1, d] if ip > 0 else 0.0
                    s_right = slope[jp, d] if jp + 1 < m else 0.0
                    if direction == 0 and s_right <= s_left:
                        continue
                    if direction == 1 and s_right >= s_left:
                        continue
                p = t[i]
                x = p + width if direction == 0 else p - width
                while kl < m and t[kl] < x:
                    kl += 1
                while kr + 1 < m and t[kr + 1] <= x:
                    kr += 1
                # F⁻(x) and F⁺(x)
                if x <= t0:
                    fl = 0.0
                elif kl >= m:
                    fl = f[m - 1, d]
                elif t[kl] == x:
                    fl = f[kl, d]
                else:
                    fl = f[kl - 1, d] + slope[kl - 1, d] * (x - t[kl - 1])
                if x < t0:
                    fr = 0.0
                elif x >= tl:
                    fr = f[m - 1, d]
                elif t[kr] == x:
                    fr = f[kr, d]
                else:
                    fr = f[kr, d] + slope[kr, d] * (x - t[kr])
                pl = f[ip, d] if p > t0 else 0.0
                pr = f[jp, d]
                if direction == 0:  # [p, x)
                    g = fl - pl
                    gr = fr - pr
                else:  # [x, p)
                    g = pl - fl
                    gr = pr - fr
                if gr > g:
                    g = gr
                if g > best:
                    best = g
        out[d] = best
