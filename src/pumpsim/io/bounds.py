"""The bounds every reader applies before a value reaches arithmetic.

A date outside :data:`DATE_MIN`-:data:`DATE_MAX` is not a clinical date but a typing slip, and
would overflow the calendar arithmetic of a simulation, a plan or a titration (year 9999 plus a
90-day horizon does not exist): every reader refuses it with exit 2, naming the field. The
range is pumpsim's own choice, wide enough for any patient record.
"""
from __future__ import annotations

import datetime as dt

DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2200, 12, 31)
RANGE_TEXT = f"{DATE_MIN.isoformat()} to {DATE_MAX.isoformat()}"


def date_in_range(value: dt.date | dt.datetime) -> bool:
    """Whether a date (or the date of a date-time) lies in the supported range.

    Parameters
    ----------
    value : datetime.date or datetime.datetime
        The date as read.

    Returns
    -------
    bool
        True when ``DATE_MIN <= date <= DATE_MAX``.
    """
    d = value.date() if isinstance(value, dt.datetime) else value
    return DATE_MIN <= d <= DATE_MAX


def out_of_range(value: dt.date | dt.datetime) -> str:
    """The message for a date out of range.

    Parameters
    ----------
    value : datetime.date or datetime.datetime
        The date as read.

    Returns
    -------
    str
        "2 problems" style text naming the value and the range.
    """
    return f"{value.isoformat()} is outside the dates pumpsim supports ({RANGE_TEXT})"
