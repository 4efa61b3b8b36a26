"""Ketamine and esketamine programs: the reader, each KET rule at and just past its limit, the
templates (matched, then broken one way at a time), the command and its exit codes."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpsim.cli.main import main
from pumpsim.io.programs import parse_program_bytes, read_program
from pumpsim.model.errors import InputError
from pumpsim.programs.report import judge
from pumpsim.programs.rules import PROGRAM_RULES, Note, build_config
from pumpsim.rules.kit import Skipped, Violation

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "scenarios" / "programs"
HEAD = 'schema = "pumpsim.program/1"\n'


def parse(text: str, name: str = "p.toml"):
    return parse_program_bytes(textwrap.dedent(text).encode(), name)


def findings(text: str, rule: str):
    return PROGRAM_RULES[rule](parse(text), build_config())


def found(text: str, rule: str) -> list[Violation]:
    return [f for f in findings(text, rule) if isinstance(f, Violation)]


def skipped(text: str, rule: str) -> list[Skipped]:
    return [f for f in findings(text, rule) if isinstance(f, Skipped)]


def admin(at: str, dose: str, *, drug: str = '"ketamine"', route: str = "subcutaneous", duration: str | None = None,
          setting: str | None = "hospital", monitoring: str | None = None) -> str:
    out = f'[[administration]]\nat = {at}\ndrug = {drug}\nroute = "{route}"\ndose = "{dose}"\n'
    if duration:
        out += f'duration = "{duration}"\n'
    if setting:
        out += f'setting = "{setting}"\n'
    if monitoring:
        out += f'monitoring = "{monitoring}"\n'
    return out


def review(at: str, benefit: str = "true", kind: str = "review") -> str:
    return f'[[review]]\nat = {at}\nkind = "{kind}"\nbenefit = {benefit}\n'


def lab(at: str, kind: str) -> str:
    return f'[[lab]]\nat = {at}\nkind = "{kind}"\n'


def patient(conditions: str = "[]", weight: str | None = "70 kg", evaluation: str | None = None) -> str:
    out = f"[patient]\nconditions = {conditions}\n"
    if weight:
        out += f'weight = "{weight}"\n'
    if evaluation:
        out += f"psychiatric_evaluation = {evaluation}\n"
    return out


T0 = "2027-03-01T10:00:00"
COANALGESIA = admin(T0, "35 mg/day", duration="3 day")


# --------------------------------------------------------------------------- reading
def test_a_dose_per_kg_is_converted_with_the_weight():
    p = parse(HEAD + patient(weight="70 kg") + admin(T0, "0.5 mg/kg/day", duration="3 day")
              + admin("2027-03-05T10:00:00", "0.5 mg/kg", route="intravenous", duration="40 min")
              + admin("2027-03-06T10:00:00", "0.02 mg/kg/h", duration="1 day"))
    a, b, c = p.administrations
    assert (a.continuous, a.dose, a.duration) == (True, 35.0, 3.0)  # 0.5 x 70 mg/day
    assert (b.continuous, b.dose) == (False, 35.0)  # 0.5 x 70 mg
    assert b.duration == pytest.approx(40 / 1440)
    assert c.continuous and c.dose == pytest.approx(0.02 * 70 * 24)  # 33.6 mg/day


def _problems(text: str) -> list[str]:
    with pytest.raises(InputError) as e:
        parse(text)
    return [str(p) for p in e.value.problems]


def test_every_bad_name_and_a_dose_without_unit_reported_at_once_with_nearest_names():
    text = (HEAD + 'template = "ketamine-iv-6-week"\nindication = "fibromyalgie"\n'
            + patient(conditions='["schizophrenie"]')
            + admin(T0, "35 mg/day", drug='"ketamin"', duration="3 day")
            + admin("2027-03-02T10:00:00", "35", route="intravenus"))
    probs = _problems(text)
    assert len(probs) == 6
    joined = "\n".join(probs)
    assert "p.toml: template: unknown template 'ketamine-iv-6-week' (fix: did you mean 'ketamine-iv-6-weeks'" in joined
    assert "indication: unknown indication 'fibromyalgie' (fix: did you mean 'fibromyalgia'" in joined
    assert "patient.conditions[1]: unknown condition 'schizophrenie' (fix: did you mean 'schizophrenia'" in joined
    assert "administration[1].drug: unknown drug 'ketamin' (fix: did you mean 'ketamine'" in joined
    assert "administration[2].route: unknown route 'intravenus' (fix: did you mean 'intravenous'" in joined
    assert "administration[2].dose: '35' has no unit (fix: write the dose with its unit: \"35 mg\"" in joined


def test_the_command_exits_2_naming_the_field_and_writes_nothing_on_stdout(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(HEAD + admin(T0, "35 mg/day", drug='"Ketamine"', duration="3 day"), encoding="utf-8")
    assert main(["program", str(f)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "administration[1].drug: unknown drug 'Ketamine' (fix: names are lower case: 'ketamine')" in out.err


@pytest.mark.parametrize("dose,duration,message", [
    ("0.5 mg/kg", "40 min", "a dose per kg, but the patient's weight is not given"),
    ("35 mg/day", None, "a continuous administration (a daily dose) needs its duration"),
    ("35 mg", "2 day", "lasts more than 24 h"),
    ("35 mL", None, "is a volume, not a dose"),
    ("35 mg/mL", None, "is a concentration, not a dose"),
])
def test_doses_and_durations_that_do_not_fit(dose, duration, message):
    probs = _problems(HEAD + admin(T0, dose, duration=duration))
    assert len(probs) == 1 and message in probs[0] and "administration[1]." in probs[0]


def test_structure_errors():
    (table,) = _problems('schema = "pumpsim.table/1"\n[pump]\nmodel = "syringe-driver-50"\n')
    assert "schema: this is a programming table (pumpsim.table/1), not a program (fix: check it with: pumpsim validate p.toml)" \
        in table
    probs = _problems('schema = "pumpsim.program/2"\n' + admin(T0, "35 mg", drug='["morphine"]', setting="ward")
                      + "[[review]]\nat = \"2027-03-05\"\n" + '[[lab]]\nat = 2027-03-05\nkind = "hepatic"\n')
    joined = "\n".join(probs)
    assert "schema: unsupported schema 'pumpsim.program/2'" in joined
    assert "administration[1].drug: lists neither ketamine nor esketamine" in joined
    assert "administration[1].setting: unknown setting 'ward'" in joined
    assert "review[1].at: '2027-03-05' is a string" in joined
    assert "lab[1].kind: unknown lab kind 'hepatic'" in joined
    two = _problems(HEAD + admin(T0, "35 mg", route="intravenous") + admin(T0, "35 mg", route="intravenous"))
    assert "administration[2].at: 2027-03-01T10:00:00 is not after the previous administration" in two[0]
    both = _problems(HEAD + admin(T0, "35 mg", drug='["ketamine", "esketamine"]'))
    assert "lists both ketamine and esketamine" in both[0]


# --------------------------------------------------------------------------- the rules
CONTRAINDICATIONS = ["ketamine-hypersensitivity", "uncontrolled-hypertension", "severe-heart-failure", "stroke-history",
                     "head-trauma", "intracranial-mass-or-haemorrhage", "intracranial-hypertension", "schizophrenia",
                     "acute-psychosis", "eye-injury", "intraocular-hypertension", "uncontrolled-epilepsy"]


@pytest.mark.parametrize("condition", CONTRAINDICATIONS)
def test_contraindication_each_listed_condition(condition):
    (v,) = found(HEAD + patient(f'["{condition}"]') + COANALGESIA, "KET-CONTRAINDICATION")
    assert v.severity == "hard" and condition in v.message and "contre-indications" in v.source and v.verified


def test_contraindication_none_not_given_and_esketamine():
    assert found(HEAD + patient("[]") + COANALGESIA, "KET-CONTRAINDICATION") == []
    assert found(HEAD + patient('["addiction-history"]') + COANALGESIA, "KET-CONTRAINDICATION") == []
    (s,) = skipped(HEAD + COANALGESIA, "KET-CONTRAINDICATION")
    assert "conditions are not given" in s.reason
    esk = admin(T0, "56 mg", drug='"esketamine"', route="nasal", monitoring="60 min")
    assert found(HEAD + patient('["schizophrenia"]') + esk, "KET-CONTRAINDICATION") == []
    assert "Spravato" in skipped(HEAD + patient('["schizophrenia"]') + esk, "KET-CONTRAINDICATION")[0].reason


def test_one_violation_per_course():
    # two courses of ketamine, 31 days apart (more than the 30-day gap): one violation each
    later = admin("2027-04-03T10:00:01", "35 mg/day", duration="3 day")  # 03-04 10:00 + 30 days + 1 s
    got = found(HEAD + patient('["eye-injury"]') + COANALGESIA + later, "KET-CONTRAINDICATION")
    assert [v.at for v in got] == ["2027-03-01T10:00:00", "2027-04-03T10:00:01"]
    exactly = admin("2027-04-03T10:00:00", "35 mg/day", duration="3 day")  # a gap of exactly 30 days: one course
    assert len(found(HEAD + patient('["eye-injury"]') + COANALGESIA + exactly, "KET-CONTRAINDICATION")) == 1


def test_dependence():
    (v,) = found(HEAD + patient('["addiction-history"]') + COANALGESIA, "KET-DEPENDENCE")
    assert v.severity == "soft" and "dépendance" in v.source
    assert found(HEAD + patient('["eye-injury"]') + COANALGESIA, "KET-DEPENDENCE") == []
    assert skipped(HEAD + COANALGESIA, "KET-DEPENDENCE")


@pytest.mark.parametrize("drug,route,n", [
    ("ketamine", "intravenous", 0), ("ketamine", "intramuscular", 0), ("ketamine", "subcutaneous", 0),
    ("ketamine", "oral", 0), ("ketamine", "sublingual", 0), ("ketamine", "intrathecal", 1), ("ketamine", "epidural", 1),
    ("ketamine", "nasal", 1), ("esketamine", "nasal", 0), ("esketamine", "intravenous", 1), ("esketamine", "oral", 1),
])
def test_route(drug, route, n):
    got = found(HEAD + admin(T0, "20 mg", drug=f'"{drug}"', route=route), "KET-ROUTE")
    assert len(got) == n
    if n:
        assert got[0].severity == "hard" and route in got[0].message and got[0].drug == drug


@pytest.mark.parametrize("indication,words", [
    ("anaesthesia", None), ("palliative-refractory-pain", None), ("chronic-pain", "OFF LABEL"),
    ("depression-resistant", "OFF LABEL"), ("crps", "OFF LABEL"), ("fibromyalgia", "EXPERIMENTAL"),
])
def test_indication_of_ketamine(indication, words):
    got = found(HEAD + f'indication = "{indication}"\n' + COANALGESIA, "KET-INDICATION")
    assert len(got) == (0 if words is None else 1)
    if words:
        assert got[0].severity == "soft" and words in got[0].message and indication in got[0].message
    if indication == "fibromyalgia":
        assert "ANSM" in got[0].message and "expérimentale" in got[0].source


def test_indication_of_esketamine_and_none():
    esk = admin(T0, "56 mg", drug='"esketamine"', route="nasal", monitoring="60 min")
    assert found(HEAD + 'indication = "depression-resistant"\n' + esk, "KET-INDICATION") == []
    (v,) = found(HEAD + 'indication = "ptsd"\n' + esk, "KET-INDICATION")
    assert v.drug == "esketamine" and "OFF LABEL" in v.message
    assert skipped(HEAD + esk, "KET-INDICATION")


# KET-NO-BENEFIT: started 2027-03-01 10:00, day 7 is 2027-03-08; running until 2027-03-09 00:00
# (7 days 14 h = 182 h) does not run past day 7; one more minute does.
@pytest.mark.parametrize("duration,n", [("182 h", 0), ("10921 min", 1), ("7 day", 0), ("10 day", 1)])
def test_no_benefit_runs_past_day_7(duration, n):
    got = found(HEAD + admin(T0, "35 mg/day", duration=duration), "KET-NO-BENEFIT")
    assert len(got) == n
    if n:
        v = got[0]
        assert v.severity == "hard" and v.limit == 7 and v.unit == "day"
        assert "no review between day 5 and day 7 of the ketamine infusion started 2027-03-01: stop it if there is no " \
               "benefit" in v.message


@pytest.mark.parametrize("when,benefit,n", [
    ("2027-03-05", "true", 1),   # day 4: too early
    ("2027-03-06", "true", 0),   # day 5
    ("2027-03-08", "true", 0),   # day 7
    ("2027-03-09", "true", 1),   # day 8: too late
    ("2027-03-07", "false", 1),  # no benefit, yet it goes on
])
def test_no_benefit_review_window(when, benefit, n):
    got = found(HEAD + admin(T0, "35 mg/day", duration="10 day") + review(when, benefit), "KET-NO-BENEFIT")
    assert len(got) == n
    if benefit == "false":
        assert "found no benefit" in got[0].message


def test_no_benefit_review_without_benefit_and_dose_changes_are_one_infusion():
    no_record = HEAD + admin(T0, "35 mg/day", duration="10 day") + '[[review]]\nat = 2027-03-07\n'
    assert "does not record whether there is a benefit" in found(no_record, "KET-NO-BENEFIT")[0].message
    # 3 days then 6 more days from day 3: one infusion from 2027-03-01 running to day 9
    chain = HEAD + admin(T0, "35 mg/day", duration="3 day") + admin("2027-03-04T10:00:00", "50 mg/day", duration="6 day")
    (v,) = found(chain, "KET-NO-BENEFIT")
    assert v.at == "2027-03-01T10:00:00" and v.value == 9.0
    assert found(chain + review("2027-03-06"), "KET-NO-BENEFIT") == []


def test_setting_of_continuous_start():
    for setting, n in (("hospital", 0), ("day-hospital", 0), ("home", 1), (None, 1)):
        got = found(HEAD + admin(T0, "35 mg/day", duration="3 day", setting=setting), "KET-SETTING")
        assert len(got) == n
    # the dose change after the start may be at home
    home_after = HEAD + admin(T0, "35 mg/day", duration="2 day") + admin("2027-03-03T10:00:00", "50 mg/day",
                                                                          duration="5 day", setting="home")
    assert found(home_after, "KET-SETTING") == []
    # sessions of ketamine are not judged by setting
    assert found(HEAD + admin(T0, "20 mg", route="intravenous", setting="home"), "KET-SETTING") == []


@pytest.mark.parametrize("monitoring,setting,n,value", [
    ("60 min", "hospital", 0, None), ("1 h", "day-hospital", 0, None), ("59 min", "hospital", 1, 59.0),
    (None, "hospital", 1, None), ("60 min", "home", 1, 60.0),
])
def test_setting_of_esketamine(monitoring, setting, n, value):
    got = found(HEAD + admin(T0, "56 mg", drug='"esketamine"', route="nasal", setting=setting, monitoring=monitoring),
                "KET-SETTING")
    assert len(got) == n
    if n:
        assert got[0].value == value and got[0].limit == 60.0 and got[0].unit == "min"


def test_setting_monitoring_from_a_profile_file(tmp_path):
    prof = tmp_path / "unit.toml"
    prof.write_text('schema = "pumpsim.profile/1"\nname = "our-unit"\nbase = "fr-ait-2020"\n'
                    '[ketamine.values]\nesketamine_monitoring = { value = "120 min", source = '
                    '"Spravato US prescribing information (REMS): at least 2 hours", verified = true }\n', encoding="utf-8")
    f = tmp_path / "p.toml"
    f.write_text(HEAD + admin(T0, "56 mg", drug='"esketamine"', route="nasal", monitoring="90 min"), encoding="utf-8")
    assert judge(read_program(f)).violations == []
    rep = judge(read_program(f, str(prof)))
    (v,) = rep.violations
    assert (v.rule, v.value, v.limit, v.source) == ("KET-SETTING", 90.0, 120.0,
                                                    "Spravato US prescribing information (REMS): at least 2 hours")
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = "pumpsim.profile/1"\nname = "x"\nbase = "fr-ait-2020"\n[ketamine.values]\n'
                   'esketamine_monitor = { value = "120 min", source = "s", verified = true }\n', encoding="utf-8")
    with pytest.raises(InputError) as e:
        judge(read_program(f, str(bad)))
    assert "ketamine.values.esketamine_monitor: unknown key" in str(e.value) and "esketamine_monitoring" in str(e.value)


# KET-MONITORING: continuous more than 7 days, or more than 4 administrations within 30 days
@pytest.mark.parametrize("duration,n", [("7 day", 0), ("169 h", 1)])
def test_monitoring_prolonged_continuous(duration, n):
    fs = findings(HEAD + admin(T0, "35 mg/day", duration=duration), "KET-MONITORING")
    got = [f for f in fs if isinstance(f, Violation)]
    assert len(got) == n
    assert not [f for f in fs if isinstance(f, Note)]  # the violation names the cytology; no second advice
    if n:
        assert "no urine cytology either" in got[0].message
        assert got[0].severity == "soft" and "no liver tests" in got[0].message and "no renal function" in got[0].message
        assert got[0].verified is False  # the 28-day interval is unverified


def _sessions(days: list[int]) -> str:
    return "".join(admin(f"2027-03-{1 + d:02d}T10:00:00", "20 mg", route="intravenous", duration="40 min") for d in days)


@pytest.mark.parametrize("days,n", [
    ([0, 7, 14, 21], 0),          # 4 in 30 days
    ([0, 7, 14, 21, 29], 1),      # 5 within 30 days
    ([0, 7, 14, 21, 30], 0),      # the 5th exactly 30 days after the first: the window [t, t + 30 days) holds 4
])
def test_monitoring_repeated(days, n):
    assert len(found(HEAD + _sessions(days), "KET-MONITORING")) == n


@pytest.mark.parametrize("second_lab,n,value", [(29, 0, None), (30, 1, 29.0)])
def test_monitoring_lab_interval(second_lab, n, value):
    # 60 days from 2027-03-01 (ends 2027-04-30, day 60); labs on day 0, day 28 or 29, and 28 days after
    def on(day: int) -> str:
        from datetime import date, timedelta
        return (date(2027, 3, 1) + timedelta(days=day)).isoformat()

    first = second_lab - 1  # day 28 (gap 28: allowed) or day 29 (gap 29: not)
    labs = "".join(lab(on(d), k) for d in (0, first, first + 28) for k in ("liver", "renal", "urine-cytology"))
    got = found(HEAD + admin(T0, "35 mg/day", duration="60 day") + review("2027-03-06") + labs, "KET-MONITORING")
    assert len(got) == n
    if n:
        assert (got[0].value, got[0].limit, got[0].unit) == (value, 28.0, "day")


def test_monitoring_advises_urine_cytology():
    labs = lab("2027-03-05", "liver") + lab("2027-03-05", "renal")
    fs = findings(HEAD + admin(T0, "35 mg/day", duration="10 day") + labs, "KET-MONITORING")
    assert not [f for f in fs if isinstance(f, Violation)]
    (note,) = [f for f in fs if isinstance(f, Note)]
    assert "urine cytology" in note.message
    # esketamine is not judged by KET-MONITORING (its own label monitoring)
    esk = "".join(admin(f"2027-03-{d:02d}T10:00:00", "56 mg", drug='"esketamine"', route="nasal", monitoring="60 min")
                  for d in (1, 4, 8, 11, 15))
    assert findings(HEAD + esk, "KET-MONITORING") == []


@pytest.mark.parametrize("drugs,pair", [
    ('["ketamine", "diazepam"]', "diazepam+ketamine"), ('["ketamine", "phenobarbital", "morphine"]', "ketamine+phenobarbital"),
    ('["ketamine", "morphine"]', None),
])
def test_incompatible(drugs, pair):
    got = found(HEAD + admin(T0, "35 mg/day", drug=drugs, duration="3 day"), "KET-INCOMPATIBLE")
    assert [v.drug for v in got] == ([pair] if pair else [])
    if pair:
        assert got[0].severity == "hard" and "même seringue" in got[0].source


# KET-DOSE, 70 kg: start 0.5 mg/kg/day = 35 mg/day; step 0.25 mg/kg/day = 17.5 mg/day per 24 h;
# IV infusion 2 mg/kg/h = 140 mg over 60 min; IV bolus 0.35 mg/kg = 24.5 mg.
@pytest.mark.parametrize("dose,n", [("35 mg/day", 0), ("35.01 mg/day", 1)])
def test_dose_start(dose, n):
    got = found(HEAD + patient() + admin(T0, dose, duration="3 day"), "KET-DOSE")
    assert len(got) == n
    if n:
        assert got[0].value == pytest.approx(35.01 / 70) and got[0].limit == 0.5 and got[0].unit == "mg/kg/day"
        assert got[0].verified


@pytest.mark.parametrize("second,n", [("52.5 mg/day", 0), ("52.6 mg/day", 1)])
def test_dose_step(second, n):
    text = HEAD + patient() + admin(T0, "35 mg/day", duration="1 day") + admin("2027-03-02T10:00:00", second, duration="3 day")
    got = found(text, "KET-DOSE")
    assert len(got) == n
    if n:
        assert got[0].value == pytest.approx(17.6 / 70) and got[0].limit == 0.25


@pytest.mark.parametrize("third_at,n", [("2027-03-03T09:00:00", 1), ("2027-03-03T10:00:00", 0)])
def test_dose_two_steps_within_24_h(third_at, n):
    # 35 -> 52.5 at 24 h -> 70 mg/day: at 47 h the 35 mg/day dose was in force within the last 24 h (+0.5 mg/kg/day)
    text = (HEAD + patient() + admin(T0, "35 mg/day", duration="1 day")
            + admin("2027-03-02T10:00:00", "52.5 mg/day", duration="3 day") + admin(third_at, "70 mg/day", duration="3 day"))
    got = found(text, "KET-DOSE")
    assert len(got) == n
    if n:
        assert got[0].value == pytest.approx(0.5) and got[0].at == "2027-03-03T09:00:00"


@pytest.mark.parametrize("dose,duration,n,unit", [
    ("140 mg", "60 min", 0, None), ("141 mg", "60 min", 1, "mg/kg/h"),
    ("24.5 mg", None, 0, None), ("24.6 mg", None, 1, "mg/kg"),
])
def test_dose_iv_infusion_and_bolus(dose, duration, n, unit):
    got = found(HEAD + patient() + admin(T0, dose, route="intravenous", duration=duration), "KET-DOSE")
    assert len(got) == n
    if n:
        assert got[0].unit == unit and got[0].verified is False  # recalled, not read
        assert got[0].limit == (2.0 if unit == "mg/kg/h" else 0.35)


def test_dose_needs_the_weight():
    (s,) = skipped(HEAD + patient(weight=None) + COANALGESIA, "KET-DOSE")
    assert "weight" in s.reason
    # a subcutaneous session is no IV bolus; esketamine is not judged
    assert found(HEAD + patient() + admin(T0, "50 mg", route="subcutaneous"), "KET-DOSE") == []
    assert findings(HEAD + patient() + admin(T0, "84 mg", drug='"esketamine"', route="nasal", monitoring="1 h"),
                    "KET-DOSE") == []


# --------------------------------------------------------------------------- templates
def _shipped(name: str) -> str:
    return (PROGRAMS / name).read_text(encoding="utf-8")


def _program_violations(text: str) -> list[Violation]:
    return found(text, "KET-PROGRAM")


@pytest.mark.parametrize("name", ["ketamine-iv-6-weeks.toml", "esketamine-induction.toml", "palliative-coanalgesia.toml"])
def test_each_template_matched_by_its_shipped_program(name):
    assert _program_violations(_shipped(name)) == []


SIX = "ketamine-iv-6-weeks.toml"


@pytest.mark.parametrize("old,new,words", [
    # the session of 2027-01-14 dropped: week 2 holds 1
    ("BLOCK", "", "week 2 (2027-01-11 to 2027-01-17) holds 1 session(s), the template 2"),
    ('duration = "40 min"', 'duration = "39 min"', "lasts 39 min, outside 40-60 min"),
    ('duration = "60 min"', 'duration = "61 min"', "lasts 61 min, outside 40-60 min"),
    ("at = 2027-01-15                          # after", "at = 2027-01-13                          # after",
     "no clinical review after session 4"),
    ('kind = "assessment"', 'kind = "review"', "no full assessment"),
    ("psychiatric_evaluation = 2027-01-02", "psychiatric_evaluation = 2027-01-05", "comes after the first session"),
    ("psychiatric_evaluation = 2027-01-02\n", "", "no psychiatric evaluation before the first session"),
    ('route = "intravenous"', 'route = "intramuscular"', "by intramuscular, the template intravenous"),
])
def test_six_week_template_broken_one_way_at_a_time(old, new, words):
    text = _shipped(SIX)
    if old == "BLOCK":
        old = text[text.index("[[administration]]\nat = 2027-01-14"):text.index("[[administration]]\nat = 2027-01-19")]
    assert old in text
    (v,) = _program_violations(text.replace(old, new, 1))
    assert v.severity == "soft" and words in v.message and "Thérapie à la kétamine" in v.source


def test_six_week_template_counts_and_the_edges():
    text = _shipped(SIX)
    ninth = admin("2027-02-16T14:00:00", "40 mg", route="intravenous", duration="40 min", setting="day-hospital",
                  monitoring="60 min")
    idx = text.index("[[review]]")
    (v,) = _program_violations(text[:idx] + ninth + text[idx:])
    assert "1 session(s) after week 6" in v.message and (v.value, v.limit, v.unit) == (9.0, 8.0, "sessions")
    # the evaluation on the day of the first session is before it; a review on the day of the 5th session counts
    same_day = text.replace("psychiatric_evaluation = 2027-01-02", "psychiatric_evaluation = 2027-01-04")
    assert _program_violations(same_day) == []
    on_fifth = text.replace("at = 2027-01-15                          # after", "at = 2027-01-19    # after")
    assert _program_violations(on_fifth) == []


def test_esketamine_template_broken_and_maintenance():
    text = _shipped("esketamine-induction.toml")
    block = text[text.index("[[administration]]\nat = 2027-02-18"):text.index("[[administration]]\nat = 2027-02-22")]
    (v,) = _program_violations(text.replace(block, ""))
    assert "week 3 (2027-02-15 to 2027-02-21) holds 1 session(s), the template 2" in v.message
    assert (v.value, v.limit) == (7.0, 8.0)
    # maintenance after week 4 is not judged by the template
    weekly = admin("2027-03-08T10:00:00", "56 mg", drug='"esketamine"', route="nasal", setting="day-hospital",
                   monitoring="60 min")
    idx = text.index("[[review]]")
    assert _program_violations(text[:idx] + weekly + text[idx:]) == []


def test_palliative_template_broken():
    text = _shipped("palliative-coanalgesia.toml")
    (v,) = _program_violations(text.replace('route = "subcutaneous"', 'route = "oral"'))
    assert "by oral, the template intravenous, subcutaneous" in v.message
    sessions = HEAD + 'template = "ketamine-palliative-coanalgesia"\n' + admin(T0, "20 mg", route="intravenous")
    (v,) = _program_violations(sessions)
    assert "are sessions, the template is continuous use" in v.message and v.value is None
    (v,) = _program_violations(HEAD + 'template = "ketamine-palliative-coanalgesia"\n'
                               + admin(T0, "56 mg", drug='"esketamine"', route="nasal"))
    assert "administration(s) of esketamine, which the template (ketamine) does not hold" in v.message
    assert "no template named" in skipped(HEAD + COANALGESIA, "KET-PROGRAM")[0].reason


# --------------------------------------------------------------------------- the command
@pytest.mark.parametrize("name,verdict,status", [
    ("palliative-coanalgesia.toml", "pass", 0), ("esketamine-induction.toml", "pass", 0),
    ("ketamine-iv-6-weeks.toml", "warn", 0), ("fibromyalgia-infusion.toml", "warn", 0),
    ("broken/ket-contraindication.toml", "fail", 1), ("broken/ket-route.toml", "fail", 1),
    ("broken/ket-no-benefit.toml", "fail", 1), ("broken/ket-setting.toml", "fail", 1),
    ("broken/ket-setting-esketamine.toml", "fail", 1), ("broken/ket-incompatible.toml", "fail", 1),
])
def test_shipped_programs(name, verdict, status, capsys):
    assert main(["program", str(PROGRAMS / name), "--format", "json"]) == status
    rep = json.loads(capsys.readouterr().out)
    assert rep["schema"] == "pumpsim.program/1" and rep["verdict"] == verdict
    assert set(rep) >= {"violations", "not_checked", "profile", "course"}
    for v in rep["violations"]:
        assert set(v) == {"rule", "severity", "at", "drug", "value", "limit", "unit", "message", "source", "verified"}
    if name.startswith("broken/"):
        rule = Path(name).stem.replace("-esketamine", "").upper()
        assert [v["rule"] for v in rep["violations"] if v["severity"] == "hard"] == [rule]


def test_text_report_verdict_first_and_the_missing_review_in_words(capsys):
    assert main(["program", str(PROGRAMS / "broken" / "ket-no-benefit.toml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: ")
    assert "no review between day 5 and day 7 of the ketamine infusion started 2027-03-01: stop it if there is no benefit" in out
    assert "day 0: administration 1: ketamine (with morphine in the same line) 35 mg/day SC, continuous for 10 day(s)" in out
    assert "not a prescription" in out


def test_six_week_report_shows_the_template_note(capsys):
    main(["program", str(PROGRAMS / SIX)])
    out = capsys.readouterr().out
    assert "« six perfusions »" in out and "this template follows the weekly plan: 8 sessions" in out


# --------------------------------------------------------------------------- ketamine in tables
def test_validate_ketamine_in_a_subcutaneous_syringe_driver(capsys):
    assert main(["validate", str(REPO / "scenarios" / "ketamine-subcutaneous-coanalgesia.toml"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["violations"] == []
    assert main(["validate", str(REPO / "scenarios" / "broken" / "ketamine-subcutaneous" / "mix-incompatible.toml"),
                 "--format", "json"]) == 1
    rules = {(v["rule"], v["drug"]) for v in json.loads(capsys.readouterr().out)["violations"]}
    assert ("MIX-INCOMPATIBLE", "ketamine+phenobarbital") in rules
    assert main(["validate", str(REPO / "scenarios" / "broken" / "drug-route.toml"), "--format", "json"]) == 1
    rules = {(v["rule"], v["drug"]) for v in json.loads(capsys.readouterr().out)["violations"]}
    assert ("DRUG-ROUTE", "ketamine") in rules


@pytest.mark.parametrize("route,partner,rules", [
    ("subcutaneous", None, set()), ("intravenous", None, set()), ("intrathecal", None, {"DRUG-ROUTE"}),
    ("intravenous", "diazepam", {"MIX-INCOMPATIBLE"}),
])
def test_ketamine_on_a_syringe_driver_through_the_table_rules(route, partner, rules):
    from pumpsim.rules import static  # noqa: F401  (registers the static rules)
    from pumpsim.rules.kit import run
    from tests.conftest import parse as parse_table

    mix = 'ketamine = "2 mg/mL"' + (f', {partner} = "0.2 mg/mL"' if partner else "")
    t, prof = parse_table(f"""
        schema = "pumpsim.table/1"
        horizon = "2 day"
        [pump]
        model = "syringe-driver-50"
        route = "{route}"
        [[session]]
        at = 2027-03-01T10:00:00
        refill = {{ volume = "48 mL", mix = {{ {mix} }} }}
        rate = "0.9 mL/h"
        """)
    got = {v.rule for v in run("static", t, prof, only=["DRUG-ROUTE", "MIX-INCOMPATIBLE"]) if isinstance(v, Violation)}
    assert got == rules


def test_regress_reports_programs_and_tables_side_by_side(tmp_path):
    from pumpsim.dev import regress

    (tmp_path / "p.toml").write_text(_shipped("fibromyalgia-infusion.toml"), encoding="utf-8")
    (tmp_path / "t.toml").write_text((REPO / "scenarios" / "ketamine-subcutaneous-coanalgesia.toml").read_text(), encoding="utf-8")
    gold = tmp_path / "gold"
    outcomes = regress.run(tmp_path, gold, update=True)
    assert sorted(o.table for o in outcomes) == ["p.toml", "t.toml"] and not any(o.error for o in outcomes)
    p = json.loads((gold / "p.json").read_text())
    assert p["schema"] == "pumpsim.program/1" and [v["rule"] for v in p["violations"]] == ["KET-INDICATION"]
    assert "message" not in p["violations"][0]
    assert json.loads((gold / "t.json").read_text())["schema"] == "pumpsim.report/1"


# --------------------------------------------------------------------------- robustness
_SEEDS = sorted(PROGRAMS.rglob("*.toml"))
_TOKENS = ["\"\"", "[]", "0", "-1", "\"0 mg\"", "\"1e308 mg\"", "\"nan mg\"", "2027-02-30", "\"35 mg/kg/h\"", "\"7 kg\"",
           "true", "\"home\"", "\"nasal\"", "\"esketamine\"", "[\"ketamine\", \"diazepam\"]", "{ a = 1 }"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.data())
def test_a_mutated_program_is_an_input_error_or_a_report_never_a_crash(seed, data):
    lines = seed.read_text(encoding="utf-8").splitlines()
    i = data.draw(st.integers(0, len(lines) - 1))
    if "=" in lines[i] and not lines[i].lstrip().startswith("#"):
        key = lines[i].split("=", 1)[0]
        lines[i] = key + "= " + data.draw(st.sampled_from(_TOKENS))
    else:
        lines.insert(i, data.draw(st.sampled_from(["[[administration]]", "[[review]]", "[patient]", "x = 1"])))
    try:
        rep = judge(parse_program_bytes("\n".join(lines).encode(), "m.toml"))
    except InputError as e:
        assert e.problems and all(p.file == "m.toml" for p in e.problems)
        return
    assert rep.verdict in ("pass", "warn", "fail")
    json.dumps(rep.as_json())
