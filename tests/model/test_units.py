import math

import pytest

from pumpsim.model import units
from pumpsim.model.timebase import DAY, HOUR, MINUTE
from pumpsim.model.units import QuantityError, format_duration, parse_duration, parse_quantity


@pytest.mark.parametrize("text,dim,expected", [
    ("0.096 mL/day", units.FLOW, 0.096),
    ("4 uL/h", units.FLOW, 4e-3 * 24),
    ("25 mcg/mL", units.CONCENTRATION, 0.025),      # mg/mL base
    ("0.025 mg/mL", units.CONCENTRATION, 0.025),
    ("1 g/mL", units.CONCENTRATION, 1000.0),
    ("2.4 µg/day", units.DOSE_RATE, 2.4e-3),
    ("2.4 μg/day", units.DOSE_RATE, 2.4e-3),          # greek mu
    ("6 h", units.TIME, 0.25),                      # in days here (calendar modules);
    ("90 min", units.TIME, 90 / 1440),              # parse_duration gives exact seconds
    ("2 week", units.TIME, 14.0),
    ("6 month", units.TIME, 180.0),
    ("14.5 %", units.FRACTION, 0.145),
    ("20mL", units.VOLUME, 20.0),
    ("10 ul", units.VOLUME, 0.01),
    ("1_000 uL", units.VOLUME, 1.0),
    ("1e-3 mL", units.VOLUME, 1e-3),
])
def test_accepted_spellings_convert_to_base_units(text, dim, expected):
    assert math.isclose(parse_quantity(text, dim), expected, rel_tol=1e-12)


@pytest.mark.parametrize("text,dim,words", [
    ("0.5 mg/day", units.FLOW, "dose rate"),
    ("-1 mL", units.VOLUME, "negative"),
    ("nan mL", units.VOLUME, "finite"),
    ("inf mL", units.VOLUME, "finite"),
    ("1e999 mL", units.VOLUME, "too large"),
    ("5", units.VOLUME, "no unit"),
    ("5 mls", units.VOLUME, "unknown unit"),
    ("5 mL/month", units.FLOW, "durations only"),
    ("5 %/day", units.FLOW, "ratio"),
    ("five mL", units.VOLUME, "cannot read"),
    (".5 mL", units.VOLUME, "cannot read"),
    ("5 mg/mL/day", units.CONCENTRATION, "cannot read unit"),
])
def test_bad_quantities_say_what_is_wrong(text, dim, words):
    with pytest.raises(QuantityError) as e:
        parse_quantity(text, dim)
    assert words in e.value.message
    assert e.value.fix


def test_bare_number_is_refused_with_a_written_fix():
    with pytest.raises(QuantityError) as e:
        parse_quantity(0.5, units.FLOW)
    assert "bare number" in e.value.message and '"0.5' in e.value.fix


def test_unknown_unit_suggests_the_nearest():
    with pytest.raises(QuantityError) as e:
        parse_quantity("5 mgs/mL", units.CONCENTRATION)
    assert "'mg'" in e.value.fix


# --------------------------------------------------------------------------- exact durations
@pytest.mark.parametrize("text,expected", [
    ("0.1 h", 360),                 # 0.1 x 3600: 360.00000000000006 in binary, exactly 360 here
    ("1.5 min", 90),
    ("4 h", 4 * HOUR),
    ("0.2 day", 17280),             # 0.2 x 86400
    ("1e-1 h", 360),
    ("1_0 min", 10 * MINUTE),
    ("1 week", 7 * DAY),
    ("1 month", 30 * DAY),
    ("0.3 day", 25920),             # 0.3 x 86400 = 25919.999999999996 in binary
    ("2.4 h", 8640),                # 2.4 x 3600 = 8640.000000000002 in binary
    ("0 min", 0),
])
def test_durations_are_exact_whole_seconds(text, expected):
    got = parse_duration(text)
    assert got == expected and type(got) is int


def test_a_duration_finer_than_a_second_stays_a_float():
    assert parse_duration("0.001 min") == 0.06 and isinstance(parse_duration("0.001 min"), float)
    assert parse_duration("0.5 min") == 30                   # 30 s: whole


def test_six_lockouts_of_a_sixth_of_a_day_are_exactly_one_day():
    # the bug of issue 13 in float days: 6 x (1/6) < 1
    assert sum([4 / 24] * 6) < 1.0
    assert sum([parse_duration("4 h")] * 6) == DAY
    assert 3 * parse_duration("8 h") == DAY and 72 * parse_duration("20 min") == DAY
    assert 16 * parse_duration("1.5 h") == DAY


@pytest.mark.parametrize("text,words", [("5 mL", "takes a duration"), ("5 mL/day", "takes a duration"),
                                        ("-1 h", "negative"), ("1e999 day", "too large"), ("6 hours", "unknown unit")])
def test_bad_durations_say_what_is_wrong(text, words):
    with pytest.raises(QuantityError) as e:
        parse_duration(text)
    assert words in e.value.message and e.value.fix


@pytest.mark.parametrize("seconds,text", [
    (90 * DAY, "90 day"), (4 * HOUR, "4 h"), (90, "1.5 min"), (20 * MINUTE, "20 min"),
    (1.5 * HOUR, "90 min"), (36 * HOUR, "36 h"), (0, "0 day"), (45, "0.75 min"), (2.25 * HOUR, "135 min"),
    (0.06, "0.001 min"), (1.5 * DAY + 30, "2160.5 min"), (5400.5625, "90.009375 min"),
])
def test_durations_are_written_back_exactly(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_body_weight_and_doses_per_kg():
    from pumpsim.model.units import BODY_WEIGHT, DOSE_PER_WEIGHT, DOSE_RATE_PER_WEIGHT, FRACTION, MASS
    assert parse_quantity("70 kg", BODY_WEIGHT) == 70.0
    assert parse_quantity("0.35 mg/kg", DOSE_PER_WEIGHT) == 0.35
    assert parse_quantity("0.5 mg/kg/day", DOSE_RATE_PER_WEIGHT) == 0.5
    assert parse_quantity("2 mg/kg/h", DOSE_RATE_PER_WEIGHT) == 48.0  # per day: 2 x 24
    assert parse_quantity("500 mcg/kg/day", DOSE_RATE_PER_WEIGHT) == 0.5
    with pytest.raises(QuantityError, match="is a body weight, but this field takes a mass"):
        parse_quantity("70 kg", MASS)  # a patient's weight is no dose
    with pytest.raises(QuantityError, match="is a dose per body weight, but this field takes a percentage"):
        parse_quantity("5 mg/kg", FRACTION)
    with pytest.raises(QuantityError, match="cannot read unit"):
        parse_quantity("1 mg/mL/day", DOSE_RATE_PER_WEIGHT)  # three parts only as a/kg/b
