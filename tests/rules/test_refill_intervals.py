"""REFILL-EMPTY, REFILL-EMPTY-WORST and REFILL-LOW-ALARM once per refill interval, at their first
instant in it (FORMAT.md §4), and the independent check agreeing interval by interval.

Common data: a SynchroMed II 20 mL (low alarm 2 mL, 14.5 % fast in the worst case), morphine
10 mg/mL, no bolus, refills of 20 mL. A reservoir of V mL at r mL/day empties after V / r days
(nominal) and V / (1.145 r) days (worst case); it reaches the low alarm after (V - 2) / r days.
"""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from pumpsim.rules import check, simulated
from pumpsim.rules.validate import validate
from tests.conftest import parse

START = dt.datetime(2026, 12, 1, 9, 0, 0)


def two_refills(rate1: str, rate2: str, second: str = "2027-01-01T09:00:00", horizon: str = "60 day") -> str:
    return textwrap.dedent(f"""
        schema = "pumpsim.table/1"
        horizon = "{horizon}"
        [pump]
        model = "synchromed-ii-20"
        [[session]]
        at = 2026-12-01T09:00:00
        refill = {{ volume = "20 mL", mix = {{ morphine = "10 mg/mL" }} }}
        rate = "{rate1}"
        [[session]]
        at = {second}
        refill = {{ volume = "20 mL", mix = {{ morphine = "10 mg/mL" }} }}
        rate = "{rate2}"
        """)


def at(days: float) -> str:
    return (START + dt.timedelta(seconds=round(days * 86400))).isoformat(timespec="seconds")


def found(report, rule: str) -> list[str]:
    return [v.at for v in report.violations if v.rule == rule]


def test_each_refill_interval_reports_its_own_empty_and_low_alarm():
    # interval 1 (day 0 to 31) at 0.7 mL/day: empty at 20 / 0.7 = 28.571 days, worst case at
    # 20 / (1.145 x 0.7) = 24.953, low alarm at 18 / 0.7 = 25.714; interval 2 (day 31 to 60) at
    # 0.75 mL/day: empty at 31 + 20 / 0.75 = 57.667, worst at 31 + 23.290 = 54.290 (5.71 days
    # without drug before the end), low alarm at 31 + 24 = 55 days
    t, p = parse(two_refills("0.7 mL/day", "0.75 mL/day"))
    r = validate(t, p)
    assert found(r, "REFILL-EMPTY") == [at(20 / 0.7), at(31 + 20 / 0.75)]
    assert found(r, "REFILL-EMPTY-WORST") == [at(20 / (1.145 * 0.7)), at(31 + 20 / (1.145 * 0.75))]
    assert found(r, "REFILL-LOW-ALARM") == [at(18 / 0.7), at(31 + 18 / 0.75)]
    worst2 = [v for v in r.violations if v.rule == "REFILL-EMPTY-WORST"][1]
    assert worst2.session == 2 and worst2.value == pytest.approx(29 - 20 / (1.145 * 0.75), rel=1e-9)
    # the JSON's reservoir keeps the first instant over the table (FORMAT.md §3)
    assert r.reservoir["worst"]["empty_at"] == at(20 / (1.145 * 0.7))
    assert "CROSS-CHECK" not in {v.rule for v in r.violations}


