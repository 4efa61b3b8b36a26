"""Hard dose ceilings judge what is programmed (DOSE-MAX); the pump's tolerance is a warning
(DOSE-MAX-WORST). docs/RULES.md §4, FORMAT.md §1, §3, §4. Every expected number is derived by hand
in the comment above its assertion."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from pumpsim.cli.main import main
from pumpsim.rules import check
from pumpsim.rules.validate import simulate_cases, validate
from pumpsim.sim import simulation
from tests.conftest import parse

T0 = dt.datetime(2026, 12, 1, 9, 0)
ZIC = 25.0  # [mcg/mL]
ACC = 1.145  # SynchroMed II: 14.5 % fast at the end of its tolerance


def zic_titration(doses: list[float], horizon: str = "20 day", bolus: str = "") -> str:
    """Ziconotide 25 mcg/mL on a SynchroMed II, one session every 48 h at each daily dose."""
    out = ['schema = "pumpsim.table/1"', f'horizon = "{horizon}"', "[pump]", 'model = "synchromed-ii-20"']
    for i, d in enumerate(doses):
        out += ["[[session]]", f"at = {(T0 + dt.timedelta(days=2 * i)).isoformat()}"]
        if i == 0:
            out.append(f'refill = {{ volume = "20 mL", mix = {{ ziconotide = "{ZIC:g} mcg/mL" }} }}')
        out.append(f'rate = "{d / ZIC:.10g} mL/day"')
    if bolus:
        out.append(bolus)
    return "\n".join(out) + "\n"


# HAS steps: 2.4 mcg/day, + 2.4 every 48 h, up to 20 mcg/day (the last step + 0.8)
HAS = [2.4, 4.8, 7.2, 9.6, 12.0, 14.4, 16.8, 19.2, 20.0]


def rules(rep, *names):
    return [v for v in rep.violations if v.rule in names]


def test_ziconotide_titrated_to_20_is_programmed_within_the_label_and_warned_for_the_tolerance(tmp_path, capsys):
    f = tmp_path / "zic.toml"
    f.write_text(zic_titration(HAS))
    assert main(["validate", str(f), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    z = out["drugs"]["ziconotide"]
    # programmed: 0.8 mL/day x 25 mcg/mL = 20 mcg in any 24 h from session 9 (no bolus, no change of mix)
    assert z["max_24h_dose_programmed"] == pytest.approx(20.0, rel=1e-9)
    # worst: 20 x 1.145 = 22.9 mcg, above the 21.6 mcg/day of the label
    assert z["max_24h_dose"] == pytest.approx(22.9, rel=1e-9)
    assert out["verdict"] == "warn"
    assert [v for v in out["violations"] if v["rule"] == "DOSE-MAX"] == []
    (v,) = [v for v in out["violations"] if v["rule"] == "DOSE-MAX-WORST"]
    assert v["severity"] == "soft" and v["drug"] == "ziconotide" and v["unit"] == "mcg/day"
    assert v["value"] == pytest.approx(22.9, rel=1e-9) and v["limit"] == pytest.approx(21.6)
    # the earliest worst window starts at session 9: day 16 = 2026-12-17T09:00
    assert v["at"] == "2026-12-17T09:00:00"
    # 21.6 / 1.145 = 18.8646 mcg/day keeps the fast pump within the ceiling
    assert v["message"] == ("the program gives at most 20 mcg in any 24 h; if the pump runs 14.5 % fast, as its "
                            "tolerance allows, 22.9 mcg: above the 21.6 mcg/day ceiling. Monitor, or program at "
                            "most 18.86 mcg/day to stay within it")
    assert "21.6 mcg/j" in v["source"] and "14.5 %" in v["source"]
    # the three cases: no bolus, so the programmed reservoir is the nominal one
    assert out["reservoir"]["programmed"] == out["reservoir"]["nominal"]


def test_exactly_at_the_ceiling_as_programmed_is_silent_and_just_above_is_hard():
    # 19.2 -> 21.6 is a step of 2.4 (allowed): 0.864 mL/day x 25 = 21.6 mcg, not above 21.6
    at, _ = parse(zic_titration(HAS[:-1] + [21.6]))
    rep = validate(at, _)
    assert rep.drugs["ziconotide"]["max_24h_dose_programmed"] == pytest.approx(21.6, rel=1e-9)
    assert rules(rep, "DOSE-MAX") == [] and rep.exit_status == 0
    # ... while the fast pump gives 21.6 x 1.145 = 24.732 mcg: a warning only
    (w,) = rules(rep, "DOSE-MAX-WORST")
    assert w.value == pytest.approx(21.6 * ACC, rel=1e-9)
    # 19.2 -> 19.3 -> 21.7 (steps of 0.1 and 2.4): 21.7 mcg programmed, above 21.6: hard, and no
    # DOSE-MAX-WORST (the programmed case itself breaks the ceiling)
    above, p = parse(zic_titration(HAS[:-1] + [19.3, 21.7], horizon="22 day"))
    rep = validate(above, p)
    (v,) = rules(rep, "DOSE-MAX", "DOSE-MAX-WORST")
    assert (v.rule, v.severity) == ("DOSE-MAX", "hard")
    assert v.value == pytest.approx(21.7, rel=1e-9) and v.limit == pytest.approx(21.6)
    # session 10 at day 18 = 2026-12-19T09:00
    assert v.at == "2026-12-19T09:00:00" and v.session == 10
    assert [x.rule for x in rep.violations if x.severity == "hard"] == ["DOSE-MAX"] and rep.exit_status == 1


def test_bupivacaine_at_19_under_pacc_is_only_a_tolerance_warning():
    t, p = parse("""
        schema = "pumpsim.table/1"
        profile = "pacc-2017"
        horizon = "14 day"
        [pump]
        model = "synchromed-ii-40"
        accuracy = "14.5 %"
        [[session]]
        at = 2026-12-01T09:00:00
        refill = { volume = "40 mL", mix = { bupivacaine = "10 mg/mL" } }
        rate = "1.9 mL/day"
        """)
    rep = validate(t, p)
    # programmed 1.9 x 10 = 19 mg/day, within the 20 mg/day hard ceiling of pacc-2017; the pump
    # 14.5 % fast gives 19 x 1.145 = 21.755 mg
    assert rep.drugs["bupivacaine"]["max_24h_dose_programmed"] == pytest.approx(19.0, rel=1e-9)
    (v,) = rules(rep, "DOSE-MAX", "DOSE-MAX-WORST")
    assert (v.rule, v.severity, v.at) == ("DOSE-MAX-WORST", "soft", "2026-12-01T09:00:00")
    assert v.value == pytest.approx(19 * ACC, rel=1e-9) and v.limit == pytest.approx(20.0)
    # 20 / 1.145 = 17.467 mg/day
    assert "program at most 17.47 mg/day" in v.message
    assert rep.exit_status == 0 and rep.verdict == "warn"


FLUSH = """
    schema = "pumpsim.table/1"
    horizon = "20 day"
    [pump]
    model = "synchromed-ii-40"
    [[session]]
    at = 2026-12-01T09:00:00
    refill = { volume = "40 mL", mix = { bupivacaine = "20 mg/mL" } }
    rate = "0.9 mL/day"
    [[session]]
    at = 2026-12-11T09:00:00
    refill = { volume = "40 mL", mix = { bupivacaine = "5 mg/mL" } }
    rate = "3.6 mL/day"
    """


def test_the_dead_volume_flush_is_programmed_and_can_break_a_hard_ceiling():
    t, p = parse(FLUSH)
    rep = validate(t, p)
    # 18 mg/day before and after (0.9 x 20 = 3.6 x 5); after the change the first 0.2 mL to leave
    # the tip is the old 20 mg/mL: 0.2 x 20 + 3.4 x 5 = 21 mg in [day 10, day 11), i.e. 18 + 0.2 x
    # (20 - 5) = 21 mg, above the 20 mg/day hard ceiling with an exact pump
    (v,) = rules(rep, "DOSE-MAX", "DOSE-MAX-WORST")
    assert (v.rule, v.severity) == ("DOSE-MAX", "hard")
    assert v.value == pytest.approx(18 + 0.2 * (20 - 5), rel=1e-9)
    # a window opening x days before the change holds 18 x x of the old basal and 3.6 (1 - x) mL
    # after it, the flush included, as long as the flush fits: 18 x + 4 + (3.6 (1 - x) - 0.2) x 5
    # = 21 for x <= 1 - 0.2 / 3.6; the earliest start is day 10 - 17/18 = day 9 + 1 h 20 min
    assert v.at == "2026-12-10T10:20:00"
    assert v.session == 2 and rep.exit_status == 1
    # without the flush the program would be within the ceiling (18 mg) and only the fast pump above it
    assert rep.drugs["bupivacaine"]["max_24h_dose_programmed"] == pytest.approx(21.0, rel=1e-9)


def test_the_check_recomputes_the_programmed_case():
    t, p = parse(zic_titration(HAS))
    # the closed-form check finds the same 20 mcg, and the worst case 22.9 mcg
    assert check.programmed_max_24h(t)["ziconotide"][0] == pytest.approx(20.0, rel=1e-9)
    assert check.worst_max_24h(t)["ziconotide"][0] == pytest.approx(22.9, rel=1e-9)
    flush, _ = parse(FLUSH)
    assert check.programmed_max_24h(flush)["bupivacaine"][0] == pytest.approx(21.0, rel=1e-9)


def test_a_wrong_programmed_case_is_a_cross_check_violation(monkeypatch):
    t, p = parse(zic_titration(HAS))
    assert rules(validate(t, p), "CROSS-CHECK") == []
    real = simulation.simulate  # the simulator validate uses (reference or kernel)

    def faulty(table, scenario):  # the programmed case loses 0.1 % of its dose; the others are right
        r = real(table, scenario)
        if (scenario.accuracy_factor, scenario.bolus) == (1.0, "greedy"):
            r = dataclasses.replace(r, dose=r.dose * 0.999)
        return r

    monkeypatch.setattr(simulation, "simulate", faulty)
    rep = validate(t, p)
    (v,) = rules(rep, "CROSS-CHECK")
    assert v.severity == "hard" and v.drug == "ziconotide"
    assert v.message.startswith("programmed max_24h_dose:")
    # 20 x 0.999 = 19.98 simulated, 20 by the check
    assert v.value == pytest.approx(19.98, rel=1e-9) and v.limit == pytest.approx(20.0, rel=1e-9)
    assert rep.exit_status == 1


def test_a_wrong_programmed_reservoir_is_a_cross_check_violation():
    t, _ = parse(FLUSH)
    c = simulate_cases(t)
    assert check.cross_check(t, c.nominal, c.worst, c.worst_max, c.programmed, c.programmed_max) == []
    late = dataclasses.replace(c.programmed, low_alarm_at=3.0)  # the reservoir never reaches the alarm
    (d,) = check.cross_check(t, c.nominal, c.worst, c.worst_max, late, c.programmed_max)
    assert (d.quantity, d.simulated, d.checked) == ("programmed low_alarm_at", 3.0, None)
