"""The rounding of a planned refill (:mod:`pumpsim.planning.rounding`): decimal, at the step and
one step past it, data with sources."""
from __future__ import annotations

import pytest

from pumpsim.planning.rounding import rounding_for, to_figures, to_step
from tests.conftest import parse


@pytest.mark.parametrize("x,mode,out", [
    (11.44999999, "nearest", 11.4), (11.45, "nearest", 11.4), (11.4500001, "nearest", 11.5),  # ties to even
    (11.41, "up", 11.5), (11.49, "down", 11.4), (11.4, "up", 11.4), (11.4, "down", 11.4),      # on the grid: kept
    (0.0009876, "nearest", 0.000988), (98760.0, "nearest", 98800.0), (0.0, "nearest", 0.0),
])
def test_three_significant_figures(x, mode, out):
    assert to_figures(x, 3, mode) == out


@pytest.mark.parametrize("x,mode,out", [
    (0.1746724893, "nearest", 0.175), (0.1746724893, "down", 0.174), (0.1745, "nearest", 0.174),
    (0.048, "down", 0.048), (0.048, "up", 0.048), (0.0480001, "up", 0.049), (0.0479999, "down", 0.047),
])
def test_a_rate_to_the_resolution(x, mode, out):
    assert to_step(x, 0.001, mode) == out
    assert repr(out) == repr(float(f"{out}"))  # the text written reads back as the value judged


def test_the_data_carry_their_sources():
    t, p = parse('schema = "pumpsim.table/1"\n[pump]\nmodel = "synchromed-ii-20"\n[[session]]\n'
                 'at = 2026-12-01T09:00:00\nrefill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }\n'
                 'rate = "0.5 mL/day"\n')
    R = rounding_for(t, p)
    assert R.rate_resolution.value == pytest.approx(0.001) and not R.rate_resolution.verified
    assert R.figures.value == 3 and not R.figures.verified and "engineering default" in R.figures.source
    assert R.concentration("morphine", 11.44999999) == 11.4 and R.rate(0.1746724893) == 0.175
    # a positive rate never rounds to 0 mL/day
    assert R.rate(0.0004) == 0.001