def test_only_the_second_interval_empties_in_the_worst_case_six_days_before_its_refill():
    # interval 1 at 0.5 mL/day lasts 18 / (1.145 x 0.5) = 31.4 days to the low alarm: nothing
    # before the refill at day 20. Interval 2 (day 20 to 50) at 0.63 mL/day: worst-case empty at
    # 20 + 20 / (1.145 x 0.63) = 47.726 days; the third refill at day 54 comes 6.27 days later.
    text = two_refills("0.5 mL/day", "0.63 mL/day", second="2026-12-21T09:00:00", horizon="54 day")
    text += textwrap.dedent("""
        [[session]]
        at = 2027-01-24T09:00:00
        refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }
        """)
    t, p = parse(text)
    r = validate(t, p)
    (v,) = [v for v in r.violations if v.rule == "REFILL-EMPTY-WORST"]
    assert v.at == at(20 + 20 / (1.145 * 0.63)) and v.session == 2
    assert v.value == pytest.approx(54 - 20 - 20 / (1.145 * 0.63), rel=1e-9) and "6.27 days" in v.message
    # nominal: 20 / 0.63 = 31.746 days, within the 34-day interval: empty at day 51.746
    assert found(r, "REFILL-EMPTY") == [at(20 + 20 / 0.63)]
    # low alarm: interval 1 at 18 / 0.5 = 36 > 20 (none); interval 2 at 20 + 18 / 0.63 = 48.571
    assert found(r, "REFILL-LOW-ALARM") == [at(20 + 18 / 0.63)]


def test_a_refill_before_the_alarm_leaves_that_interval_silent():
    # 18 mL at 0.6 mL/day reach the low alarm after 30 days: a refill one minute before leaves
    # interval 1 silent (and interval 2, 10 days at 0.5 mL/day, never reaches it); one minute
    # after, interval 1 reports it at day 30
    t, p = parse(two_refills("0.6 mL/day", "0.5 mL/day", second="2026-12-31T08:59:00", horizon="40 day"))
    assert found(validate(t, p), "REFILL-LOW-ALARM") == []
    t, p = parse(two_refills("0.6 mL/day", "0.5 mL/day", second="2026-12-31T09:01:00", horizon="40 day"))
    assert found(validate(t, p), "REFILL-LOW-ALARM") == [at(30)]


def test_the_independent_check_gives_the_same_instants_per_interval():
    t, _ = parse(two_refills("0.7 mL/day", "0.75 mL/day"))
    nominal = check.reservoir_per_interval(t, "nominal")
    worst = check.reservoir_per_interval(t, "worst")
    day = 86400
    assert [a for a, _, _ in nominal] == [0, 31 * day]
    assert [e for _, _, e in nominal] == pytest.approx([20 / 0.7 * day, (31 + 20 / 0.75) * day], abs=0.05)
    assert [lo for _, lo, _ in nominal] == pytest.approx([18 / 0.7 * day, (31 + 24) * day], abs=0.05)
    assert [e for _, _, e in worst] == pytest.approx([20 / (1.145 * 0.7) * day, (31 + 20 / (1.145 * 0.75)) * day], abs=0.05)


def test_a_simulator_wrong_in_a_later_interval_is_a_cross_check(monkeypatch):
    # the simulator's second-interval empty instant moved by one hour: the first instant over
    # the table still agrees, only the per-interval comparison can see it
    real = simulated.first_per_interval

    def late(table, r, level, first):
        out = real(table, r, level, first)
        return out[:1] + [x + 3600 for x in out[1:]]

    monkeypatch.setattr(simulated, "first_per_interval", late)
    t, p = parse(two_refills("0.7 mL/day", "0.75 mL/day"))
    r = validate(t, p)
    cc = [v for v in r.violations if v.rule == "CROSS-CHECK"]
    assert cc and all(v.severity == "hard" for v in cc) and r.exit_status == 1
    assert any("refill interval 2" in v.message for v in cc)
    assert not any("refill interval 1" in v.message for v in cc)


def test_one_day_is_singular():
    from pumpsim.rules.report import days

    assert (days(1), days(1.0), days(2), days(0.5), days(1.004, ".3g"), days(1.04, ".3g")) == \
        ("1 day", "1 day", "2 days", "0.5 days", "1 day", "1.04 days")
    # 20 mL at 1 mL/day empty at day 20, the refill at day 21: one day without drug
    t, p = parse(two_refills("1 mL/day", "0.1 mL/day", second="2026-12-22T09:00:00", horizon="30 day"))
    (v,) = [v for v in validate(t, p).violations if v.rule == "REFILL-EMPTY"]
    assert "no drug for 1 day until the refill of session[2]" in v.message and v.value == pytest.approx(1.0)
