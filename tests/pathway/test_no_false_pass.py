"""The pathway says PASS only when the file holds what the regional reference requires and nothing
it can see breaks a rule (FORMAT.md §7 and §12.3-§12.9): completeness, order, coagulation, oral
anticoagulants, consent, admission, calendar-month lab age, methadone only under methadone, the
first refill, OPIOID-CONVERSION with boluses, and NOT CHECKED when nothing could be checked.

Each limit is tested at the limit (silent) and one step past it (fires), from the reference's
sentence quoted in the comment. The base file is scenarios/patients/complete-pass.toml: surgery
2027-01-22, review 2027-01-12, algology and anaesthesia consultations and consent 2027-01-15,
admission 2027-01-20, methadone last taken 2027-01-20, labs of 2027-01-04.
"""
from __future__ import annotations

import datetime as dt

import pytest

from pumpsim.cli.main import main
from pumpsim.model.timebase import add_months
from tests.pathway.test_pathway import BASE, PATIENTS, rules_of, run, skipped_of, table, variant

METH = 'drug = "methadone"\nlast_dose = 2027-01-20'
LMWH = 'drug = "lmwh"\nlast_dose = 2027-01-21'
PT = 'prothrombin = { value = "85 %", at = 2027-01-04 }'
APTT = 'aptt_ratio  = { value = "1.05", at = 2027-01-04 }'
ADM = "admission = 2027-01-20                  # a methadone patient: admitted 48 h before"
CONSENT = "consent = 2027-01-15                    # written informed consent"


def the(report, rule):
    found = [v for v in report.violations if v.rule == rule]
    assert len(found) <= 1
    return found[0] if found else None


# --------------------------------------------------------------------------- completeness
def test_the_complete_file_is_complete():
    assert the(run(BASE), "PATH-FILE-INCOMPLETE") is None


@pytest.mark.parametrize("edit, missing", [
    ({"pain_assessment = 2027-01-03\n": ""}, "file.pain_assessment"),
    ({"oncology_opinion = 2027-01-03           # oncology or palliative-care opinion\n": ""}, "file.oncology_opinion"),
    ({"medication_review = 2027-01-04\n": ""}, "file.medication_review"),
    ({PT + "\n": ""}, "labs.prothrombin (or labs.inr)"),
    ({APTT + "\n": ""}, "labs.aptt_ratio"),
    ({"glucose     = { at = 2027-01-04 }\n": ""}, "labs.glucose"),
    ({"glucose     = { at = 2027-01-04 }": "glucose     = { value = \"5.1 mmol/L\" }"}, "labs.glucose.at"),
    ({'platelets   = { value = "150000 /mm3", at = 2027-01-04 }': "platelets = { at = 2027-01-04 }"},
     "labs.platelets.value"),
    ({"brain = 2026-12-28\n": ""}, "imaging.brain"),
    ({"conditions = []                         # none of the contraindications\n": ""}, "patient.conditions"),
    ({'life_expectancy = "6 month"\n': ""}, "patient.life_expectancy"),
])
def test_each_missing_element_of_the_complete_file_fails(edit, missing):
    # « Le dossier complet est un pré-requis à toute demande d'orientation vers un établissement
    # « poseur » AIT. » One element absent: PATH-FILE-INCOMPLETE (hard), naming it.
    r = run(variant(edit))
    v = the(r, "PATH-FILE-INCOMPLETE")
    assert v is not None and v.severity == "hard" and missing in v.message and r.verdict == "fail"


def test_inr_stands_for_the_prothrombin_time():
    # « Bilan de coagulation normal (TP, TCA) »: an INR instead of the prothrombin time is the same test
    r = run(variant({PT: 'inr = { value = "1.1", at = 2027-01-04 }'}))
    assert the(r, "PATH-FILE-INCOMPLETE") is None and r.verdict == "pass"


def test_the_ome_or_severe_adverse_effects_is_required():
    no_ome = {'oral_morphine_equivalent = "400 mg/day" # current systemic opioids (OME)\n': ""}
    assert "patient.oral_morphine_equivalent" in the(run(variant({**no_ome, "severe_adverse_effects = false\n": ""})),
                                                     "PATH-FILE-INCOMPLETE").message
    # the severe adverse effects alone give the second arm of the indication: complete
    assert the(run(variant({**no_ome, "severe_adverse_effects = false": "severe_adverse_effects = true"})),
               "PATH-FILE-INCOMPLETE") is None


