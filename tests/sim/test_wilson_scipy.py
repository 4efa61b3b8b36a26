"""The hand-written Wilson interval of pumpsim.sim.montecarlo gives scipy's numbers.

scipy.stats is not imported by `pumpsim simulate` (about a second of start-up), so the interval is
written out in stats.wilson; here it is compared with
``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, and its exact ends are checked.
"""
from __future__ import annotations

import pytest
from scipy.stats import binomtest

from pumpsim.sim.stats import wilson

CASES = [(k, n) for n in (1, 2, 3, 7, 10, 100, 999, 2000, 20_000, 1_000_000)
         for k in sorted({0, 1, 2, n // 7, n // 3, n // 2, n - 2, n - 1, n}) if 0 <= k <= n]


@pytest.mark.parametrize(("k", "n"), CASES)
def test_same_numbers_as_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_exact_ends():
    # k = 0: the lower bound is 0 exactly; k = n: the upper bound is 1 exactly (no invented risk)
    assert wilson(0, 20_000)[0] == 0.0 and wilson(20_000, 20_000)[1] == 1.0
    # hand-derived: k = 0, z^2 = 3.8415: upper = z^2 / (n + z^2) = 3.8415 / 20003.8415
    assert wilson(0, 20_000)[1] == pytest.approx(1.959963984540054 ** 2 / (20_000 + 1.959963984540054 ** 2), rel=1e-12)
    assert wilson(0, 0) == (0.0, 1.0)
