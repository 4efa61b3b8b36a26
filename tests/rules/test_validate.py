"""validate end to end: the shipped scenarios have the verdicts they are meant to have, the
simulated rules fire with their numbers, and the report does not depend on the units written."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from pumpsim.io.tables import read_table
from pumpsim.rules.validate import validate
from tests.conftest import REPO, parse
from tests.strategies.tables import table_specs, to_toml

BROKEN = sorted((REPO / "scenarios" / "broken").glob("*.toml"))
GOOD = sorted((REPO / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_each_broken_scenario_fails_on_the_rule_it_is_named_after(path: Path):
    rep = validate(*read_table(path))
    hard = {v.rule for v in rep.violations if v.severity == "hard"}
    assert path.stem.upper() in hard
    assert rep.verdict == "fail" and rep.exit_status == 1
    assert "CROSS-CHECK" not in hard


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_clinical_scenarios_have_no_hard_violation(path: Path):
    rep = validate(*read_table(path))
    assert [v.rule for v in rep.violations if v.severity == "hard"] == []
    assert rep.exit_status == 0


def test_refill_empty_says_how_long_the_patient_goes_without():
    rep = validate(*read_table(REPO / "scenarios" / "broken" / "refill-empty.toml"))
    (v,) = [v for v in rep.violations if v.rule == "REFILL-EMPTY"]
    # 20 mL at 0.5 mL/day from 2026-12-01T09:00 is empty on 2027-01-10T09:00; the refill is on the 12th
    assert v.at == "2027-01-10T09:00:00" and v.value == pytest.approx(2.0) and v.unit == "day"
    assert rep.reservoir["nominal"] == {"low_alarm_at": "2027-01-06T09:00:00", "empty_at": "2027-01-10T09:00:00"}


def test_late_refill_warns_but_passes():
    rep = validate(*read_table(REPO / "scenarios" / "late-refill.toml"))
    assert rep.verdict == "warn"
    assert {v.rule for v in rep.violations} == {"REFILL-LOW-ALARM", "REFILL-EMPTY-WORST"}
    # worst case: 20 mL at 0.5 x 1.145 mL/day: empty after 20 / 0.5725 = 34.934 days, i.e.
    # 2026-12-01T09:00 + 34 days = 2027-01-04T09:00, + 0.934 day (22 h 25 min 41 s)
    assert rep.reservoir["worst"]["empty_at"] == "2027-01-05T07:25:41"


def test_dose_max_includes_the_dead_volume_flush():
    rep = validate(*read_table(REPO / "scenarios" / "concentration-change.toml"))
    m = rep.drugs["morphine"]
    # 12 mg/day plus the 0.2 mL of 20 mg/mL flushed by 5 mg/mL: 0.2 x (20 - 5) = 3 mg more, as
    # programmed: 15 mg, exactly the soft ceiling (15 mg/day), not above it
    assert m["max_24h_dose_programmed"] == pytest.approx(12 + 3.0)
    assert [v for v in rep.violations if v.rule.startswith("DOSE-MAX")] == []
    # the worst case pushes 1.145 x 2.4 mL in the 24 h, the flush first: 12 x 1.145 + 3 mg
    assert m["max_24h_dose"] == pytest.approx(12 * 1.145 + 3.0)


def _report(text: str) -> dict:
    t, p = parse(text)
    d = validate(t, p).as_json()
    d.pop("table", None)
    return d


def _words(message: str) -> str:
    return re.sub(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?", lambda m: f"{float(m.group(0)):.3g}", message)


def _same(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    elif path.endswith(".message"):
        # numbers in prose are printed to 4-6 digits: compare the words and each number to 3 digits
        assert _words(a) == _words(b), path
    else:
        assert a == b, path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_specs())
def test_the_same_table_in_other_units_gives_the_same_report(spec):
    _same(_report(to_toml(spec)), _report(to_toml(spec, alt_units=True)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_specs(devices=("synchromed-ii-20", "synchromed-ii-40", "prometra-ii-20")))
def test_the_same_program_in_another_layout_gives_the_same_report(spec):
    # a simple rate and a one-step flex schedule from 00:00 are the same program
    _same(_report(to_toml(spec)), _report(to_toml(spec, steps_layout=True)))


SIMULATED_IN_WORDS = ("REFILL-EMPTY", "REFILL-EMPTY-WORST", "REFILL-LOW-ALARM", "DOSE-MAX")


def test_simulated_rules_say_when_and_how_much_in_their_message():
    seen = set()
    for path in GOOD + BROKEN:
        rep = validate(*read_table(path))
        for v in rep.violations:
            seen.add(v.rule)
            _say_when_and_how_much(rep, v)
    # the corpus holds every one of these rules, so each check below ran at least once
    assert set(SIMULATED_IN_WORDS) <= seen, set(SIMULATED_IN_WORDS) - seen


def _say_when_and_how_much(rep, v) -> None:
    assert isinstance(v.message, str) and v.message
    if v.rule in SIMULATED_IN_WORDS:
        assert v.at and v.at in v.message, (v.rule, v.message)
    if v.rule == "REFILL-EMPTY-WORST":
        acc = rep.table.device.accuracy.value * 100
        assert f"pump {acc:g} % fast" in v.message
    if v.rule == "REFILL-LOW-ALARM":
        assert v.message.endswith("before the next refill")
    if v.rule == "DOSE-MAX":
        assert f"above the {v.severity} ceiling" in v.message and v.drug in v.message


def test_a_ziconotide_start_is_judged_by_zic_start_not_as_a_step():
    t, p = parse("""
