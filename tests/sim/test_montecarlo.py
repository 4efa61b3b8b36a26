"""`pumpsim simulate`: probabilities derived by hand, and numbers that do not depend on the
number of workers or the chunk size."""
from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from pumpsim.cli.main import main
from pumpsim.kernels.rng import stream, uniform
from pumpsim.model.timebase import DAY
from pumpsim.sim import montecarlo, stats
from tests.conftest import parse

HEAD = """
schema = "pumpsim.table/1"
horizon = "{h}"
[pump]
model = "synchromed-ii-20"
low_alarm = "2 mL"
"""


TWO_FILLS = """
[[session]]
at = 2027-01-01T00:00:00
refill = {{ volume = "20 mL", mix = {{ morphine = "1 mg/mL" }} }}
rate = "1 mL/day"
[[session]]
at = {second}
refill = {{ volume = "20 mL", mix = {{ morphine = "1 mg/mL" }} }}
[variability]
{var}
"""


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def within(p_hat: float, p: float, n: int, sigmas: float = 4.0) -> bool:
    """p_hat within `sigmas` binomial standard deviations of p (the seed is fixed: not flaky)."""
    return abs(p_hat - p) <= sigmas * math.sqrt(p * (1 - p) / n)


def test_normal_accuracy_factor_against_a_fixed_refill_date():
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(
        second="2027-01-20T00:00:00", var='pump_accuracy = { dist = "normal", sd = "5 %", clip = "14.5 %" }'))
    mc = montecarlo.run(t, prof, runs=40_000, seed=3)
    # dry before the day-19 refill iff 19 f >= 20, f = 1 + x, x ~ N(0, 0.05) (the clip at
    # 14.5 % is 2.9 sd away and changes nothing here): P = 1 - Phi((20/19 - 1) / 0.05) = 0.1463
    p = 1.0 - phi((20 / 19 - 1) / 0.05)
    (s, _, before), = mc.empty_before
    assert s == 2 and within(before.p, p, 40_000)
    lo, hi = before.ci
    assert lo < p < hi or within(before.p, p, 40_000, 3.0)
    # after the refill 20 mL at most 1.145 mL/day last more than the 11 days left
    assert mc.p_empty.k == before.k


def test_uniform_refill_delay():
    t, prof = parse(HEAD.format(h="30 day") + """
[[session]]
at = 2027-01-01T08:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "1 mL/day"
[[session]]
at = 2027-01-20T08:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
[[session]]
at = 2027-01-28T08:00:00
rate = "1 mL/day"
[variability]
refill_delay = { dist = "uniform", low = "0 day", high = "4 day" }
""")
    mc = montecarlo.run(t, prof, runs=40_000, seed=5)
    # exact pump: empty at day 20; the refill booked at day 19 comes at 19 + U(0, 4): dry iff
    # the delay exceeds 1 day, P = 3/4
    assert within(mc.p_empty.p, 0.75, 40_000)
    # the volume left before that refill is max(0, 1 - delay) mL: P(left <= r) = 1 - (1 - r)/4,
    # so the median is 0 and the 87.5 % quantile is 0.5 mL
    h = mc.residual[2]
    assert h.quantile(0.5) == pytest.approx(0.0, abs=2 * h.bin_width)
    assert h.quantile(0.875) == pytest.approx(0.5, abs=2 * h.bin_width + 0.02)


def test_poisson_boluses_over_the_hard_ceiling():
    t, prof = parse(HEAD.format(h="1 day") + """
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "20 mL", mix = { bupivacaine = "10 mg/mL" } }
rate = "1 mL/day"
bolus = { volume = "0.1 mL", lockout = "0 min", max_per_24h = 1440 }
[variability]
bolus_requests = { dist = "poisson", per_day = 5.0 }
""")
    mc = montecarlo.run(t, prof, runs=40_000, seed=9)
    # one day: 10 mg basal + 1 mg a bolus, N ~ Poisson(5) boluses; the hard ceiling 20 mg/day
    # is passed iff N >= 11: P = 1 - sum_{k <= 10} e^-5 5^k / k!
    p = 1.0 - sum(math.exp(-5.0) * 5.0**k / math.factorial(k) for k in range(11))
    assert within(mc.p_over_hard["bupivacaine"].p, p, 40_000)
    # and the median 24 h dose is 10 + median(N) = 15 mg
    assert mc.max24["bupivacaine"].quantile(0.5) == pytest.approx(15.0, abs=0.6)


