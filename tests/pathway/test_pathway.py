"""`pumpsim pathway` (FORMAT.md §7, docs/RULES.md §5): each rule stays silent at its limit and fires
one day (or one unit) past it, dates counted date to date; absent fields are checks not made;
--table cases; the JSON shape; profiles; the timeline; `pumpsim report --patient`."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from pumpsim.cli.main import main
from pumpsim.io.patient import parse_patient_bytes
from pumpsim.io.tables import parse_table_bytes
from pumpsim.pathway.rules import check, days_between, render_text
from tests.conftest import REPO

PATIENTS = REPO / "scenarios" / "patients"
BASE = (PATIENTS / "complete-pass.toml").read_text(encoding="utf-8")


def variant(subs: dict[str, str], extra: str = "") -> str:
    text = BASE
    for old, new in subs.items():
        assert old in text, old
        text = text.replace(old, new)
    return text + extra


def run(text: str, table: str | None = None, profile: str | None = None):
    patient, prof = parse_patient_bytes(text.encode(), "p.toml", profile)
    tab = parse_table_bytes(textwrap.dedent(table).encode(), "t.toml")[0] if table else None
    return check(patient, prof, tab)


def rules_of(report) -> set[str]:
    return {v.rule for v in report.violations}


def skipped_of(report) -> set[str]:
    return {s.rule for s in report.not_checked}


def test_the_complete_file_passes():
    r = run(BASE)
    assert r.verdict == "pass" and r.violations == [] and r.exit_status == 0
    # without --table only the table's checks are not made
    assert skipped_of(r) == {"PATH-FIRST-REFILL", "OPIOID-CONVERSION"}


# Each case: rule, the edit that puts the file exactly at the limit (silent), the edit one day
# (or one unit) past it (fires). Surgery is 2027-01-22, the review 2027-01-12.
SURG, REV = "surgery = 2027-01-22", "review = 2027-01-12"
METH = 'drug = "methadone"\nlast_dose = 2027-01-20'
OPI = 'drug = "other-opioid"                   # oral oxycodone, relayed by IV PCA\nlast_dose = 2027-01-21'
ASP = 'dose = "160 mg/day"\nlast_dose = 2027-01-16'
LMWH = 'drug = "lmwh"\nlast_dose = 2027-01-21'
ANTI = 'drug = "anti-angiogenic"\nlast_dose = 2026-12-20'
CORT = 'drug = "corticosteroid"\nlast_dose = 2027-01-19'
CASES = [
    # OME must be ABOVE 300 mg/day (no severe adverse effects in the base file)
    ("PATH-INDICATION", {'"400 mg/day"': '"301 mg/day"'}, {'"400 mg/day"': '"300 mg/day"'}),
    ("PATH-LAB-VALUE", {'"150000 /mm3"': '"80001 /mm3"'}, {'"150000 /mm3"': '"80000 /mm3"'}),
    ("PATH-LAB-VALUE", {'"1800 /mm3"': '"501 /mm3"'}, {'"1800 /mm3"': '"500 /mm3"'}),
    # 2026-12-13 -> 2027-01-12: 19 + 12 - 1 = 30 days; 2026-12-12: 31
    ("PATH-LAB-AGE", {"at = 2027-01-04": "at = 2026-12-13"}, {"at = 2027-01-04": "at = 2026-12-12"}),
    # 2026-12-01 -> 2027-01-12: 30 + 12 = 42 days; 2026-11-30: 43
    ("PATH-IMAGING-AGE", {"brain = 2026-12-28": "brain = 2026-12-01"}, {"brain = 2026-12-28": "brain = 2026-11-30"}),
    ("PATH-IMAGING-AGE", {"pelvis = 2026-12-28": "pelvis = 2026-12-01"}, {"pelvis = 2026-12-28": "pelvis = 2026-11-30"}),
    # 2026-12-28 -> 2027-01-12: 15 days; 12-27: 16
    ("PATH-REVIEW-DELAY", {"file_complete = 2027-01-05": "file_complete = 2026-12-28"},
     {"file_complete = 2027-01-05": "file_complete = 2026-12-27"}),
    # review 01-08 -> algology 01-15: 7 days; 01-07: 8
    ("PATH-CONSULT-DELAY", {REV: "review = 2027-01-08"}, {REV: "review = 2027-01-07"}),
    # algology 01-07 -> surgery 01-22: 15 days; 01-06: 16
    ("PATH-SURGERY-WINDOW", {"algology_consult = 2027-01-15": "algology_consult = 2027-01-07"},
     {"algology_consult = 2027-01-15": "algology_consult = 2027-01-06"}),
    # algology 01-20 -> surgery 01-22: 2 days (48 h); 01-21: 1 day
    ("PATH-SURGERY-WINDOW", {"algology_consult = 2027-01-15": "algology_consult = 2027-01-20"},
     {"algology_consult = 2027-01-15": "algology_consult = 2027-01-21"}),
    ("PATH-ANAESTHESIA", {"anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-20"},
     {"anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-21"}),
    ("PATH-METHADONE", {}, {METH: METH.replace("01-20", "01-21")}),
    ("PATH-METHADONE", {}, {"admission = 2027-01-20": "admission = 2027-01-21"}),
    # the other opioid stops the day before (day -1 allowed, day 0 not)
    ("PATH-OPIOID-STOP", {}, {OPI: OPI.replace("01-21", "01-22")}),
    # aspirin above 100 mg/day: last dose at day -5 (01-17) allowed, day -4 not
    ("PATH-ANTIPLATELET", {ASP: ASP.replace("01-16", "01-17")}, {ASP: ASP.replace("01-16", "01-18")}),
    # aspirin up to 100 mg/day may continue, even on the day before surgery
    ("PATH-ANTIPLATELET", {ASP: 'dose = "100 mg/day"\nlast_dose = 2027-01-21'},
     {ASP: 'dose = "101 mg/day"\nlast_dose = 2027-01-21'}),
    # clopidogrel at any dose (aspirin 75 mg/day continues): day -5 allowed, day -4 not
    ("PATH-ANTIPLATELET", {ASP: 'dose = "75 mg/day"\nlast_dose = 2027-01-21\n\n[[treatment]]\ndrug = "clopidogrel"\nlast_dose = 2027-01-17'},
     {ASP: 'dose = "75 mg/day"\nlast_dose = 2027-01-21\n\n[[treatment]]\ndrug = "clopidogrel"\nlast_dose = 2027-01-18'}),
    ("PATH-ANTICOAGULANT", {}, {LMWH: LMWH.replace("01-21", "01-22")}),
    # 2027-01-01 -> 01-22: 21 days; 01-02: 20
    ("PATH-CHEMO", {"last_dose = 2026-12-30": "last_dose = 2027-01-01"},
     {"last_dose = 2026-12-30": "last_dose = 2027-01-02"}),
    # surgery 01-22 -> 02-12: 21 days; 02-13: 22; 02-06: 15; 02-05: 14
    ("PATH-CHEMO-RESUME", {"resume = 2027-02-08": "resume = 2027-02-12"}, {"resume = 2027-02-08": "resume = 2027-02-13"}),
    ("PATH-CHEMO-RESUME", {"resume = 2027-02-08": "resume = 2027-02-06"}, {"resume = 2027-02-08": "resume = 2027-02-05"}),
    # anti-angiogenic 2026-12-28 -> review 01-12: 15 days; 12-29: 14
    ("PATH-RELATIVE", {ANTI: ANTI.replace("2026-12-20", "2026-12-28")}, {ANTI: ANTI.replace("2026-12-20", "2026-12-29")}),
    ("PATH-RELATIVE", {}, {"conditions = []": 'conditions = ["ascites"]'}),
    ("PATH-CONTRAINDICATION", {}, {"conditions = []": 'conditions = ["csf-obstruction"]'}),
    # exactly 3 months (90 days): either device; 89 days with an implanted pump: a port
    ("PATH-DEVICE", {'"6 month"': '"3 month"'}, {'"6 month"': '"89 day"'}),
    ("PATH-DEVICE", {'"6 month"': '"3 month"', '"implanted-pump"': '"port-external-pump"'},
     {'"6 month"': '"91 day"', '"implanted-pump"': '"port-external-pump"'}),
    ("PATH-CORTICOSTEROID", {CORT: CORT.replace("01-19", "01-21")}, {CORT: CORT.replace("01-19", "01-22")}),
    ("PATH-CORTICOSTEROID", {}, {CORT: 'drug = "corticosteroid"'}),
    ("PATH-FIRST-REFILL", {}, {"first_refill_appointment = 2027-02-19\n": ""}),
]


@pytest.mark.parametrize("rule, at_limit, past", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_silent_at_the_limit_fires_one_day_past(rule, at_limit, past):
    assert rule not in rules_of(run(variant(at_limit)))
    r = run(variant(past))
    assert rule in rules_of(r), (r.violations, r.not_checked)
    assert r.verdict == ("fail" if r.violations[0].severity == "hard" else "warn") or len(r.violations) > 1


def test_the_value_and_limit_of_a_delay_are_the_days_counted_date_to_date():
    r = run(variant({"file_complete = 2027-01-05": "file_complete = 2026-12-27"}))
    (v,) = r.violations
    assert (v.rule, v.severity, v.value, v.limit, v.unit, v.at) == ("PATH-REVIEW-DELAY", "soft", 16.0, 15.0, "day", "2027-01-12")
    assert "§VI" in v.source and "Hauts-de-France" in v.source and v.verified


def test_one_violation_per_rule_gives_every_reason():
    r = run(variant({METH: METH.replace("01-20", "01-21"), "admission = 2027-01-20": "admission = 2027-01-21"}))
    (v,) = [x for x in r.violations if x.rule == "PATH-METHADONE"]
    assert "last taken 2027-01-21, 1 day before surgery" in v.message and "admitted 2027-01-21" in v.message
    assert v.value == 1.0 and v.limit == 2.0


def test_48_h_is_exact_when_both_instants_have_a_time():
    # 2027-01-20T10:00 -> 2027-01-22T08:00 is 46 h: less than 48 h, though two calendar days apart
    timed = {"anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-20T10:00:00",
             SURG: "surgery = 2027-01-22T08:00:00"}
    (v,) = [x for x in run(variant(timed)).violations if x.rule == "PATH-ANAESTHESIA"]
    assert v.value == pytest.approx(46 / 24)
    dates_only = {"anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-20T10:00:00"}
    assert "PATH-ANAESTHESIA" not in rules_of(run(variant(dates_only)))  # surgery a date: 2 calendar days


def test_days_between_counts_calendar_dates():
    import datetime as dt
    assert days_between(dt.datetime(2027, 1, 5, 23, 0), dt.date(2027, 1, 12)) == 7.0
    assert days_between(dt.date(2027, 1, 12), dt.date(2027, 1, 5)) == -7.0


def test_a_file_with_only_patient_lists_every_date_rule_under_not_checked():
    text = 'schema = "pumpsim.patient/1"\n[patient]\nrefractory_pain = true\noral_morphine_equivalent = "450 mg/day"\n'
    r = run(text)
    date_rules = {"PATH-LAB-AGE", "PATH-IMAGING-AGE", "PATH-REVIEW-DELAY", "PATH-CONSULT-DELAY", "PATH-SURGERY-WINDOW",
                  "PATH-ANAESTHESIA", "PATH-FIRST-REFILL"}
    assert date_rules <= skipped_of(r)
    # absent conditions are unknown, not none; absent labs and device are not passes either
    assert {"PATH-CONTRAINDICATION", "PATH-RELATIVE", "PATH-LAB-VALUE", "PATH-DEVICE"} <= skipped_of(r)
    assert r.violations == [] and r.verdict == "pass"
    # no [[treatment]]: none taken, so the stop rules have nothing to judge (not "not checked")
    assert not {"PATH-METHADONE", "PATH-ANTIPLATELET", "PATH-CHEMO"} & skipped_of(r)


def test_indication_with_three_valued_logic():
    only = 'schema = "pumpsim.patient/1"\n[patient]\n'
    assert "PATH-INDICATION" in skipped_of(run(only + "refractory_pain = true\n"))
    assert "PATH-INDICATION" in rules_of(run(only + "refractory_pain = false\n"))  # false whatever the rest
    assert run(only + "refractory_pain = true\nsevere_adverse_effects = true\n").violations == []


def test_aspirin_without_dose_cannot_be_judged():
    r = run(variant({'dose = "160 mg/day"\n': ""}))
    assert "PATH-ANTIPLATELET" in skipped_of(r) and "PATH-ANTIPLATELET" not in rules_of(r)


def test_a_treatment_without_last_dose_is_still_taken():
    r = run(variant({LMWH: 'drug = "lmwh"'}))
    (v,) = [x for x in r.violations if x.rule == "PATH-ANTICOAGULANT"]
    assert "still taken" in v.message


# --------------------------------------------------------------------------- --table
def table(model: str = "synchromed-ii-20", morphine: str = "5 mg/mL", rate: str = "0.5 mL/day", extra: str = "",
          low_alarm: str = '"2.05 mL"', horizon: str = "60 day") -> str:
    return f"""
        schema = "pumpsim.table/1"
        horizon = "{horizon}"
        [pump]
        model = "{model}"
        low_alarm = {low_alarm}
        {extra}
        [[session]]
        at = 2027-01-22T09:00:00
        refill = {{ volume = "20 mL", mix = {{ morphine = "{morphine}" }} }}
        rate = "{rate}"
        bolus = {{ volume = "0.1 mL", lockout = "24 h", max_per_24h = 1 }}
        """


def test_first_refill_against_the_programmed_low_alarm():
    # every allowed bolus (0.1 mL at t = 0, 1, 2, ... days) plus 0.5 mL/day: the reservoir goes
    # from 20 to 2.05 mL when 0.5 t + 0.1 (floor(t) + 1) = 17.95, at t = 29.9 days:
    # 2027-01-22T09:00 + 29.9 days = 2027-02-21T06:36
    on = run(variant({"first_refill_appointment = 2027-02-19": "first_refill_appointment = 2027-02-21"}), table())
    assert on.low_alarm_at.isoformat() == "2027-02-21T06:36:00"
    assert "PATH-FIRST-REFILL" not in rules_of(on) | skipped_of(on)
    late = run(variant({"first_refill_appointment = 2027-02-19": "first_refill_appointment = 2027-02-22"}), table())
    (v,) = [x for x in late.violations if x.rule == "PATH-FIRST-REFILL"]
    assert (v.value, v.limit) == (31.0, 30.0)  # days after surgery (2027-01-22): appointment 31, low alarm 30


def test_device_of_the_table_must_fit_the_kind_chosen():
    r = run(BASE, table(model="syringe-driver-50", extra='route = "intrathecal"\nreservoir = "50 mL"', low_alarm='"2 mL"'))
    (v,) = [x for x in r.violations if x.rule == "PATH-DEVICE"]
    assert "syringe-driver-50" in v.message and "implanted-pump" in v.message
    assert "PATH-DEVICE" not in rules_of(run(BASE, table()))


def test_device_kind_from_the_table_when_the_file_gives_none():
    r = run(variant({'kind = "implanted-pump"\n': "", '"6 month"': '"2 month"'}), table())
    assert "PATH-DEVICE" in rules_of(r)  # a 2-month patient, an implanted pump in the table


def test_opioid_conversion_of_the_first_intrathecal_morphine_dose():
    # 400 mg/day oral / 300 = 1.333 mg/day intrathecal; 5 mg/mL x 0.5 mL/day = 2.5 mg/day is above
    r = run(BASE, table())
    (v,) = [x for x in r.violations if x.rule == "OPIOID-CONVERSION"]
    assert v.value == pytest.approx(2.5) and v.limit == pytest.approx(400 / 300) and v.severity == "soft"
    # 2 mg/mL x 0.5 mL/day = 1 mg/day: below
    assert "OPIOID-CONVERSION" not in rules_of(run(BASE, table(morphine="2 mg/mL")))
    # no OME in the file: the table's patient.prior_oral_morphine (900 / 300 = 3 mg/day, 2.5 is below)
    no_ome = variant({'oral_morphine_equivalent = "400 mg/day" # current systemic opioids (OME)\n': "",
                      "severe_adverse_effects = false": "severe_adverse_effects = true"})
    t = table() + '\n[patient]\nprior_oral_morphine = "900 mg/day"\n'
    assert "OPIOID-CONVERSION" not in rules_of(run(no_ome, t)) | skipped_of(run(no_ome, t))
    assert "OPIOID-CONVERSION" in skipped_of(run(no_ome, table()))


# --------------------------------------------------------------------------- profiles
def test_a_hospital_profile_overrides_a_pathway_value(tmp_path):
    prof = tmp_path / "hospital.toml"
    prof.write_text('schema = "pumpsim.profile/1"\nname = "our-hospital"\nbase = "fr-ait-2020"\n[pathway]\n'
                    'review_max_delay = { value = "20 day", source = "our hospital, pathway protocol 2026", verified = true }\n')
    late = variant({"file_complete = 2027-01-05": "file_complete = 2026-12-27"})  # 16 days
    assert "PATH-REVIEW-DELAY" in rules_of(run(late))
    r = run(late, profile=str(prof))
    assert r.profile.name == "our-hospital" and "PATH-REVIEW-DELAY" not in rules_of(r)
    assert "PATH-CHEMO" in rules_of(run(variant({"last_dose = 2026-12-30": "last_dose = 2027-01-02"}), profile=str(prof)))


def test_a_profile_without_pathway_lists_the_rules_as_not_checked():
    r = run(variant({"conditions = []": 'conditions = ["csf-obstruction"]'}), profile="pacc-2017")
    assert r.violations == []
    assert {s.rule for s in r.not_checked if "no [pathway] section" in s.reason} >= {"PATH-CONTRAINDICATION", "PATH-DEVICE"}


def test_a_profile_missing_one_threshold_skips_only_its_rule(tmp_path):
    prof = tmp_path / "partial.toml"
    prof.write_text('schema = "pumpsim.profile/1"\nname = "partial"\nbase = "pacc-2017"\n[pathway]\n'
                    'review_max_delay = { value = "15 day", source = "our hospital", verified = false }\n')
    r = run(variant({"file_complete = 2027-01-05": "file_complete = 2026-12-27"}), profile=str(prof))
    (v,) = r.violations
    assert v.rule == "PATH-REVIEW-DELAY" and v.verified is False and v.source == "our hospital"
    assert any(s.rule == "PATH-CHEMO" and "no pathway.chemo_stop_before" in s.reason for s in r.not_checked)


# --------------------------------------------------------------------------- outputs
def test_json_shape(capsys):
    path = PATIENTS / "antiplatelet.toml"
    assert main(["pathway", str(path), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["schema"] == "pumpsim.pathway/1" and out["verdict"] == "fail" and out["profile"] == "fr-ait-2020"
    (v,) = out["violations"]
    assert set(v) >= {"rule", "severity", "at", "value", "limit", "unit", "message", "source", "verified"}
    assert (v["rule"], v["severity"], v["at"], v["value"], v["limit"], v["unit"]) == (
        "PATH-ANTIPLATELET", "hard", "2027-01-22", 4.0, 5.0, "day")
    assert all(set(s) == {"rule", "reason"} for s in out["not_checked"])
    assert {"at", "step", "delay_days", "min_days", "max_days", "ok"} <= set(out["timeline"][0])


def test_exit_status_pass_warn_fail(capsys):
    assert main(["pathway", str(PATIENTS / "complete-pass.toml")]) == 0
    assert capsys.readouterr().out.startswith("PASS")
    assert main(["pathway", str(PATIENTS / "review-delay.toml")]) == 0
    assert capsys.readouterr().out.startswith("WARN")
    assert main(["pathway", str(PATIENTS / "chemo.toml")]) == 1
    assert capsys.readouterr().out.startswith("FAIL")


def test_the_timeline_lists_the_dates_in_order_with_delays_and_limits():
    text = render_text(run(BASE))
    block = text.split("Timeline\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert "  2027-01-12  multidisciplinary review: 7 days after the complete file (limit 15)" in block
    assert "  2027-01-22  surgery: 7 days after the algology consultation (limits 2 to 15)" in block
    assert "  2027-01-16  last dose of aspirin: 6 days before surgery (at least 5)" in block
    dates = [line.split()[0] for line in block]
    assert dates == sorted(dates)
    late = render_text(run(variant({REV: "review = 2027-01-07"})))
    assert "2027-01-15  algology consultation: 8 days after the review (limit 7)  <-- outside the limit" in late


def test_every_shipped_patient_example_has_the_verdict_its_story_expects():
    for path in sorted(PATIENTS.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        m = re.search(r"Expected: (?:(PATH-[A-Z-]+) \((hard|soft)\), )?(pass|warn|fail)", text.replace("\n# ", " "))
        assert m, path.name
        r = run(text)
        assert r.verdict == m.group(3), path.name
        if m.group(1):
            assert [v.rule for v in r.violations] == [m.group(1)], path.name


def test_report_with_patient_adds_the_timeline_figure(tmp_path, capsys):
    out = tmp_path / "r.html"
    tab = tmp_path / "t.toml"
    tab.write_text(textwrap.dedent(table(horizon="20 day")))  # refilled before it empties: validate passes
    assert main(["report", str(tab), "-o", str(out)]) == 0
    n = out.read_text().count('<img class="figure"')
    assert main(["report", str(tab), "-o", str(out), "--patient", str(PATIENTS / "chemo.toml")]) == 1  # PATH-CHEMO hard
    html = out.read_text()
    assert html.count('<img class="figure"') == n + 1
    assert "Care pathway of chemo.toml (pumpsim pathway: FAIL; PATH-CHEMO (hard)" in html


def test_timeline_figure_rows_and_windows():
    import datetime as dt

    from pumpsim.render.pathway_figure import draw_timeline, timeline_rows

    steps = run(variant({REV: "review = 2027-01-07"})).steps
    rows, lo, hi = timeline_rows(steps)
    algo = next(r for r in rows if r.label.startswith("algology"))
    assert algo.window == (dt.date(2027, 1, 7), dt.date(2027, 1, 14)) and algo.ok is False  # 7 days after the review
    surgery = next(r for r in rows if r.label.startswith("surgery"))
    assert surgery.window == (dt.date(2027, 1, 17), dt.date(2027, 1, 30))  # 2 to 15 days after 2027-01-15
    fig = draw_timeline(steps, "t")
    assert len(fig.axes[0].get_yticklabels()) == len(rows) and fig.axes[0].get_xlabel() == "date (calendar days)"


def test_units_cell_counts_and_months():
    from pumpsim.model import units

    assert units.parse_quantity("80000 /mm3", units.CELL_COUNT) == 80000.0
    assert units.parse_quantity("1800/uL", units.CELL_COUNT) == 1800.0
    assert units.parse_quantity("6 month", units.TIME) == 180.0
    with pytest.raises(units.QuantityError):
        units.parse_quantity("1800 /mL", units.CELL_COUNT)


def test_regress_dispatches_on_the_schema(tmp_path):
    from pumpsim.dev import regress

    assert regress.report_for(PATIENTS / "chemo.toml")["schema"] == "pumpsim.pathway/1"
    assert regress.report_for(REPO / "scenarios" / "example.toml")["schema"] == "pumpsim.report/1"
    assert "patient" not in regress.report_for(PATIENTS / "chemo.toml")  # no path in a golden


def test_paths_never_end_up_in_goldens():
    goldens = sorted(Path(REPO / "scenarios" / "golden" / "patients").glob("*.json"))
    assert goldens, "no patient golden: the check below would pass on nothing"
    for p in goldens:
        assert "patients/" not in p.read_text(encoding="utf-8")


def test_report_with_a_bad_patient_file_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r.html"
    tab = tmp_path / "t.toml"
    tab.write_text(textwrap.dedent(table(horizon="20 day")))
    bad = REPO / "tests" / "bad_patients" / "unknown-key-dates.toml"
    assert main(["report", str(tab), "-o", str(out), "--patient", str(bad)]) == 2
    assert not out.exists() and "dates.sugery" in capsys.readouterr().err