def test_a_file_with_the_patient_section_alone_is_not_checked(capsys):
    text = 'schema = "pumpsim.patient/1"\n[patient]\nrefractory_pain = true\noral_morphine_equivalent = "450 mg/day"\n'
    r = run(text)
    assert r.verdict == "not_checked" and r.exit_status == 0
    assert any(s.rule == "PATH-FILE-INCOMPLETE" and "not complete yet" in s.reason for s in r.not_checked)
    assert main(["pathway", str(PATIENTS / "patient-only.toml")]) == 0
    assert capsys.readouterr().out.startswith("NOT CHECKED: the file is not complete yet")


def test_a_file_not_dated_complete_still_fails_on_a_hard_rule():
    text = 'schema = "pumpsim.patient/1"\n[patient]\nconditions = ["csf-obstruction"]\n'
    assert run(text).verdict == "fail"  # worst of fail and not_checked


# --------------------------------------------------------------------------- order
def test_surgery_before_the_review_is_out_of_order_and_no_delay_is_counted_across():
    # the case: surgery 7 days before the review. PATH-ORDER alone (the delay rules judge
    # only pairs in order), and the timeline never says "-7 days after".
    r = run(variant({"review = 2027-01-12": "review = 2027-01-29", "file_complete = 2027-01-05": "file_complete = 2027-01-20"}))
    v = the(r, "PATH-ORDER")
    assert v is not None and v.severity == "hard"
    assert "surgery (2027-01-22) is before the multidisciplinary review (2027-01-29)" in v.message
    assert "the algology consultation (2027-01-15) is before the multidisciplinary review (2027-01-29)" in v.message
    assert not {"PATH-CONSULT-DELAY", "PATH-SURGERY-WINDOW", "PATH-REVIEW-DELAY"} & rules_of(r)
    from pumpsim.pathway.report import render_text
    text = render_text(r)
    assert "-7" not in text and "-14" not in text
    assert "2027-01-29  multidisciplinary review: 9 days after the complete file" in text
    assert "algology consultation: 14 days before the review (limit 7)  <-- out of order" in text


@pytest.mark.parametrize("in_order, out_of_order", [
    # algology consultation and surgery on the same day: in order (PATH-SURGERY-WINDOW judges it)
    ({"algology_consult = 2027-01-15": "algology_consult = 2027-01-22"},
     {"algology_consult = 2027-01-15": "algology_consult = 2027-01-23"}),
    # review and algology consultation on the same day: in order; the day after the consultation: not
    ({"review = 2027-01-12": "review = 2027-01-15"}, {"review = 2027-01-12": "review = 2027-01-16"}),
    # anaesthesia consultation: strictly before surgery
    ({"anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-21"},
     {"anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-22"}),
    # admission on the day of surgery is in order (PATH-METHADONE judges it); the day after is not
    ({ADM: "admission = 2027-01-22"}, {ADM: "admission = 2027-01-23"}),
    # the first-refill appointment strictly after surgery
    ({"first_refill_appointment = 2027-02-19": "first_refill_appointment = 2027-01-23"},
     {"first_refill_appointment = 2027-02-19": "first_refill_appointment = 2027-01-22"}),
    # chemotherapy resumed strictly after surgery
    ({"resume = 2027-02-08": "resume = 2027-01-23"}, {"resume = 2027-02-08": "resume = 2027-01-22"}),
    # labs not after the anaesthesia consultation (2027-01-15) they are judged at
    ({"at = 2027-01-04": "at = 2027-01-15"}, {"at = 2027-01-04": "at = 2027-01-16"}),
    # imaging not after the review (2027-01-12)
    ({"brain = 2026-12-28": "brain = 2027-01-12"}, {"brain = 2026-12-28": "brain = 2027-01-13"}),
])
def test_order_at_the_limit_and_one_day_past(in_order, out_of_order):
    assert "PATH-ORDER" not in rules_of(run(variant(in_order)))
    assert "PATH-ORDER" in rules_of(run(variant(out_of_order)))