VAR = "scenarios/variability-late-refills.toml"


@pytest.mark.parametrize("workers,chunk", [(1, 4096), (2, 1000), (2, 777)])
def test_same_numbers_for_any_workers_and_chunks(workers, chunk):
    from pumpsim.io.tables import read_table
    from tests.conftest import REPO

    t, prof = read_table(REPO / VAR)
    base = montecarlo.run(t, prof, runs=3000, seed=1, workers=2, chunk=3000)
    other = montecarlo.run(t, prof, runs=3000, seed=1, workers=workers, chunk=chunk)
    assert json.dumps(other.risk_json(t), sort_keys=True) == json.dumps(base.risk_json(t), sort_keys=True)
    # the fan chart too: integer counts per instant and volume bin, merged exactly
    assert np.array_equal(other.fan.counts, base.fan.counts) and other.fan.counts.sum() == 3000 * 241
    for q in stats.QUANTILES:
        assert np.array_equal(other.fan.quantiles[q], base.fan.quantiles[q])


def test_a_run_depends_on_seed_and_index_only():
    a, b = stream(1, 10), stream(1, 10)
    assert [uniform(a) for _ in range(5)] == [uniform(b) for _ in range(5)]
    assert uniform(stream(1, 10)) != uniform(stream(1, 11)) != uniform(stream(2, 10))


def test_simulate_command_json_has_the_risk_of_the_contract(capsys):
    from tests.conftest import REPO

    assert main(["simulate", str(REPO / VAR), "--runs", "2000", "--seed", "4", "--format", "json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    risk = out["risk"]
    assert risk["runs"] == 2000 and 0.0 < risk["p_empty"] < 1.0
    assert set(risk["p_over_hard_limit"]) == {"morphine", "bupivacaine"}
    assert out["verdict"] == "warn"  # validate's checks are applied too (REFILL-EMPTY-WORST)


def test_wilson_interval():
    # k = 0 of 20000: upper bound about 3.84 / 20000
    lo, hi = stats.wilson(0, 20_000)
    assert lo == 0.0 and hi == pytest.approx(1.9207e-4, rel=1e-3)
    lo, hi = stats.wilson(50, 100)
    assert (lo, hi) == pytest.approx((0.4038, 0.5962), abs=1e-4)


def test_missed_refill():
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(
        second="2027-01-16T00:00:00", var='missed_refill = { dist = "bernoulli", p = 0.2 }'))
    mc = montecarlo.run(t, prof, runs=40_000, seed=21)
    # the day-15 refill is skipped with p = 0.2; then 20 mL at 1 mL/day run dry at day 20
    assert within(mc.p_empty.p, 0.2, 40_000)


def test_mri_stalls_delay_the_empty_pump():
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(
        second="2027-01-21T12:00:00",
        var='mri_stalls = { dist = "poisson", per_year = 18.2625, recovery_low = "1 day", recovery_high = "1 day" }'))
    mc = montecarlo.run(t, prof, runs=40_000, seed=22)
    # empty at day 20, refill at 20.5: dry unless a stall (1 day, rate 18.2625/365.25 = 0.05 a day)
    # starts while the pump runs, in [0, 20): P(dry) = exp(-0.05 x 20) = 0.3679
    assert within(mc.p_empty.p, math.exp(-1.0), 40_000)


def test_fever_speeds_up_a_constant_flow_pump():
    t, prof = parse("""
schema = "pumpsim.table/1"
horizon = "40 day"
[pump]
model = "constant-flow-30"
accuracy = "10 %"
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "30 mL", mix = { morphine = "1 mg/mL" } }
rate = "1 mL/day"
[[session]]
at = 2027-01-30T12:00:00
refill = { volume = "30 mL", mix = { morphine = "1 mg/mL" } }
[variability]
fever = { dist = "poisson", per_year = 7.305, duration_low = "2 day", duration_high = "2 day", flow_increase = "50 %" }
""")
    mc = montecarlo.run(t, prof, runs=40_000, seed=23)
    # 0.5 mL left at the day-29.5 refill; a 2-day fever at +50 % starting at s uses
    # 0.5 x min(2, 29.5 - s) mL more: dry iff one starts before 28.5 (episodes never overlap).
    # Starts at 7.305/365.25 = 0.02 a day: P = 1 - exp(-0.02 x 28.5) = 0.4345
    assert within(mc.p_empty.p, 1.0 - math.exp(-0.02 * 28.5), 40_000)


