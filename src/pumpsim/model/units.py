"""Strict parsing of the quantity strings of a programming table.

A quantity is a number in TOML float syntax without sign, optional spaces, then a unit
spelled as FORMAT.md §4 lists it. Inside pumpsim every quantity is held in one base unit
per dimension:

============== ============================== =====================================
dimension      base unit                      accepted spellings
============== ============================== =====================================
mass           mg (then the drug's dose unit)  mg, mcg, ug, µg, g
volume         mL                             mL, ml, uL, ul, µL
time           second (exact, parse_duration)   min, h, day, week (month: durations only)
               day (parse_quantity; ratios)
fraction       1 (so 1 % = 0.01)              %
cell count     per mm3                        /mm3 (also /uL, /µL: the same volume)
body weight    kg                             kg (program files: the patient's weight)
ratios         mg/mL, mL/day, mg/day, ...      any of the above, ``a/b``; per body weight
                                              ``a/kg`` and ``a/kg/b`` (mg/kg, mg/kg/day, mg/kg/h)
============== ============================== =====================================

A patient's weight (kg) is its own dimension, not a mass of drug: "70 kg" cannot be
typed where a dose is expected, and "mg/kg" is not a fraction.

The model converts masses from mg to each drug's dose unit (mg or mcg, docs/RULES.md §3).
Nothing here knows about tables or drugs: :func:`parse_quantity` turns one string into one
float in base units or raises :class:`QuantityError` with what is wrong and how to fix it.

Durations are exact (FORMAT.md §4, "Time is exact arithmetic"): :func:`parse_duration` reads
the decimal number as a fraction and returns whole seconds as an ``int`` ("0.1 h" is exactly
360, "1.5 min" 90), and a float only when the text is not a whole number of seconds
("0.001 min" is 0.06 s). Rates keep the day in their denominator (mL/day, mg/day): a rate
times a duration in seconds divides by :data:`pumpsim.model.timebase.DAY`. :func:`format_duration` writes
seconds back as exact text.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from pumpsim.model.timebase import DAY, HOUR, MINUTE, WEEK

#: Dimension exponents (mass, volume, time, body weight).
Dimension = tuple[int, int, int, int]

MASS: Dimension = (1, 0, 0, 0)
VOLUME: Dimension = (0, 1, 0, 0)
TIME: Dimension = (0, 0, 1, 0)
FRACTION: Dimension = (0, 0, 0, 0)
CONCENTRATION: Dimension = (1, -1, 0, 0)
FLOW: Dimension = (0, 1, -1, 0)
DOSE_RATE: Dimension = (1, 0, -1, 0)
#: A cell count per volume (patient files: neutrophils, platelets). Base unit: per mm3, the
#: unit laboratories print, so "80000 /mm3" is 80000.0 inside (not per mL).
CELL_COUNT: Dimension = (0, -1, 0, 0)
BODY_WEIGHT: Dimension = (0, 0, 0, 1)
DOSE_PER_WEIGHT: Dimension = (1, 0, 0, -1)
DOSE_RATE_PER_WEIGHT: Dimension = (1, 0, -1, -1)

DIMENSION_NAMES: dict[Dimension, str] = {
    MASS: "a mass (e.g. '2 mg')",
    VOLUME: "a volume (e.g. '20 mL')",
    TIME: "a duration (e.g. '6 h')",
    FRACTION: "a percentage (e.g. '14.5 %')",
    CONCENTRATION: "a concentration (e.g. '5 mg/mL')",
    FLOW: "a flow rate (e.g. '0.5 mL/day')",
    DOSE_RATE: "a dose rate (e.g. '5 mg/day')",
    CELL_COUNT: "a cell count (e.g. '1800 /mm3')",
    BODY_WEIGHT: "a body weight (e.g. '70 kg')",
    DOSE_PER_WEIGHT: "a dose per body weight (e.g. '0.5 mg/kg')",
    DOSE_RATE_PER_WEIGHT: "a dose rate per body weight (e.g. '0.5 mg/kg/day')",
}

#: unit spelling -> (dimension, factor to the base unit)
_SIMPLE_UNITS: dict[str, tuple[Dimension, float]] = {
    "mg": (MASS, 1.0),
    "mcg": (MASS, 1e-3),
    "ug": (MASS, 1e-3),
    "µg": (MASS, 1e-3),  # U+00B5 micro sign
    "μg": (MASS, 1e-3),  # U+03BC greek mu, typed by some keyboards
    "g": (MASS, 1e3),
    "mL": (VOLUME, 1.0),
    "ml": (VOLUME, 1.0),
    "uL": (VOLUME, 1e-3),
    "ul": (VOLUME, 1e-3),
    "µL": (VOLUME, 1e-3),
    "μL": (VOLUME, 1e-3),
    "min": (TIME, 1.0 / 1440.0),
    "h": (TIME, 1.0 / 24.0),
    "day": (TIME, 1.0),
    "week": (TIME, 7.0),
    "kg": (BODY_WEIGHT, 1.0),
}
#: accepted for plain durations only (FORMAT.md §4): a month is 30 days.
_DURATION_ONLY = {"month": (TIME, 30.0)}
#: seconds in each duration unit (exact integers, from the one time base)
DURATION_SECONDS: dict[str, int] = {"min": MINUTE, "h": HOUR, "day": DAY, "week": WEEK, "month": 30 * DAY}
#: beyond this a whole number of seconds is no longer exact in a float64 (2**53 s, 285 million years)
_EXACT_SECONDS_MAX = 2**53
_PERCENT = {"%": (FRACTION, 0.01)}
#: cell counts (patient files): a count per volume, written with a leading slash
_PER_VOLUME = {"/mm3": (CELL_COUNT, 1.0), "/uL": (CELL_COUNT, 1.0), "/µL": (CELL_COUNT, 1.0), "/μL": (CELL_COUNT, 1.0)}

_NUMBER = r"(?:[0-9]+(?:_[0-9]+)*)(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+(?:_[0-9]+)*)?"
_QUANTITY_RE = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>\S(?:.*\S)?)?\s*$")
_SIGNED_RE = re.compile(rf"^\s*[+-]\s*{_NUMBER}")
_NONFINITE_RE = re.compile(r"^\s*[+-]?(nan|inf|infinity)\b", re.IGNORECASE)


class QuantityError(ValueError):
    """A quantity string that cannot be read; ``fix`` says how to write it."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


