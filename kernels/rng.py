"""A counter-based random stream per Monte-Carlo run, drawn inside compiled code.

Run ``r`` of a simulation with seed ``s`` gets its own xoshiro256** generator whose 256-bit
state is filled by SplitMix64 from a key made of (s, r) alone. So a run's numbers never depend
on the number of workers, the chunking or the order of completion, and no per-run state has to
be created in Python (the first prototype spent ten times longer drawing bolus times in NumPy
than simulating them).

Exponential gaps (bolus requests, MRI stalls, fevers) are drawn by the ziggurat [3]_, about 99 %
of them from one integer and no logarithm; normal draws by Box-Muller.

Integers are exact on every machine; the floating-point transforms (log, exp, sqrt, cos) come
from the platform's math library, which IEEE 754 does not pin to the last bit: results are
identical on one machine and within an ulp or so across machines.

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
from __future__ import annotations

import numpy as np
from numba import njit, uint64

from . import cache  # noqa: F401  (keys the compiled cache to the sources; before any kernel)

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
TWO_PI = 6.283185307179586
INV_2_53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def splitmix64(x):
    """One SplitMix64 step: (next state, output)."""
    x = x + GOLDEN
    z = x
    z = (z ^ (z >> uint64(30))) * MIX1
    z = (z ^ (z >> uint64(27))) * MIX2
    return x, z ^ (z >> uint64(31))


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def stream(seed, run):
    """The 4-word xoshiro256** state of run ``run`` for simulation seed ``seed``."""
    s = np.empty(4, np.uint64)
    x = uint64(seed) ^ (uint64(run) * MIX2)
    x, _ = splitmix64(x)  # decorrelate neighbouring keys
    for i in range(4):
        x, s[i] = splitmix64(x)
    return s


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def xoshiro(s0, s1, s2, s3):
    """xoshiro256** on a state held in four words: (output, the next state's four words).
    The loops that draw many numbers keep the state in these locals (in registers), not in
    the array, and store it back when done."""
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def next_u64(s):
    """xoshiro256**: the next 64-bit output; advances the state in place."""
    result, s0, s1, s2, s3 = xoshiro(s[0], s[1], s[2], s[3])
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    return result


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def uniform(s):
    """Uniform on [0, 1), 53 random bits."""
    return float(next_u64(s) >> uint64(11)) * INV_2_53


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def normal(s):
    """Standard normal (Box-Muller, one value per two uniforms)."""
    u1 = 1.0 - uniform(s)  # (0, 1]
    u2 = uniform(s)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(TWO_PI * u2)


def _ziggurat_exponential(n=256, r=7.69711747013104972, v=3.9496598225815571993e-3, bits=53):
    """Tables of the ziggurat for the standard exponential (Marsaglia and Tsang [1]_, 256
    layers of equal area ``v``, the base layer's tail beyond ``r``), for ``bits``-bit integers:
    ``ke`` the acceptance bounds, ``we`` the widths per integer step, ``fe`` exp(-x) at the
    layers' edges.

    References
    ----------
    .. [1] G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating Random
       Variables", Journal of Statistical Software 5(8), 2000.
    """
    ke = np.zeros(n, np.uint64)
    we = np.zeros(n)
    fe = np.zeros(n)
    m = 2.0 ** bits
    de = r
    te = de
    q = v / np.exp(-de)
    ke[0] = np.uint64((de / q) * m)
    ke[1] = 0
    we[0] = q / m
    we[n - 1] = de / m
    fe[0] = 1.0
    fe[n - 1] = np.exp(-de)
    for i in range(n - 2, 0, -1):
        de = -np.log(v / de + np.exp(-de))
        ke[i + 1] = np.uint64((de / te) * m)
        te = de
        fe[i] = np.exp(-de)
        we[i] = de / m
    return ke, we, fe


ZIG_R = 7.69711747013104972
ZIG_KE, ZIG_WE, ZIG_FE = _ziggurat_exponential()


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def exponential_box(s0, s1, s2, s3):
    """The ziggurat's common case on a state in four words (:func:`xoshiro`): (x, accepted,
    layer, state). About 99 % of draws are accepted here, from one integer and no logarithm;
    the others go on with :func:`exponential_edge`. (No array here: an inlined helper with a
    branch that takes an array costs a reference count at every call.)"""
    ri, s0, s1, s2, s3 = xoshiro(s0, s1, s2, s3)
    ri = ri >> uint64(3)
    idx = int(ri & uint64(0xFF))
    ri = ri >> uint64(8)  # 53 bits
    return float(ri) * ZIG_WE[idx], ri < ZIG_KE[idx], idx, s0, s1, s2, s3


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def exponential_edge(s, idx, x):
    """The ziggurat's rare branches, after the integer giving layer ``idx`` and abscissa ``x``
    failed the box test: (x, accepted) by the tail or the exact density test; when not
    accepted, the draw starts again with a fresh integer."""
    if idx == 0:
        return ZIG_R - np.log1p(-uniform(s)), True
    return x, (ZIG_FE[idx - 1] - ZIG_FE[idx]) * uniform(s) + ZIG_FE[idx] < np.exp(-x)


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def standard_exponential(s):
    """Exponential with mean 1 by the ziggurat: :func:`exponential_box`, then
    :func:`exponential_edge` for the draws the box does not accept."""
    while True:
        x, ok, idx, s0, s1, s2, s3 = exponential_box(s[0], s[1], s[2], s[3])
        s[0] = s0
        s[1] = s1
        s[2] = s2
        s[3] = s3
        if ok:
            return x
        x, ok = exponential_edge(s, idx, x)
        if ok:
            return x


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def uniform_words(s0, s1, s2, s3):
    """:func:`uniform` on a state in four words: (u, state)."""
    r, s0, s1, s2, s3 = xoshiro(s0, s1, s2, s3)
    return float(r >> uint64(11)) * INV_2_53, s0, s1, s2, s3