def test_a_lab_after_the_review_is_judged_at_the_consultation_only():
    # labs of 2027-01-13: after the review (2027-01-12), not after the consultation (2027-01-15)
    r = run(variant({"at = 2027-01-04": "at = 2027-01-13"}))
    assert "PATH-ORDER" not in rules_of(r) and "PATH-LAB-AGE" not in rules_of(r)
    assert any(s.rule == "PATH-LAB-AGE" and "judged at the anaesthesia consultation only" in s.reason
               for s in r.not_checked)


# --------------------------------------------------------------------------- lab and imaging age
def test_one_calendar_month():
    assert add_months(dt.date(2027, 1, 4), 1) == dt.date(2027, 2, 4)
    assert add_months(dt.date(2027, 1, 31), 1) == dt.date(2027, 2, 28)  # the last day of February
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 12, 13), 1) == dt.date(2027, 1, 13)


def test_labs_are_judged_again_at_the_anaesthesia_consultation():
    # « A ce stade, les bilans biologiques devront être vérifiés ou prescrits »: labs of 2026-12-20
    # are 23 days old at the review (2027-01-12); a consultation on 2027-01-19 is within the month
    # (one month old on 2027-01-20), on 2027-01-20 it is not.
    lab = {"at = 2027-01-04": "at = 2026-12-20"}
    assert "PATH-LAB-AGE" not in rules_of(run(variant({**lab, "anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-19"})))
    r = run(variant({**lab, "anaesthesia_consult = 2027-01-15": "anaesthesia_consult = 2027-01-20"}))
    v = the(r, "PATH-LAB-AGE")
    assert v.at == "2027-01-20" and (v.value, v.limit) == (31.0, 31.0)
    assert "at the anaesthesia consultation (2027-01-20)" in v.message and "at the review" not in v.message


# --------------------------------------------------------------------------- coagulation
COAG = [
    # « Bilan de coagulation normal (TP, TCA) »: normal prothrombin time from 70 % (the profile's,
    # unverified); the neuraxial limit 50 % (unverified). Each: value, expected rule or None.
    (PT, "prothrombin", '"70 %"', None), (PT, "prothrombin", '"69 %"', "PATH-RELATIVE"),
    (PT, "prothrombin", '"50 %"', "PATH-RELATIVE"), (PT, "prothrombin", '"49 %"', "PATH-LAB-VALUE"),
    (PT, "inr", '"1.2"', None), (PT, "inr", '"1.21"', "PATH-RELATIVE"),
    (PT, "inr", "1.5", "PATH-RELATIVE"), (PT, "inr", "1.51", "PATH-LAB-VALUE"),
    (APTT, "aptt_ratio", '"1.2"', None), (APTT, "aptt_ratio", '"1.21"', "PATH-RELATIVE"),
    (APTT, "aptt_ratio", '"1.5"', "PATH-RELATIVE"), (APTT, "aptt_ratio", '"1.51"', "PATH-LAB-VALUE"),
]


@pytest.mark.parametrize("line, lab, value, rule", COAG, ids=[f"{c[1]}-{c[2]}" for c in COAG])
def test_coagulation_soft_outside_the_normal_range_hard_beyond_the_neuraxial_limit(line, lab, value, rule):
    r = run(variant({line: f"{lab} = {{ value = {value}, at = 2027-01-04 }}"}))
    fired = rules_of(r) & {"PATH-RELATIVE", "PATH-LAB-VALUE"}
    assert fired == ({rule} if rule else set())  # beyond the hard limit: PATH-LAB-VALUE alone
    if rule:
        v = the(r, rule)
        assert v.severity == ("hard" if rule == "PATH-LAB-VALUE" else "soft") and v.verified is False


def test_prothrombin_is_reported_in_percent():
    v = the(run(variant({PT: 'prothrombin = { value = "45 %", at = 2027-01-04 }'})), "PATH-LAB-VALUE")
    assert (v.value, v.limit, v.unit) == (45.0, 50.0, "%")


