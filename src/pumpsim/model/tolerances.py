"""Tolerances of comparisons against limits (FORMAT.md §4).

A limit is compared with a relative tolerance: 25 mcg/mL x 0.096 mL/day is 2.4 mcg/day and is
not "above 2.4". Instants and durations are whole seconds and are compared exactly.
"""
from __future__ import annotations

RTOL = 1e-9  # FORMAT.md §4: limits are compared with a relative tolerance of 1e-9


def above(value: float, limit: float) -> bool:
    """Strictly above ``limit``, beyond the relative tolerance :data:`RTOL`.

    Parameters
    ----------
    value, limit : float
        Two numbers in the same unit (any unit).

    Returns
    -------
    bool
        ``value > limit + RTOL * |limit|``.
    """
    return value > limit + RTOL * abs(limit)


def at_or_above(value: float, limit: float) -> bool:
    """At or above ``limit``, within the relative tolerance :data:`RTOL`.

    Parameters
    ----------
    value, limit : float
        Two numbers in the same unit (any unit).

    Returns
    -------
    bool
        ``value >= limit - RTOL * |limit|``.
    """
    return value >= limit - RTOL * abs(limit)


