"""Programs that a pain physician would stop must not PASS: each rule added or widened for the
second reading, at its limit and one step past it, built by hand from the source sentence quoted
above each test; KET-DOSE in programming tables; the shipped examples of each defect."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from pumpsim.cli.main import main
from pumpsim.io.programs import parse_program_bytes
from pumpsim.programs.report import judge, render_text
from pumpsim.rules.kit import Violation, catalogue
from tests.programs.test_program import HEAD, T0, admin, findings, found, patient, review, skipped

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "scenarios" / "programs"


def on(day: int, time: str = "10:00:00") -> str:
    """Day ``day`` of a course starting 2027-03-01, as a TOML local date-time."""
    return f"{date(2027, 3, 1) + timedelta(days=day)}T{time}"


def oral(days: list[int], *, setting: str | None = "home", dose: str = "25 mg") -> str:
    return "".join(admin(on(d), dose, route="oral", setting=setting) for d in days)


# --------------------------------------------------------------------------- KET-SETTING
# « Réservé à l'usage hospitalier » (the ketamine fiche, précautions d'emploi) and « Chaque séance est réalisée
# sous contrôle médical strict » (the clinic program): every parenteral session takes place in hospital.
@pytest.mark.parametrize("route", ["intravenous", "intramuscular", "subcutaneous"])
@pytest.mark.parametrize("setting,n", [("hospital", 0), ("day-hospital", 0), ("hospital-at-home", 0), ("home", 1),
                                       (None, 1)])
def test_setting_every_parenteral_session(route, setting, n):
    text = HEAD + admin(T0, "20 mg", route=route, setting="hospital") + admin(on(7), "20 mg", route=route, setting=setting)
    got = found(text, "KET-SETTING")
    assert len(got) == n  # the first session is in hospital; the second is judged on its own
    if n:
        v = got[0]
        assert (v.value, v.limit, v.unit, v.session, v.severity) == (setting, "hospital", None, 2, "hard")
        assert "usage hospitalier" in v.source and "contrôle médical strict" in v.source


# « L'instauration du traitement doit être faite en hospitalisation par une équipe spécialisée »: an oral course
# (doses on 2 days or more) starts in hospital; a single oral dose is not a course.
@pytest.mark.parametrize("days,n", [([0], 0), ([0, 1], 1), (list(range(14)), 1)])
def test_setting_oral_course_start(days, n):
    got = found(HEAD + oral(days), "KET-SETTING")
    assert len(got) == n
    if n:
        assert (got[0].value, got[0].limit, got[0].at) == ("home", "hospital", "2027-03-01T10:00:00")
        assert "the oral ketamine course started at home" in got[0].message and "instauration" in got[0].source


def test_setting_oral_course_after_a_hospital_session_and_after_a_new_course():
    # an IV session in hospital may be followed by an oral course at home (same course: gap <= 30 days)
    iv = admin(on(0), "20 mg", route="intravenous", setting="hospital", monitoring="60 min")
    assert found(HEAD + iv + oral([1, 2, 3]), "KET-SETTING") == []
    assert found(HEAD + iv + oral([30, 31]), "KET-SETTING") == []  # 30 days after the session ended: one course
    (v,) = found(HEAD + iv + oral([32, 33]), "KET-SETTING")  # more than 30 days later: a new course, started at home
    assert v.at == on(32)
    # a course started in hospital may go on at home; a sublingual course is an oral course too
    assert found(HEAD + oral([0], setting="hospital") + oral([1, 2]), "KET-SETTING") == []
    sub = "".join(admin(on(d), "25 mg", route="sublingual", setting="home") for d in (0, 1))
    assert len(found(HEAD + sub, "KET-SETTING")) == 1


def test_setting_oral_daily_dose_and_continuous_start_at_hospital_at_home():
    (v,) = found(HEAD + admin(T0, "100 mg/day", route="oral", duration="14 day", setting="home"), "KET-SETTING")
    assert v.value == "home"
    # « le recours éventuel à une HAD »: hospital at home counts as hospital
    assert found(HEAD + admin(T0, "35 mg/day", duration="3 day", setting="hospital-at-home"), "KET-SETTING") == []


# --------------------------------------------------------------------------- KET-NO-BENEFIT, oral courses
# « L'absence d'efficacité après 5 à 7 jours implique l'arrêt du traitement »: an oral course runs past day 7 when it
# has a dose on day 8 or later (day 0 the start).
@pytest.mark.parametrize("last,n", [(7, 0), (8, 1)])
def test_no_benefit_oral_course_past_day_7(last, n):
    text = HEAD + 'indication = "palliative-refractory-pain"\n' + oral(list(range(last + 1)), setting="hospital")
    got = found(text, "KET-NO-BENEFIT")
    assert len(got) == n
    if n:
        assert (got[0].value, got[0].limit, got[0].unit, got[0].severity) == (8.0, 7.0, "day", "hard")
        assert "no review between day 5 and day 7 of the oral ketamine course started 2027-03-01" in got[0].message
        assert found(text + review("2027-03-06"), "KET-NO-BENEFIT") == []  # day 5, benefit recorded
        assert len(found(text + review("2027-03-09"), "KET-NO-BENEFIT")) == 1  # day 8: too late


@pytest.mark.parametrize("indication,n", [("chronic-pain", 1), ("neuropathic-pain", 1), ("crps", 1),
                                          ("fibromyalgia", 1), ("depression-resistant", 0), ("ptsd", 0)])
def test_no_benefit_oral_course_pain_indications_only(indication, n):
    text = HEAD + f'indication = "{indication}"\n' + oral(list(range(10)), setting="hospital")
    assert len(found(text, "KET-NO-BENEFIT")) == n


def test_no_benefit_oral_course_without_indication_is_not_checked():
    text = HEAD + oral(list(range(10)), setting="hospital")
    assert found(text, "KET-NO-BENEFIT") == []
    (s,) = skipped(text, "KET-NO-BENEFIT")
    assert "pain indications only" in s.reason


def test_no_benefit_oral_daily_dose():
    # 14 days of 100 mg/day by mouth from day 0: doses until day 13
    text = HEAD + 'indication = "palliative-refractory-pain"\n' + admin(T0, "100 mg/day", route="oral", duration="14 day")
    (v,) = found(text, "KET-NO-BENEFIT")
    assert v.value == 14.0  # ends 2027-03-15 10:00: a dose on day 14
    eight = HEAD + 'indication = "palliative-refractory-pain"\n' + admin(T0, "100 mg/day", route="oral", duration="182 h")
    assert found(eight, "KET-NO-BENEFIT") == []  # ends 2027-03-09 00:00: the last dose on day 7


# --------------------------------------------------------------------------- KET-MONITORING, unmonitored IV sessions
# « Chaque séance est réalisée sous contrôle médical strict, avec surveillance des paramètres vitaux »: an IV session
# with no monitoring recorded (absent is 0 min) is a warning; any monitoring time is enough.
@pytest.mark.parametrize("monitoring,route,n", [(None, "intravenous", 1), ("0 min", "intravenous", 1),
                                                ("1 min", "intravenous", 0), (None, "intramuscular", 0)])
def test_monitoring_unmonitored_iv_session(monitoring, route, n):
    got = found(HEAD + admin(T0, "20 mg", route=route, duration="40 min", monitoring=monitoring), "KET-MONITORING")
    assert len(got) == n
    if n:
        assert (got[0].value, got[0].limit, got[0].unit, got[0].severity) == (0.0, None, "min", "soft")
        assert "no monitoring recorded" in got[0].message and "paramètres vitaux" in got[0].source


def test_monitoring_one_violation_per_administration():
    # five unmonitored weekly sessions: the course's labs and the first session's monitoring in one violation
    text = HEAD + "".join(admin(on(7 * k), "20 mg", route="intravenous", duration="40 min") for k in range(5))
    got = found(text, "KET-MONITORING")
    assert [v.session for v in got] == [1, 2, 3, 4, 5]
    assert "no liver tests" in got[0].message and "session 1" in got[0].message and got[0].unit == "labs"


def test_monitoring_weekly_iv_for_six_months():
    # 26 weekly sessions, monitored, in a day hospital: one course of 26 administrations without labs
    text = HEAD + "".join(admin(on(7 * k), "35 mg", route="intravenous", duration="40 min", setting="day-hospital",
                                monitoring="60 min") for k in range(26))
    (v,) = found(text, "KET-MONITORING")
    assert "26 administrations" in v.message and "no liver tests" in v.message and "no renal function" in v.message


# --------------------------------------------------------------------------- esketamine's contraindications
ESK = admin(T0, "56 mg", drug='"esketamine"', route="nasal", monitoring="60 min")


# Spravato EU SmPC §4.3 as recalled (unverified), and, from « troubles psychiatriques sévères tels que schizophrénie
# et psychoses aiguës » and « masse ou hémorragie intracrânienne et autres causes d'hypertension intracrânienne »,
# the three ketamine conditions that stay hard for esketamine.
@pytest.mark.parametrize("condition", ["esketamine-hypersensitivity", "ketamine-hypersensitivity",
                                       "aneurysmal-vascular-disease", "arteriovenous-malformation",
                                       "intracerebral-haemorrhage-history", "recent-cardiovascular-event",
                                       "intracranial-hypertension", "intracranial-mass-or-haemorrhage", "acute-psychosis"])
def test_esketamine_contraindications(condition):
    (v,) = found(HEAD + patient(f'["{condition}"]') + ESK, "KET-CONTRAINDICATION")
    assert v.severity == "hard" and v.drug == "esketamine" and condition in v.message and v.verified is False
    assert found(HEAD + patient(f'["{condition}"]') + ESK, "KET-PRECAUTION") == []


# « surveillance médicale est nécessaire à cause des effets indésirables dans l'heure qui suit la prise (élévation de
# la pression artérielle, effets psychoactifs.) »: the other ketamine conditions are precautions for esketamine.
@pytest.mark.parametrize("condition", ["uncontrolled-hypertension", "severe-heart-failure", "stroke-history",
                                       "head-trauma", "schizophrenia", "eye-injury", "intraocular-hypertension",
                                       "uncontrolled-epilepsy"])
def test_esketamine_precautions(condition):
    (v,) = found(HEAD + patient(f'["{condition}"]') + ESK, "KET-PRECAUTION")
    assert v.severity == "soft" and condition in v.message and "blood pressure" in v.message
    assert found(HEAD + patient(f'["{condition}"]') + ESK, "KET-CONTRAINDICATION") == []


def test_precaution_judges_esketamine_only_and_needs_the_conditions():
    assert found(HEAD + patient('["uncontrolled-hypertension"]') + admin(T0, "35 mg/day", duration="3 day"),
                 "KET-PRECAUTION") == []
    assert skipped(HEAD + ESK, "KET-PRECAUTION")
    assert found(HEAD + patient('["addiction-history"]') + ESK, "KET-PRECAUTION") == []
    assert catalogue()["KET-PRECAUTION"].severity == "soft"


# --------------------------------------------------------------------------- esketamine's indications
# « pour le traitement des épisodes dépressifs résistants aux autres traitements - pour le traitement à court-terme des
# épisodes dépressifs dans les situations d'urgence psychiatrique »; the label gives it with an oral antidepressant.
@pytest.mark.parametrize("indication,antidepressant,words", [
    ("depression-resistant", "true", None), ("depressive-emergency", "true", None),
    ("depression-resistant", "false", "without an oral antidepressant"), ("ptsd", "true", "OFF LABEL"),
])
def test_esketamine_indication(indication, antidepressant, words):
    text = (HEAD + f'indication = "{indication}"\n' + patient() + f"oral_antidepressant = {antidepressant}\n" + ESK)
    got = found(text, "KET-INDICATION")
    assert len(got) == (0 if words is None else 1)
    if words:
        assert got[0].severity == "soft" and words in got[0].message


def test_esketamine_antidepressant_not_given_is_not_checked():
    (s,) = skipped(HEAD + 'indication = "depression-resistant"\n' + ESK, "KET-INDICATION")
    assert "oral_antidepressant" in s.reason


# « La posologie est de 2 pulvérisations par semaine pendant 4 semaines minimum, puis il est recommandé de maintenir le
# traitement pendant au moins 6 mois »: a line of the text report (no rule), for resistant depression only.
@pytest.mark.parametrize("last,indication,shown", [
    ("2027-08-31T10:00:00", "depression-resistant", True),   # the day before 6 months
    ("2027-09-01T10:00:00", "depression-resistant", False),  # 6 calendar months after 2027-03-01
    ("2027-03-04T10:00:00", "depressive-emergency", False),
])
def test_esketamine_maintenance_line(last, indication, shown):
    text = (HEAD + f'indication = "{indication}"\n' + ESK
            + admin(last, "56 mg", drug='"esketamine"', route="nasal", monitoring="60 min"))
    out = render_text(judge(parse_program_bytes(text.encode(), "p.toml")))
    assert ("maintenance is expected for at least 6 months after the induction" in out) is shown


# --------------------------------------------------------------------------- KET-DOSE in programming tables
def table(*sessions: str, weight: str | None = "70 kg") -> str:
    head = ('schema = "pumpsim.table/1"\nhorizon = "4 day"\n[pump]\nmodel = "syringe-driver-50"\nroute = "subcutaneous"\n'
            'rate_max = "10 mL/h"\n')
    if weight:
        head += f'[patient]\nweight = "{weight}"\n'
    return head + "".join(sessions)


def session(at: str, mix: str, rate: str = "70 mL/day", volume: str = "50 mL") -> str:
    return f'[[session]]\nat = {at}\nrefill = {{ volume = "{volume}", mix = {{ {mix} }} }}\nrate = "{rate}"\n'


def table_findings(text: str):
    from pumpsim.rules import ketamine  # noqa: F401  (registers KET-DOSE for tables)
    from pumpsim.rules.kit import run
    from tests.conftest import parse as parse_table

    t, prof = parse_table(text)
    return [f for f in run("static", t, prof, only=["KET-DOSE"])]


# Afssaps 2010, kétamine IV: « initier à 0,5 mg/kg/j », « adaptée toutes les 24 heures par paliers de 0,25 mg/kg/j ».
# 70 kg at 70 mL/day: 0.5 mg/mL is 35 mg/day = 0.5 mg/kg/day; 0.501 mg/mL is 35.07 mg/day, 0.501 mg/kg/day.
@pytest.mark.parametrize("conc,n", [("0.5 mg/mL", 0), ("0.501 mg/mL", 1)])
def test_table_dose_start(conc, n):
    got = [f for f in table_findings(table(session(T0, f'ketamine = "{conc}"'))) if isinstance(f, Violation)]
    assert len(got) == n
    if n:
        assert (got[0].value, got[0].limit, got[0].unit) == (pytest.approx(0.501), 0.5, "mg/kg/day")
        assert got[0].severity == "soft" and got[0].verified and "0,5 mg/kg/j" in got[0].source


# 24 h later, 0.75 mg/mL is 52.5 mg/day: +17.5 mg/day = +0.25 mg/kg/day (allowed); 0.7515 mg/mL is +0.2515.
@pytest.mark.parametrize("conc,n", [("0.75 mg/mL", 0), ("0.7515 mg/mL", 1)])
def test_table_dose_step(conc, n):
    text = table(session(T0, 'ketamine = "0.5 mg/mL"'), session("2027-03-02T10:00:00", f'ketamine = "{conc}"'))
    got = [f for f in table_findings(text) if isinstance(f, Violation)]
    assert len(got) == n
    if n:
        assert got[0].value == pytest.approx(0.2515) and got[0].limit == 0.25 and got[0].at == "2027-03-02T10:00:00"


def test_table_dose_first_24_h_and_restart():
    # 12 h after the start, 52.5 mg/day compares with the first session's 35 mg/day: +0.25, allowed
    early = table(session(T0, 'ketamine = "0.5 mg/mL"'), session("2027-03-01T22:00:00", 'ketamine = "0.75 mg/mL"'))
    assert [f for f in table_findings(early) if isinstance(f, Violation)] == []
    # two raises of +0.25 each 12 h apart: 24 h after the first raise the dose in force was 35 mg/day: +0.5
    twice = table(session(T0, 'ketamine = "0.5 mg/mL"'), session("2027-03-02T10:00:00", 'ketamine = "0.75 mg/mL"'),
                  session("2027-03-02T22:00:00", 'ketamine = "1 mg/mL"'))
    (v,) = [f for f in table_findings(twice) if isinstance(f, Violation)]
    assert v.value == pytest.approx(0.5) and v.at == "2027-03-02T22:00:00"
    # a restart after a stop compares with 0: 35 mg/day is +0.5 mg/kg/day
    restart = table(session(T0, 'ketamine = "0.5 mg/mL"'), session("2027-03-02T10:00:00", 'morphine = "0.5 mg/mL"'),
                    session("2027-03-03T12:00:00", 'ketamine = "0.5 mg/mL"'))
    (v,) = [f for f in table_findings(restart) if isinstance(f, Violation)]
    assert v.value == pytest.approx(0.5) and v.at == "2027-03-03T12:00:00"


def test_table_dose_without_weight_is_not_checked_and_weight_is_validated(tmp_path):
    (s,) = table_findings(table(session(T0, 'ketamine = "0.5 mg/mL"'), weight=None))
    assert s.rule == "KET-DOSE" and "patient.weight" in s.reason
    assert table_findings(table(session(T0, 'morphine = "0.5 mg/mL"'))) == []  # no ketamine: nothing to judge
    bad = tmp_path / "t.toml"
    bad.write_text(table(session(T0, 'ketamine = "0.5 mg/mL"'), weight="70"), encoding="utf-8")
    assert main(["validate", str(bad)]) == 2


# --------------------------------------------------------------------------- the shipped examples of each defect
@pytest.mark.parametrize("name,verdict,status,rules", [
    ("broken/ket-setting-iv-home.toml", "fail", 1, {"KET-SETTING", "KET-MONITORING", "KET-INDICATION"}),
    ("broken/ket-contraindication-esketamine.toml", "fail", 1, {"KET-CONTRAINDICATION", "KET-PRECAUTION"}),
    ("broken/ket-no-benefit-oral.toml", "fail", 1, {"KET-SETTING", "KET-NO-BENEFIT", "KET-MONITORING"}),
    ("ketamine-iv-weekly-6-months.toml", "warn", 0, {"KET-MONITORING", "KET-INDICATION"}),
    ("esketamine-emergency-hypertension.toml", "warn", 0, {"KET-PRECAUTION"}),
])
def test_each_defect_gives_the_contract_answer(name, verdict, status, rules, capsys):
    assert main(["program", str(PROGRAMS / name), "--format", "json"]) == status
    rep = json.loads(capsys.readouterr().out)
    assert rep["verdict"] == verdict and {v["rule"] for v in rep["violations"]} == rules


@pytest.mark.parametrize("weight,verdict", [(True, "warn"), (False, "pass")])
def test_twelve_grams_a_day_subcutaneous_ketamine_table(weight, verdict, tmp_path, capsys):
    path = PROGRAMS / "tables" / "ketamine-12-g-a-day.toml"
    if not weight:
        text = path.read_text(encoding="utf-8").replace('weight = "70 kg"', "")
        path = tmp_path / "t.toml"
        path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["verdict"] == verdict
    if weight:
        (v,) = [v for v in rep["violations"] if v["rule"] == "KET-DOSE"]
        assert v["value"] == pytest.approx(12000 / 70) and v["limit"] == 0.5
    else:
        assert "KET-DOSE" in [s["rule"] for s in rep["not_checked"]] and rep["violations"] == []


def test_the_documented_bad_program_exits_2_with_its_five_problems(capsys):
    path = REPO / "docs" / "examples" / "bad-program.toml"
    assert main(["program", str(path)]) == 2
    err = capsys.readouterr().err
    for field, words in (("indication", "did you mean 'fibromyalgia'"),
                         ("patient.conditions[1]", "did you mean 'schizophrenia'"),
                         ("administration[1].drug", "did you mean 'ketamine' or 'esketamine'"),
                         ("administration[1].route", "did you mean 'intravenous'"),
                         ("administration[1].dose", "'35' has no unit")):
        assert f"bad-program.toml: {field}: " in err and words in err
    assert "5 problem(s)" in err


def test_the_program_profile_option_overrides_the_file(capsys):
    path = PROGRAMS / "broken" / "ket-setting-esketamine.toml"
    assert main(["program", str(path), "--profile", "pacc-2017", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["profile"] == "pacc-2017"
    assert main(["program", str(path), "--profile", "no-such-profile"]) == 2
    assert "--profile: unknown profile 'no-such-profile'" in capsys.readouterr().err


# The contract applies the ANSM 2010 start (« initier à 0,5 mg/kg/j », written for IV ketamine) to every daily dose:
# 35 mg/day by mouth for 70 kg is at the limit, 35.07 mg/day one step past it.
@pytest.mark.parametrize("dose,n", [("35 mg/day", 0), ("35.07 mg/day", 1)])
def test_dose_start_of_an_oral_daily_dose(dose, n):
    got = found(HEAD + patient() + admin(T0, dose, route="oral", duration="14 day"), "KET-DOSE")
    assert len(got) == n
    if n:
        assert got[0].value == pytest.approx(35.07 / 70) and got[0].limit == 0.5


def test_monitoring_cytology_advice_kept_when_only_a_session_is_unmonitored():
    from pumpsim.programs.finding import Note

    # five weekly IV sessions with liver and renal tests every week but no cytology; the first unmonitored
    sessions = "".join(admin(on(7 * k), "20 mg", route="intravenous", duration="40 min",
                             monitoring=None if k == 0 else "60 min") for k in range(5))
    labs = "".join(f'[[lab]]\nat = {date(2027, 3, 1) + timedelta(days=7 * k)}\nkind = "{kind}"\n'
                   for k in range(5) for kind in ("liver", "renal"))
    fs = findings(HEAD + sessions + labs, "KET-MONITORING")
    (v,) = [f for f in fs if isinstance(f, Violation)]
    assert v.session == 1 and "no monitoring recorded" in v.message and "liver" not in v.message
    assert [f for f in fs if isinstance(f, Note) and "urine cytology" in f.message]