def test_cell_counts_in_g_per_l():
    # 80 G/L = 80,000 /mm3: « Plaquettes > 80 000 / mm3 » is not met; 80.001 G/L is
    base = 'platelets   = { value = "150000 /mm3", at = 2027-01-04 }'
    assert "PATH-LAB-VALUE" in rules_of(run(variant({base: 'platelets = { value = "80 G/L", at = 2027-01-04 }'})))
    assert "PATH-LAB-VALUE" not in rules_of(run(variant({base: 'platelets = { value = "80.001 G/L", at = 2027-01-04 }'})))


# --------------------------------------------------------------------------- anticoagulants
@pytest.mark.parametrize("drug", ["apixaban", "rivaroxaban", "edoxaban", "dabigatran", "anticoagulant-oral"])
def test_direct_oral_anticoagulants_stop_5_days_before_with_no_relay(drug):
    # GIHP 2015 (unverified): stop 5 days before a neuraxial procedure, no relay. Surgery 2027-01-22:
    # last dose 2027-01-17 (5 days) silent, 2027-01-18 (4 days) hard; no LMWH relay is not asked.
    ok = run(variant({LMWH: f'drug = "{drug}"\nlast_dose = 2027-01-17'}))
    assert "PATH-ANTICOAGULANT" not in rules_of(ok)
    v = the(run(variant({LMWH: f'drug = "{drug}"\nlast_dose = 2027-01-18'})), "PATH-ANTICOAGULANT")
    assert (v.severity, v.value, v.limit, v.verified) == ("hard", 4.0, 5.0, False)
    assert the(run(variant({LMWH: f'drug = "{drug}"'})), "PATH-ANTICOAGULANT").severity == "hard"  # still taken


@pytest.mark.parametrize("drug", ["warfarin", "fluindione", "acenocoumarol"])
def test_vitamin_k_antagonists_stop_5_days_before_with_an_lmwh_relay(drug):
    # « Anticoagulants : relais HBPM avec arrêt à J-1 »: the VKA stops (5 days, unverified) and the
    # LMWH relay stops at day -1. With the relay: day -5 silent, day -4 hard.
    relay = LMWH + f'\n\n[[treatment]]\ndrug = "{drug}"\nlast_dose = '
    assert "PATH-ANTICOAGULANT" not in rules_of(run(variant({LMWH: relay + "2027-01-17"})))
    assert the(run(variant({LMWH: relay + "2027-01-18"})), "PATH-ANTICOAGULANT").severity == "hard"
    # stopped in time but no relay recorded: soft
    v = the(run(variant({LMWH: f'drug = "{drug}"\nlast_dose = 2027-01-10'})), "PATH-ANTICOAGULANT")
    assert v.severity == "soft" and "no LMWH relay" in v.message


def test_lmwh_24_h_exactly_with_date_times():
    # « arrêt à J-1 »: with date-times, at least 24 h before surgery (surgery 2027-01-22T08:00)
    surg = {"surgery = 2027-01-22": "surgery = 2027-01-22T08:00:00"}
    assert "PATH-ANTICOAGULANT" not in rules_of(run(variant({**surg, LMWH: LMWH.replace("2027-01-21", "2027-01-21T08:00:00")})))
    v = the(run(variant({**surg, LMWH: LMWH.replace("2027-01-21", "2027-01-21T09:00:00")})), "PATH-ANTICOAGULANT")
    assert v.value == pytest.approx(23 / 24) and v.limit == 1.0


# --------------------------------------------------------------------------- consent
def test_written_consent_before_surgery():
    # « s'assurer que le consentement écrit du patient ait bien été recueilli »: strictly before the surgery date
    assert "PATH-CONSENT" not in rules_of(run(variant({CONSENT: "consent = 2027-01-21"})))
    assert the(run(variant({CONSENT: "consent = 2027-01-22"})), "PATH-CONSENT").severity == "hard"
    v = the(run(variant({CONSENT + "\n": ""})), "PATH-CONSENT")
    assert "no written consent recorded" in v.message