def test_hourly_profile_puts_requests_in_their_hours():
    from pumpsim.kernels.draws import draw_requests
    w = np.zeros(24)
    w[2] = 24.0  # every request between 02:00 and 03:00
    day = 86400.0
    times = draw_requests(stream(5, 0), 3.0 / day, 1000.0 * day, w, 0.25 * day, float(day))  # t = 0 is 06:00 [s]
    hours = np.floor(((0.25 * day + times) % day) / 3600.0)
    assert set(hours.tolist()) == {2.0}
    # the daily count keeps its mean: Poisson(3 x 1000) within 4 sd
    assert abs(len(times) - 3000) <= 4 * math.sqrt(3000)


def test_a_dask_local_cluster_gives_the_same_numbers():
    pytest.importorskip("dask.distributed", reason="the test extra installs dask[distributed]")
    from pumpsim.io.tables import read_table
    from tests.conftest import REPO

    t, prof = read_table(REPO / VAR)
    here = montecarlo.run(t, prof, runs=3000, seed=8, chunk=700)
    there = montecarlo.run(t, prof, runs=3000, seed=8, chunk=700, dask="local", workers=2)
    assert json.dumps(there.risk_json(t), sort_keys=True) == json.dumps(here.risk_json(t), sort_keys=True)
    assert np.array_equal(there.fan.counts, here.fan.counts)


def test_discrete_refill_delay():
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(
        second="2027-01-20T00:00:00",
        var='refill_delay = { dist = "discrete", values = ["0 day", "12 h", "2 day"], p = [0.5, 0.2, 0.3] }'))
    mc = montecarlo.run(t, prof, runs=40_000, seed=24)
    # empty at day 20, refill booked at day 19: dry only with the 2-day delay, P = 0.3
    assert within(mc.p_empty.p, 0.3, 40_000)


def test_generators_match_their_published_sequences():
    import numpy as np
    from numba import njit, uint64

    from pumpsim.kernels.rng import next_u64, splitmix64

    # xoshiro256** from the state (1, 2, 3, 4) (reference implementation by Blackman and Vigna)
    s = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert [int(next_u64(s)) for _ in range(4)] == [11520, 0, 1509978240, 1215971899390074240]

    @njit
    def split(seed, n):
        x = uint64(seed)
        out = np.empty(n, np.uint64)
        for i in range(n):
            x, out[i] = splitmix64(x)
        return out

    # SplitMix64 from 1234567 (the reference test vector)
    assert [int(v) for v in split(1234567, 3)] == [6457827717110365317, 3203168211198807973, 9817491932198370423]


@pytest.mark.parametrize("name", ["variability-late-refills.toml", "mri-stall.toml", "constant-flow-fever.toml"])
def test_the_reference_engine_gives_the_same_monte_carlo_numbers(name):
    from pumpsim.io.tables import read_table
    from tests.conftest import REPO

    t, prof = read_table(REPO / "scenarios" / name)
    fast = montecarlo.run(t, prof, runs=40, seed=2).risk_json(t)
    slow = montecarlo.run(t, prof, runs=40, seed=2, engine="reference").risk_json(t)
    assert json.dumps(slow, sort_keys=True) == json.dumps(fast, sort_keys=True)


def test_missed_refills_and_discrete_delays_through_the_reference_engine():
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(
        second="2027-01-16T00:00:00",
        var='missed_refill = { dist = "bernoulli", p = 0.3 }\n'
            'refill_delay = { dist = "discrete", values = ["0 day", "6 day"], p = [0.5, 0.5] }'))
    fast = montecarlo.run(t, prof, runs=200, seed=6).risk_json(t)
    slow = montecarlo.run(t, prof, runs=200, seed=6, engine="reference").risk_json(t)
    assert json.dumps(slow, sort_keys=True) == json.dumps(fast, sort_keys=True)
    # dry iff missed (0.3) or, if not, delayed 6 days (to day 21 > 20): 0.3 + 0.7 x 0.5 = 0.65
    assert within(fast["p_empty"], 0.65, 200, 4.0)


