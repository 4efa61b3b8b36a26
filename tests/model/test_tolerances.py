"""Numbers that a message compares are printed so that a reader can tell them apart."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pumpsim.model.tolerances import above, distinct


@pytest.mark.parametrize(("a", "b", "expected"), [
    (1.2, 1.19999999, ("1.2", "1.19999999")),          # the titrate message that once said "1.2 ... 1.2"
    (14.400000002, 14.4, ("14.400000002", "14.4")),
    (2.4, 7.2, ("2.4", "7.2")),                        # already apart: the short form
    (1 / 3, 2 / 3, ("0.3333", "0.6667")),              # 4 significant digits at least
    (12345678.0, 12345679.0, ("12345678", "12345679")),
    (0.1 + 0.2, 0.3, ("0.30000000000000004", "0.3")),  # apart only at the last digit of a double
    (1.2, 1.2, ("1.2", "1.2")),
])
def test_the_fewest_digits_that_tell_two_numbers_apart(a, b, expected):
    assert distinct(a, b) == expected


finite = st.floats(min_value=-1e300, max_value=1e300)  # far from overflow when rounded


@given(finite, finite)
def test_two_numbers_print_alike_only_when_they_are_equal(a, b):
    sa, sb = distinct(a, b)
    assert (sa == sb) == (a == b)
    for x, s in ((a, sa), (b, sb)):  # each is its number to 4 significant digits at least
        assert float(s) == x or abs(float(s) - x) <= 0.5 * 10.0 ** (math.floor(math.log10(abs(x))) - 3) * (1 + 1e-12)


@given(st.floats(min_value=1e-6, max_value=1e6), st.floats(min_value=-1e-6, max_value=1e-6))
def test_a_number_above_its_limit_is_never_printed_as_the_limit(limit, rel):
    value = limit * (1 + rel)
    if above(value, limit):
        a, b = distinct(value, limit)
        assert a != b