def test_under_18_the_parents_authorisation_is_required():
    # « Les parents devront donner leur autorisation avant réalisation de l'implantation. »
    assert "PATH-CONSENT" not in rules_of(run(variant({"age = 61": "age = 18"})))
    v = the(run(variant({"age = 61": "age = 17"})), "PATH-CONSENT")
    assert (v.value, v.limit, v.unit) == (17.0, 18.0, "year")
    assert "parents' authorisation" in v.message and "size and weight" in v.message
    given = {"age = 61": "age = 17", CONSENT: CONSENT + "\nparental_authorisation = 2027-01-21"}
    assert "PATH-CONSENT" not in rules_of(run(variant(given)))
    late = {"age = 61": "age = 17", CONSENT: CONSENT + "\nparental_authorisation = 2027-01-22"}
    assert "PATH-CONSENT" in rules_of(run(variant(late)))


# --------------------------------------------------------------------------- admission and methadone
NO_METH = {"[[treatment]]\n" + METH + "\n\n": ""}


def test_admission_the_day_before():
    # « Le patient est hospitalisé la veille de l'intervention »: day -1 silent, same day soft
    assert "PATH-ADMISSION" not in rules_of(run(variant({**NO_METH, ADM: "admission = 2027-01-21"})))
    v = the(run(variant({**NO_METH, ADM: "admission = 2027-01-22"})), "PATH-ADMISSION")
    assert (v.severity, v.value, v.limit) == ("soft", 0.0, 1.0)
    assert "admission not recorded" in the(run(variant({**NO_METH, ADM + "\n": ""})), "PATH-ADMISSION").message


def test_a_patient_under_methadone_admitted_late_is_path_methadone_only():
    # « Pour les patients sous méthadone, l'hospitalisation se fera 48 heures avant l'intervention. »
    r = run(variant({ADM: "admission = 2027-01-21"}))
    assert "PATH-METHADONE" in rules_of(r) and "PATH-ADMISSION" not in rules_of(r)


def test_methadone_stopped_before_the_algology_consultation_is_history():
    # the false alarm of the issue: methadone stopped two months ago; admitted the day before
    stopped = {METH: METH.replace("2027-01-20", "2026-11-20"), ADM: "admission = 2027-01-21"}
    r = run(variant(stopped))
    assert r.verdict == "pass" and "PATH-METHADONE" not in rules_of(r)
    # last taken on the algology consultation's date (2027-01-15): still under methadone
    on = {METH: METH.replace("2027-01-20", "2027-01-15"), ADM: "admission = 2027-01-21"}
    assert "PATH-METHADONE" in rules_of(run(variant(on)))
    # the day before the consultation: history
    before = {METH: METH.replace("2027-01-20", "2027-01-14"), ADM: "admission = 2027-01-21"}
    assert "PATH-METHADONE" not in rules_of(run(variant(before)))


def test_without_the_consultation_date_methadone_within_15_days_of_surgery_counts():
    no_algo = {"algology_consult = 2027-01-15\n": "", ADM: "admission = 2027-01-21"}
    # 2027-01-07 -> 2027-01-22: 15 days (under methadone); 2027-01-06: 16 days (history)
    assert "PATH-METHADONE" in rules_of(run(variant({**no_algo, METH: METH.replace("2027-01-20", "2027-01-07")})))
    assert "PATH-METHADONE" not in rules_of(run(variant({**no_algo, METH: METH.replace("2027-01-20", "2027-01-06")})))


# --------------------------------------------------------------------------- the table
def test_opioid_conversion_counts_the_allowed_boluses():
    # the case: basal 1 mg/day (2 mg/mL x 0.5 mL/day) plus three 0.25 mL boluses (0.5 mg
    # each, lockout 8 h) in the first 24 h = 2.5 mg. « per os 300 mg = intrathécale 1 mg »: with
    # 750 mg/day oral the equivalent is 2.5 mg (at the limit, silent); with 749 mg/day it fires.
    tab = table(morphine="2 mg/mL").replace('bolus = { volume = "0.1 mL", lockout = "24 h", max_per_24h = 1 }',
                                            'bolus = { volume = "0.25 mL", lockout = "8 h", max_per_24h = 3 }')
    assert "OPIOID-CONVERSION" not in rules_of(run(variant({'"400 mg/day"': '"750 mg/day"'}), tab))
    v = the(run(variant({'"400 mg/day"': '"749 mg/day"'}), tab), "OPIOID-CONVERSION")
    assert v.value == pytest.approx(2.5) and v.limit == pytest.approx(749 / 300)
    assert "basal 1 mg/day + 1.5 mg of allowed boluses" in v.message
    # 300 mg/day: 1 mg, the PASS that is now a warning
    assert the(run(variant({'"400 mg/day"': '"300 mg/day"', "severe_adverse_effects = false":
                            "severe_adverse_effects = true"}), tab), "OPIOID-CONVERSION") is not None