schema = "pumpsim.table/1"
horizon = "10 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2027-01-01T09:00:00
refill = { volume = "20 mL", mix = { ziconotide = "25 mcg/mL" } }
rate = "0.144 mL/day"
""")
    # 25 x 0.144 = 3.6 mcg/day: above the 2.4 start limit (ZIC-START), but a start is not a step
    rules = {v.rule for v in validate(t, p).violations}
    assert "ZIC-START" in rules and "ZIC-STEP" not in rules


def _rules(text: str):
    t, p = parse(text)
    return validate(t, p)


PUMP = """
schema = "pumpsim.table/1"
horizon = "{h}"
[pump]
model = "synchromed-ii-20"
low_alarm = "2 mL"
"""


def test_reservoir_rules_name_their_session_source_and_case():
    rep = validate(*read_table(REPO / "scenarios" / "broken" / "refill-empty.toml"))
    by = {v.rule: v for v in rep.violations}
    empty, worst, low = by["REFILL-EMPTY"], by["REFILL-EMPTY-WORST"], by["REFILL-LOW-ALARM"]
    assert (empty.session, worst.session, low.session) == (1, 1, 1)
    assert empty.source == rep.table.device.reservoir.source and worst.source == rep.table.device.accuracy.source
    assert "with an exact pump and no bolus" in empty.message and "until the refill of session[2]" in empty.message


def test_a_pump_dry_at_the_end_says_so():
    rep = _rules(PUMP.format(h="30 day") + """
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "10 mL", mix = { morphine = "1 mg/mL" } }
rate = "1 mL/day"
[[session]]
at = 2027-01-31T00:00:00
refill = { volume = "10 mL", mix = { morphine = "1 mg/mL" } }
""")
    # empty at day 10; the refill at day 30 is the horizon's end, outside the simulation
    (v,) = [v for v in rep.violations if v.rule == "REFILL-EMPTY"]
    assert v.value == pytest.approx(20.0) and "until the end of the horizon" in v.message


def test_a_refill_already_at_the_low_alarm_counts_at_its_own_session():
    rep = _rules(PUMP.format(h="20 day") + """
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "10 mL", mix = { morphine = "1 mg/mL" } }
rate = "0.1 mL/day"
[[session]]
at = 2027-01-06T00:00:00
refill = { volume = "1.5 mL", mix = { morphine = "1 mg/mL" } }
""")
    (v,) = [v for v in rep.violations if v.rule == "REFILL-LOW-ALARM"]
    assert v.at == "2027-01-06T00:00:00" and v.session == 2


def test_dose_max_names_the_session_in_force_at_the_end_of_the_window():
    rep = _rules(PUMP.format(h="5 day") + """
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }
rate = "2 mL/day"
[[session]]
at = 2027-01-02T00:00:00
rate = "0.5 mL/day"
[[session]]
at = 2027-01-02T12:00:00
rate = "0.4 mL/day"
""")
    # 20 mg/day programmed on the first day only (above the soft 15 mg/day): the worst window is
    # [day 0, day 1), which ends exactly when session 2 lowers the rate: it belongs to session 1
    (v,) = [v for v in rep.violations if v.rule == "DOSE-MAX"]
    assert v.at == "2027-01-01T00:00:00" and v.session == 1 and v.value == pytest.approx(20.0)
    assert v.severity == "soft" and rep.drugs["morphine"]["max_24h_dose"] == pytest.approx(22.9)


def test_ziconotide_added_later_is_a_start_not_a_step():
    rep = _rules(PUMP.format(h="20 day") + """
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "0.144 mL/day"
[[session]]
at = 2027-01-10T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL", ziconotide = "25 mcg/mL" } }
""")
    rules = {v.rule for v in rep.violations}
    # 25 x 0.144 = 3.6 mcg/day from session 2: above the 2.4 start limit, and not a step
    assert "ZIC-START" in rules and "ZIC-STEP" not in rules
