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


@njit(cache=True, inline="always")
def _advance_ge(t, x, k):
    """First index >= k with t[index] >= x (t.shape[0] if none)."""
    m = t.shape[0]
    while k < m and t[k] < x:
        k += 1
    return k


@njit(cache=True, inline="always")
def _advance_le(t, x, k):
    """Last index >= k with t[index] <= x (k itself if t[k + 1] > x)."""
    m = t.shape[0]
    while k + 1 < m and t[k + 1] <= x:
        k += 1
    return k


@njit(cache=True, inline="always")
def _left_at(t, f, x, k):
    """F⁻(x) given k = first index with t[k] >= x."""
    m = t.shape[0]
    if x <= t[0]:
        return 0.0
    if k >= m:
        return f[m - 1]
    if t[k] == x:
        return f[k]
    return f[k - 1] + (f[k] - f[k - 1]) * ((x - t[k - 1]) / (t[k] - t[k - 1]))


@njit(cache=True, inline="always")
def _right_at(t, f, x, k):
    """F⁺(x) given k = last index with t[k] <= x (when x >= t[0])."""
    m = t.shape[0]
    if x < t[0]:
        return 0.0
    if x >= t[m - 1]:
        return f[m - 1]
    if t[k] == x:
        return f[k]
    return f[k] + (f[k + 1] - f[k]) * ((x - t[k]) / (t[k + 1] - t[k]))


@njit(cache=True)
def max_window_sweep(t, f, width):
    """The same supremum as :func:`max_window` (without the start), in one linear sweep.

    The candidate windows [t_i, t_i + w) and [t_i - w, t_i) are visited in increasing order of
    their moving end, so each limit of F is found by a pointer that only moves forward: O(m)
    instead of O(m log m). Used by the Monte-Carlo runs, where only the value is needed.
    """
    m = t.shape[0]
    if m == 0:
        return 0.0
    best = -np.inf
    # windows starting at a breakpoint: [t_i, t_i + w)
    kl = 0
    kr = 0
    for i in range(m):
        a = t[i]
        b = a + width
        kl = _advance_ge(t, b, kl)
        kr = _advance_le(t, b, kr)
        ia = i
        while ia > 0 and t[ia - 1] == a:
            ia -= 1
        ja = i
        while ja + 1 < m and t[ja + 1] == a:
            ja += 1
        g = _left_at(t, f, b, kl) - (f[ia] if a > t[0] else 0.0)
        gr = _right_at(t, f, b, kr) - f[ja]
        if gr > g:
            g = gr
        if g > best:
            best = g
    # windows ending at a breakpoint: [t_i - w, t_i)
    kl = 0
    kr = 0
    for i in range(m):
        b = t[i]
        a = b - width
        kl = _advance_ge(t, a, kl)
        kr = _advance_le(t, a, kr)
        ib = i
        while ib > 0 and t[ib - 1] == b:
            ib -= 1
        jb = i
        while jb + 1 < m and t[jb + 1] == b:
            jb += 1
        g = (f[ib] if b > t[0] else 0.0) - _left_at(t, f, a, kl)
        gr = f[jb] - _right_at(t, f, a, kr)
        if gr > g:
            g = gr
        if g > best:
            best = g
    return best


@njit(cache=True)
def max_window_sweep_columns(t, f, width, out):
    """:func:`max_window_sweep` for every column of ``f`` (m x n) at once, into ``out`` (n,).

    The pointers and interpolation weights depend on t only, so one sweep serves all drugs.
    """
    m = t.shape[0]
    nd = f.shape[1]
    for d in range(nd):
        out[d] = -np.inf
    if m == 0:
        for d in range(nd):
            out[d] = 0.0
        return
    t0 = t[0]
    tl = t[m - 1]
    for direction in range(2):
        kl = 0  # first index with t >= x
        kr = 0  # last index with t <= x
        for i in range(m):
            p = t[i]
            x = p + width if direction == 0 else p - width
            # the fixed end p: first (before jumps) and last (after jumps) rows at p
            ip = i
            while ip > 0 and t[ip - 1] == p:
                ip -= 1
            jp = i
            while jp + 1 < m and t[jp + 1] == p:
                jp += 1
            # the moving end x: left limit between rows kl - 1 and kl, right limit kr, kr + 1
            while kl < m and t[kl] < x:
                kl += 1
            while kr + 1 < m and t[kr + 1] <= x:
                kr += 1
            # left limit at x: 0 before t0, the last value after tl, else interpolate
            l_case = 0
            wl = 0.0
            if x <= t0:
                l_case = 0
            elif kl >= m:
                l_case = 1
            elif t[kl] == x:
                l_case = 2
            else:
                l_case = 3
                wl = (x - t[kl - 1]) / (t[kl] - t[kl - 1])
            r_case = 0
            wr = 0.0
            if x < t0:
                r_case = 0
            elif x >= tl:
                r_case = 1
            elif t[kr] == x:
                r_case = 2
            else:
                r_case = 3
                wr = (x - t[kr]) / (t[kr + 1] - t[kr])
            for d in range(nd):
                if l_case == 0:
                    fl = 0.0
                elif l_case == 1:
                    fl = f[m - 1, d]
                elif l_case == 2:
                    fl = f[kl, d]
                else:
                    fl = f[kl - 1, d] + (f[kl, d] - f[kl - 1, d]) * wl
                if r_case == 0:
                    fr = 0.0
                elif r_case == 1:
                    fr = f[m - 1, d]
                elif r_case == 2:
                    fr = f[kr, d]
                else:
                    fr = f[kr, d] + (f[kr + 1, d] - f[kr, d]) * wr
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
                if g > out[d]:
                    out[d] = g
