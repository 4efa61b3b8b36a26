"""The one time base of pumpsim: whole seconds.

Every instant inside pumpsim is a number of seconds since the first session of a table (an
``int`` wherever the table types whole seconds, so what is typed is exact: FORMAT.md §4), and
every duration is a number of seconds. The calendar rules (care pathway, session programs,
telemetry records) count calendar days between dates with :func:`days_between`.

The Numba kernels (``kernels/``) import nothing from pumpsim: they receive the window and the
period they need from the lowered records, built from :data:`DAY` here.
"""
from __future__ import annotations

import datetime as dt

SECOND = 1  # [s]
MINUTE = 60  # [s]
HOUR = 3600  # [s]
DAY = 86400  # [s]: the rolling window of DOSE-MAX, the period of a flex schedule, a calendar day
WEEK = 7 * DAY  # [s]


def as_date(d: dt.date | dt.datetime) -> dt.date:
    """The calendar date of a date or a date-time.

    Parameters
    ----------
    d : datetime.date or datetime.datetime
        A date, or a date-time whose time is dropped.

    Returns
    -------
    datetime.date
        The date.
    """
    return d.date() if isinstance(d, dt.datetime) else d


def days_between(a: dt.date | dt.datetime, b: dt.date | dt.datetime) -> int:
    """Calendar days from ``a`` to ``b`` (date to date; a date-time counts by its date).

    Parameters
    ----------
    a, b : datetime.date or datetime.datetime
        The two dates; the time of a date-time is ignored.

    Returns
    -------
    int
        ``b - a`` in whole calendar days [day], negative when ``b`` is before ``a``.
    """
    da = a.date() if isinstance(a, dt.datetime) else a
    db = b.date() if isinstance(b, dt.datetime) else b
    return (db - da).days