def test_opioid_conversion_is_for_intrathecal_tables_only():
    tab = table(model="syringe-driver-50", extra='route = "subcutaneous"\nreservoir = "50 mL"', low_alarm='"2 mL"')
    r = run(BASE, tab)
    assert "OPIOID-CONVERSION" in skipped_of(r) and "OPIOID-CONVERSION" not in rules_of(r)


def test_a_profile_without_pathway_is_not_checked(capsys):
    # the case: every PATH rule would be "checks not made"; the verdict says so, exit 0
    assert main(["pathway", str(PATIENTS / "antiplatelet.toml"), "--profile", "pacc-2017"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NOT CHECKED: this profile has no pathway thresholds; use fr-ait-2020 or a hospital "
                          "profile with [pathway]")
    # with --table, OPIOID-CONVERSION alone is judged; the verdict is the worst of it and not_checked
    r = run(BASE, table(), profile="pacc-2017")
    assert rules_of(r) == {"OPIOID-CONVERSION"} and r.verdict == "warn"
    r = run(BASE, table(morphine="1 mg/mL"), profile="pacc-2017")
    assert r.violations == [] and r.verdict == "not_checked"


def test_profile_file_overrides_the_files_profile(tmp_path, capsys):
    prof = tmp_path / "hospital.toml"
    prof.write_text('schema = "pumpsim.profile/1"\nname = "our-hospital"\nbase = "fr-ait-2020"\n[pathway]\n'
                    'antiplatelet_stop_before = { value = "3 day", source = "our hospital", verified = true }\n')
    assert main(["pathway", str(PATIENTS / "antiplatelet.toml"), "--profile", str(prof)]) == 0  # 4 days >= 3
    assert capsys.readouterr().out.startswith("PASS")


# --------------------------------------------------------------------------- wording
def test_days_are_counted_in_words():
    from pumpsim.pathway.report import render_text

    text = render_text(run(variant({'drug = "other-opioid"                   # oral oxycodone, relayed by IV PCA\n'
                                    'last_dose = 2027-01-21': 'drug = "other-opioid"\nlast_dose = 2027-01-22'})))
    assert "stop at least 1 day before" in text and "1 days" not in text


@pytest.mark.parametrize("name, rule, severity, status", [
    ("first-refill-empty", "PATH-FIRST-REFILL", "hard", 1),
    ("opioid-conversion-boluses", "OPIOID-CONVERSION", "soft", 0),
])
def test_the_shipped_examples_with_their_table(name, rule, severity, status, capsys):
    patient, tab = PATIENTS / f"{name}.toml", PATIENTS / "tables" / f"{name}.toml"
    assert main(["pathway", str(patient), "--table", str(tab), "--format", "json"]) == status
    import json
    out = json.loads(capsys.readouterr().out)
    assert [(v["rule"], v["severity"]) for v in out["violations"]] == [(rule, severity)]
    assert main(["pathway", str(patient)]) == 0  # without the table: the appointment is given, nothing else to judge
    assert capsys.readouterr().out.startswith("PASS")


def test_the_timeline_counts_a_lab_redone_after_the_review_at_the_consultation():
    from pumpsim.pathway.report import render_text

    # labs of 2027-01-13, after the review (2027-01-12), 2 days before the consultation (2027-01-15)
    text = render_text(run(variant({"at = 2027-01-04": "at = 2027-01-13"})))
    assert "2027-01-13  neutrophils count: 2 days before the anaesthesia consultation (limit 30)" in text
    assert "out of order" not in text and "-1 day" not in text
