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

from . import cache  # noqa: F401  (keys the compiled cache to the sources; before any kernel)


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
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


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
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


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
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


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def differs(f, a, b, nd):
    """Whether rows a and b of ``f`` differ in some column (a jump when they share an instant)."""
    for d in range(nd):
        if f[a, d] != f[b, d]:
            return True
    return False


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def max_window_sweep_columns(t, f, m, width, out, irr, nirr):
    """The same suprema as :func:`max_window` (without the starts) for every column of ``f``
    over its first ``m`` rows, into ``out`` (n_columns,), in one linear sweep shared by all
    columns. Used by the Monte-Carlo runs.

    The knots p (distinct times) are visited in order; the candidate windows [p, p + w) and
    [p - w, p) have moving ends p + w and p - w that only increase, so one pointer each finds
    F⁻ and F⁺ there, in O(m) overall. Only a local maximum of G can be its supremum: where F
    does not jump at p, a window starting at p can be one only if a slope of F increases at
    p, and a window ending at p only if one decreases (the slopes of G on either side of the
    candidate differ by that change); elsewhere G is linear through the candidate.

    ``irr`` (sorted, the first ``nirr``) lists the instants where a slope of F may change for
    another reason than the daily flex schedule (sessions, refills, an empty reservoir, a new
    mix at the tip, stalls, extended boluses; the first instant and the horizon included).
    Between two of them the slopes repeat every ``width`` (24 h, the period of the schedule):
    so when no such instant lies in [p, p + w], the slope change at p recurs at p + w and G is
    linear through p (a window starting there is no candidate), and likewise for [p - w, p].
    This leaves the jumps (boluses) and the knots near an irregular instant; a knot of one row
    with no irregular instant within a day on either side is skipped before its slopes are
    computed (the slope on its left is computed from the row before when needed, in the same
    arithmetic as the slope on the right of the knot before). At a jump p with no irregular
    instant in [p - w, p + w], the window ending just after the jump, (p - w, p], is not
    evaluated when the window starting at the first jump q after p - w reaches past p as
    computed (p < q + w): that one holds the same jumps and more, and, the slopes repeating,
    the same amount between them (the two values differ by rounding only).

    Parameters
    ----------
    t : numpy.ndarray
        Breakpoint instants [s], non-decreasing (the first ``m`` rows are read).
    f : numpy.ndarray
        (rows, columns) cumulative doses at the breakpoints [dose unit], non-decreasing.
    m : int
        Rows to read [-].
    width : float
        The window [s] (24 h: ``Pump.day``).
    out : numpy.ndarray
        (columns,) written: each column's maximum dose in any window [dose unit].
    irr : numpy.ndarray
        Sorted instants where a slope may change other than by the daily schedule [s].
    nirr : int
        Instants of ``irr`` to read [-].
    """
    nd = f.shape[1]
    for d in range(nd):
        out[d] = 0.0  # F is non-decreasing: every window holds at least 0
    if m == 0:
        return
    t0 = t[0]
    tl = t[m - 1]
    jumps = np.empty(m)  # the instants of the jumps met so far
    nj = 0
    iq = 0  # the first of them after p - w
    ka = 0  # first index with t >= p + w
    kb = 0  # first index with t >= p - w
    ia = 0  # first irregular instant >= p
    ib = 0  # last irregular instant <= p (or the first)
    ip = 0
    while ip < m:
        p = t[ip]
        jp = ip
        while jp + 1 < m and t[jp + 1] == p:
            jp += 1
        while ia < nirr and irr[ia] < p:
            ia += 1
        while ib + 1 < nirr and irr[ib + 1] <= p:
            ib += 1
        recurs_after = ia < nirr and irr[ia] > p + width  # a slope change at p recurs at p + w
        recurred = ib < nirr and irr[ib] < p - width  # ... and happened at p - w
        if jp == ip and recurs_after and recurred:
            ip = jp + 1  # one row, no jump, and no window can start or end here: skipped
            # and so is each following knot of one row more than a day before the next irregular
            # instant: the irregular instants on either side of it are those of p (the pointers
            # stay), the one after is more than a day away, the one before was already for p
            nxt_irr = irr[ia]
            while ip + 1 < m and t[ip + 1] != t[ip] and nxt_irr > t[ip] + width:
                ip += 1
            continue
        jump = differs(f, ip, jp, nd)
        up = False
        down = False
        if jump:
            jumps[nj] = p
            nj += 1
            down = True
            if recurs_after and recurred:
                # the window ending just after this jump, (p - w, p], holds no more than the
                # window starting at the first jump q after p - w, [q, q + w), when that one
                # reaches past p as computed (the same jumps, and more) and the slopes repeat
                # over [p - w, p + w] (the same amount between jumps, up to rounding)
                x = p - width
                while jumps[iq] <= x:  # stops at p's own jump at the latest
                    iq += 1
                down = not (p < jumps[iq] + width)
        else:
            last = jp + 1 >= m
            inv = 0.0 if last else 1.0 / (t[jp + 1] - p)
            inv_left = 0.0 if ip == 0 else 1.0 / (p - t[ip - 1])
            for d in range(nd):
                sr = 0.0 if last else (f[jp + 1, d] - f[jp, d]) * inv
                sl = 0.0 if ip == 0 else (f[ip, d] - f[ip - 1, d]) * inv_left
                if sr > sl:
                    up = True
                elif sr < sl:
                    down = True
            if up and recurs_after:
                up = False  # the same change recurs at p + w
            if down and recurred:
                down = False  # the same change happened at p - w
        for direction in range(2):
            if direction == 0:
                if not (jump or up):
                    continue
                x = p + width
                while ka < m and t[ka] < x:
                    ka += 1
                kl = ka
            else:
                if not down:
                    continue
                x = p - width
                while kb < m and t[kb] < x:
                    kb += 1
                kl = kb
            # F⁻(x) and F⁺(x): inside a segment one interpolation (both limits equal); on a
            # breakpoint the first and the last rows there
            if kl > 0 and kl < m and t[kl] != x:
                a = kl - 1
                frac = (x - t[a]) / (t[kl] - t[a])
                for d in range(nd):
                    fl = f[a, d] + (f[kl, d] - f[a, d]) * frac
                    pl = f[ip, d] if p > t0 else 0.0
                    pr = f[jp, d]
                    if direction == 0:  # [p, x)
                        g = fl - pl
                        gr = fl - pr
                    else:  # [x, p)
                        g = pl - fl
                        gr = pr - fl
                    if gr > g:
                        g = gr
                    if g > out[d]:
                        out[d] = g
                continue
            kr = kl - 1
            if kl < m and t[kl] == x:
                kr = kl
                while kr + 1 < m and t[kr + 1] == x:
                    kr += 1
            for d in range(nd):
                if x <= t0:
                    fl = 0.0
                elif kl >= m:
                    fl = f[m - 1, d]
                else:
                    fl = f[kl, d]
                if x < t0 or kr < 0:
                    fr = 0.0
                elif x >= tl:
                    fr = f[m - 1, d]
                else:
                    fr = f[kr, d]
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
        ip = jp + 1
