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


def distinct(a: float, b: float, least: int = 4) -> tuple[str, str]:
    """``a`` and ``b`` as a message prints them side by side: with the fewest significant digits,
    ``least`` at least, that tell them apart (both with the same number), so that "1.2, above the
    target 1.2" cannot be printed for 1.2 and 1.19999999.

    Parameters
    ----------
    a, b : float
        The two numbers a message compares.
    least : int, optional
        The fewest significant digits printed.

    Returns
    -------
    tuple of str
        ``a`` and ``b`` in ``g`` format; equal strings only when the numbers are equal (past 16
        digits, the shortest text that reads back as each number).
    """
    a, b = float(a) + 0.0, float(b) + 0.0  # -0.0 is printed as 0
    for digits in range(least, 17):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb or float(sa) == a and float(sb) == b:
            return sa, sb
    return repr(a), repr(b)