@dataclass(frozen=True)
class Quantity:
    """A parsed quantity: ``value`` in base units, and its dimension."""

    value: float
    dimension: Dimension


def known_units() -> list[str]:
    """Every unit spelling a quantity string may use.

    Returns
    -------
    list of str
        The unit spellings, sorted.
    """
    return sorted({*_SIMPLE_UNITS, *_DURATION_ONLY, *_PERCENT, *_PER_VOLUME})


def _lookup(unit: str) -> tuple[Dimension, float] | None:
    if unit in _SIMPLE_UNITS:
        return _SIMPLE_UNITS[unit]
    return None


def _unknown_unit(unit: str) -> QuantityError:
    close = difflib.get_close_matches(unit, known_units(), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return QuantityError(
        f"unknown unit {unit!r}",
        f"{hint}units are {', '.join(known_units())} and their ratios such as mg/mL, mL/day",
    )


def _parse_unit(unit: str) -> tuple[Dimension, float]:
    unit = unit.strip()
    if unit in _PERCENT:
        return _PERCENT[unit]
    if unit in _DURATION_ONLY:
        return _DURATION_ONLY[unit]
    if unit.replace(" ", "") in _PER_VOLUME:
        return _PER_VOLUME[unit.replace(" ", "")]
    if unit.startswith("/"):
        close = difflib.get_close_matches(unit, list(_PER_VOLUME), n=1, cutoff=0.3)
        raise QuantityError(f"unknown unit {unit!r}", "cell counts are written per mm3, e.g. '1800 /mm3'"
                            + (f" (did you mean {close[0]!r}?)" if close else ""))
    parts = [p.strip() for p in unit.split("/")]
    per_weight = len(parts) == 3 and parts[1] == "kg"  # mg/kg/day, mg/kg/h: (mg/kg)/day
    if (len(parts) > 2 and not per_weight) or any(p == "" for p in parts):
        raise QuantityError(f"cannot read unit {unit!r}", "write one unit or one ratio such as 'mg/mL' (or 'mg/kg/day')")
    looked = []
    for p in parts:
        if p in _DURATION_ONLY:
            raise QuantityError(
                f"'{p}' is accepted for durations only, not in the ratio {unit!r}",
                "use day or week in ratios, e.g. 'mL/day'",
            )
        if p in _PERCENT:
            raise QuantityError(f"'%' cannot be part of a ratio ({unit!r})", "write a percentage as e.g. '5 %'")
        found = _lookup(p)
        if found is None:
            raise _unknown_unit(p)
        looked.append(found)
    (dim, factor), rest = looked[0], looked[1:]
    for d2, f2 in rest:
        dim = (dim[0] - d2[0], dim[1] - d2[1], dim[2] - d2[2], dim[3] - d2[3])
        factor /= f2
    return dim, factor


#: The unit a "no unit" message suggests, by the dimension the field takes.
EXAMPLE_UNIT: dict[Dimension, str] = {TIME: "day", VOLUME: "mL", FLOW: "mL/day", CONCENTRATION: "mg/mL",
                                     DOSE_RATE: "mg/day", MASS: "mg", FRACTION: "%", CELL_COUNT: "/mm3",
                                     BODY_WEIGHT: "kg", DOSE_PER_WEIGHT: "mg/kg", DOSE_RATE_PER_WEIGHT: "mg/kg/day"}
_DECIMAL_COMMA = re.compile(r"^\s*[0-9]+,[0-9]")


def parse(text: object, dimension: Dimension | None = None) -> Quantity:
    """Read one quantity string into base units, whatever its dimension.

    Parameters
    ----------
    text : object
        The value as the file holds it: a string "number unit" ("0.5 mL/day").
    dimension : Dimension, optional
        The dimension the field takes, for the fix of a missing unit ("'60 day'", not "'60 mL'").

    Returns
    -------
    Quantity
        The value in base units (mL, s, mL/day, mg, mg/mL, mg/day, fraction, ...) and its
        dimension.

    Raises
    ------
    QuantityError
        A bare number, no unit, an unknown unit, a sign, a non-finite or too large value.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, (int, float)):
            raise QuantityError(
                f"{text!r} is a bare number; quantities are strings with a unit",
                f"write it with its unit, e.g. \"{text} mL\"",
            )
        raise QuantityError(f"expected a quantity string with a unit, got {type(text).__name__}")
    if _NONFINITE_RE.match(text):
        raise QuantityError(f"{text!r} is not a finite number", "give a finite value")
    if _SIGNED_RE.match(text):
        if text.strip().startswith("-"):
            raise QuantityError(f"{text!r} is negative", "quantities are written without sign and are never negative")
        raise QuantityError(f"{text!r} has a sign", "write the number without '+'")
    if _DECIMAL_COMMA.match(text):  # "5,5 mg/mL", usual in French: say so rather than guess
        raise QuantityError(f"{text!r} has a decimal comma", f"write a decimal point: {text.strip().replace(',', '.', 1)!r}")
    m = _QUANTITY_RE.match(text)
    if m is None:
        raise QuantityError(f"cannot read {text!r} as a quantity", "write a number then a unit, e.g. '0.5 mL/day'")
    if m.group("unit") is None:
        unit = EXAMPLE_UNIT.get(dimension, "mL") if dimension is not None else "mL"
        if dimension == TIME:
            hint = f"'{text.strip()} day' or '{text.strip()} h'"
        else:
            hint = f"'{text.strip()} {unit}'"
        raise QuantityError(f"{text!r} has no unit", f"add the unit, e.g. {hint}")
    number = float(m.group("num").replace("_", ""))
    dim, factor = _parse_unit(m.group("unit"))
    value = number * factor
    if not math.isfinite(value):
        raise QuantityError(f"{text!r} is too large to represent", "give a realistic value")
    return Quantity(value, dim)


def parse_duration(text: object) -> int | float:
    """Read a duration exactly, in seconds.

    The decimal number is read as a fraction and multiplied by the seconds of its unit (min, h,
    day, week, month): a whole number of seconds is returned as an ``int``, anything else as
    the nearest float (FORMAT.md §4: instants and durations are whole seconds, or finer).

    Parameters
    ----------
    text : object
        A duration string with one of the units min, h, day, week, month.

    Returns
    -------
    int or float
        The duration [s]: an int when it is a whole number of seconds.

    Examples
    --------
    >>> parse_duration("0.1 h")
    360
    >>> parse_duration("1.5 min")
    90
    >>> parse_duration("0.001 min")
    0.06
    """
    q = parse(text, TIME)  # the same checks and messages as every other quantity
    if q.dimension != TIME:
        got = DIMENSION_NAMES.get(q.dimension, "a quantity of another dimension")
        raise QuantityError(f"{text!r} is {got.split(' (')[0]}, but this field takes a duration",
                            f"write {DIMENSION_NAMES[TIME]}")
    assert isinstance(text, str)
    m = _QUANTITY_RE.match(text)
    assert m is not None
    unit = m.group("unit").strip()
    if unit not in DURATION_SECONDS:
        raise QuantityError(f"cannot read unit {unit!r} as a duration", f"use one of {', '.join(DURATION_SECONDS)}")
    exact = Fraction(m.group("num").replace("_", "")) * DURATION_SECONDS[unit]
    if exact > _EXACT_SECONDS_MAX:
        raise QuantityError(f"{text!r} is too large to represent", "give a realistic value")
    if exact.denominator == 1:
        return int(exact)
    return float(exact)


def format_duration(seconds: int | float) -> str:
    """A duration [s] as exact text in the largest unit that writes it exactly ("4 h", "1.5 min").

    A whole number of days, hours or minutes is written as an integer of the largest such unit;
    otherwise as the terminating decimal with the fewest digits after the point in day, h or min
    (90 s is "1.5 min", not "0.025 h"). A number of seconds with no exact decimal in minutes
    (e.g. 1 s; FORMAT.md has no unit of a second) is written to 17 significant digits in min.

    Parameters
    ----------
    seconds : int or float
        A duration [s].

    Returns
    -------
    str
        The duration as a table would type it.
    """
    exact = Fraction(seconds) if isinstance(seconds, int) else Fraction(repr(float(seconds)))
    for unit in ("day", "h", "min"):
        x = exact / DURATION_SECONDS[unit]
        if x.denominator == 1:
            return f"{x.numerator} {unit}"
    best: tuple[int, str] | None = None
    for unit in ("day", "h", "min"):
        x = exact / DURATION_SECONDS[unit]
        d = x.denominator
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        if d == 1:  # a terminating decimal: written exactly
            text = format(Decimal(x.numerator) / Decimal(x.denominator), "f")
            digits = len(text.partition(".")[2])
            if best is None or digits < best[0]:
                best = (digits, f"{text} {unit}")
    if best is not None:
        return best[1]
    return f"{float(exact / 60):.17g} min"


def parse_quantity(text: object, dimension: Dimension) -> float:
    """Read ``text`` as a quantity of ``dimension`` and return it in base units.

    A duration (:data:`TIME`) is returned here in days (float), for the modules that count
    calendar days (pathway, programs); the pump model reads its durations exactly in seconds
    with :func:`parse_duration`.

    Parameters
    ----------
    text : str
        The quantity as written in the table, e.g. ``"0.096 mL/day"``.
    dimension : Dimension
        The dimension the field requires (e.g. :data:`FLOW`).

    Returns
    -------
    float
        The value in the base unit of that dimension (mL, day, mg, fraction and ratios).

    Examples
    --------
    >>> parse_quantity("2.4 uL/h", FLOW)
    0.0576
    >>> parse_quantity("25 mcg/mL", CONCENTRATION)
    0.025
    """
    q = parse(text, dimension)
    if q.dimension != dimension:
        got = DIMENSION_NAMES.get(q.dimension, "a quantity of another dimension")
        want = DIMENSION_NAMES.get(dimension, str(dimension))
        raise QuantityError(f"{text!r} is {got.split(' (')[0]}, but this field takes {want.split(' (')[0]}",
                            f"write {want}")
    return q.value


#: how a base-unit value is written back (reports): dimension -> (unit, factor from base)
_BASE_SPELLING: dict[Dimension, tuple[str, float]] = {
    MASS: ("mg", 1.0), VOLUME: ("mL", 1.0), FRACTION: ("%", 100.0),
    CONCENTRATION: ("mg/mL", 1.0), FLOW: ("mL/day", 1.0), DOSE_RATE: ("mg/day", 1.0),
    CELL_COUNT: ("/mm3", 1.0),
    BODY_WEIGHT: ("kg", 1.0), DOSE_PER_WEIGHT: ("mg/kg", 1.0), DOSE_RATE_PER_WEIGHT: ("mg/kg/day", 1.0),
}


def format_base(value: float, dimension: Dimension) -> str:
    """A base-unit value as a quantity string ('0.2 mL', '14.5 %'), to 10 significant digits;
    a duration [s] exactly (:func:`format_duration`).

    Parameters
    ----------
    value : float
        A value in the base unit of ``dimension`` (mL, s, mL/day, mg, fraction, ...).
    dimension : Dimension
        Its dimension.

    Returns
    -------
    str
        A quantity string in the table's spelling.
    """
    if dimension == TIME:
        return format_duration(value)
    unit, factor = _BASE_SPELLING[dimension]
    return f"{value * factor:.10g} {unit}"