# ---------------------------------------------------------------- the fan chart of the reservoir
def test_grid_sampling_takes_the_state_after_a_jump_in_both_implementations():
    from pumpsim.kernels.montecarlo import sample_grid

    # filled to 20 mL at t = 0 (a row before, one after), 1 mL/day, a 8 mL bolus at day 2
    t = np.array([0.0, 0.0, 1.0, 2.0, 2.0, 3.0])
    v = np.array([0.0, 20.0, 19.0, 18.0, 10.0, 9.0])
    grid = np.array([0.0, 0.5, 2.0, 2.5, 3.0, 4.0])
    expected = [20.0, 19.5, 10.0, 9.5, 9.0, 9.0]  # past the last breakpoint: its value
    out = np.full((2, 6), np.nan)
    sample_grid(t, v, len(t), grid, out, 1)
    assert out[1].tolist() == expected and np.isnan(out[0]).all()
    assert montecarlo.sample_volume(t, v, grid).tolist() == expected


def test_fan_without_variability_is_the_nominal_true_volume():
    from pumpsim.model.results import Scenario
    from pumpsim.sim import engine

    # the second fill at day 19 (grid point 152 of 241 over 30 days): the reservoir is
    # 20 - t mL, 1.125 mL at day 18.875, and full again at day 19 (the state after the refill)
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(second="2027-01-20T00:00:00", var="seed = 1"))
    mc = montecarlo.run(t, prof, runs=64, seed=1, chunk=50)
    fan = mc.fan
    assert fan.t == pytest.approx(np.linspace(0.0, 30 * DAY, 241), rel=1e-12, abs=1e-6)  # [s]
    assert fan.resolution == 20.0 / 500
    nominal = engine.simulate(t, Scenario.nominal())
    expected = montecarlo.sample_volume(nominal.t, nominal.volume_true, fan.t)
    assert expected[151] == pytest.approx(1.125) and expected[152] == pytest.approx(20.0)
    for q in stats.QUANTILES:  # every run is the nominal one: all in one bin
        assert np.abs(fan.quantiles[q] - expected).max() <= fan.resolution
    assert (fan.counts.max(axis=1) == 64).all()


def test_fan_of_a_normal_accuracy_factor_matches_its_quantiles():

    # no boluses, no delays: V(t) = 20 - f t with f = 1 + x, x ~ N(0, 0.05) (the 14.5 % clip is
    # 2.9 sd away, beyond every band), so the q-quantile of V(t) is 20 - t (1 + 0.05 z_(1-q)),
    # up to day 16 (then the fastest 5 % of pumps still hold 20 - 16 x 1.082 = 2.7 mL)
    runs, sd = 20_000, 0.05
    t, prof = parse(HEAD.format(h="30 day") + TWO_FILLS.format(
        second="2027-01-20T00:00:00", var='pump_accuracy = { dist = "normal", sd = "5 %", clip = "14.5 %" }'))
    fan = montecarlo.run(t, prof, runs=runs, seed=31).fan
    days = fan.t[fan.t <= 16.0]
    for q in stats.QUANTILES:
        z = NormalDist().inv_cdf(1.0 - q)
        expected = 20.0 - days * (1.0 + sd * z)
        # one bin, and 4 standard errors of a sample quantile: sqrt(q (1 - q) / n) / pdf(z) in z
        se = days * sd * math.sqrt(q * (1.0 - q) / runs) / NormalDist().pdf(z)
        got = fan.quantiles[q][: len(days)]
        assert (np.abs(got - expected) <= fan.resolution + 4.0 * se + 1e-12).all(), q
    # the bands widen with time: 5-95 % spans 2 x 1.645 x 0.05 x t mL
    spread = fan.quantiles[0.95] - fan.quantiles[0.05]
    assert spread[128] == pytest.approx(2 * 1.6449 * 0.05 * 16.0, abs=2 * fan.resolution + 0.05)


def test_the_reference_engine_gives_the_same_fan():
    from pumpsim.io.tables import read_table
    from tests.conftest import REPO

    t, prof = read_table(REPO / VAR)
    fast = montecarlo.run(t, prof, runs=300, seed=12).fan
    slow = montecarlo.run(t, prof, runs=300, seed=12, engine="reference").fan
    assert fast.counts.sum() == slow.counts.sum() == 300 * 241
    for q in stats.QUANTILES:
        assert np.abs(fast.quantiles[q] - slow.quantiles[q]).max() <= fast.resolution
    # and the fan is not in the risk JSON (the golden regression files compare that JSON)
    assert "fan" not in json.dumps(montecarlo.run(t, prof, runs=10, seed=12).risk_json(t))
