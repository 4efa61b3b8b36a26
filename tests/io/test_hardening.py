"""Hardening: inputs that once gave a traceback give exit 2 with the file, the field and the fix."""
from __future__ import annotations

import pytest

from pumpsim.cli.main import main
from tests.conftest import EXAMPLE

DEEP = 500  # nesting that exhausted Python's stack in tomllib and in the readers


@pytest.mark.parametrize("command", ["validate", "pathway", "program"])
def test_toml_nested_500_deep_is_bad_input_in_every_reader(tmp_path, capsys, command):
    f = tmp_path / "deep.toml"
    f.write_text('schema = "pumpsim.table/1"\nx = ' + "[" * DEEP + "]" * DEEP + "\n")
    assert main([command, str(f)]) == 2
    err = capsys.readouterr().err
    assert "nested more than" in err and str(f) in err and "Traceback" not in err


def test_a_profile_file_nested_too_deep_is_bad_input(tmp_path, capsys):
    prof = tmp_path / "p.toml"
    prof.write_text("x = " + "[" * DEEP + "]" * DEEP + "\n")
    assert main(["validate", str(EXAMPLE), "--profile", str(prof)]) == 2
    assert "nested more than" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["a" * 300, "a" * 300 + ".toml"])
def test_a_profile_name_longer_than_a_file_name_can_be_is_bad_input(capsys, name):
    assert main(["validate", str(EXAMPLE), "--profile", name]) == 2
    err = capsys.readouterr().err
    assert "--profile" in err and "Traceback" not in err


def test_a_missing_profile_file_names_the_table_and_the_field_that_asked_for_it(tmp_path, capsys):
    t = tmp_path / "t.toml"
    t.write_text(EXAMPLE.read_text().replace('profile = "fr-ait-2020"', 'profile = "hospital/chu-x.toml"'))
    assert 'profile = "hospital/chu-x.toml"' in t.read_text()
    assert main(["validate", str(t)]) == 2
    err = capsys.readouterr().err
    assert f"{t}: profile: profile file hospital/chu-x.toml not found" in err


def test_a_dollar_in_a_file_name_does_not_break_the_figures(tmp_path, capsys):
    t = tmp_path / "cost$5$.toml"
    t.write_text(EXAMPLE.read_text())
    out = tmp_path / "figs"
    assert main(["plot", str(t), "-o", str(out)]) in (0, 1)
    assert (out / "reservoir.png").stat().st_size > 0 and (out / "doses.svg").stat().st_size > 0


@pytest.mark.parametrize("year", ["9999", "1899"])
def test_a_session_date_outside_the_supported_range_is_bad_input(tmp_path, capsys, year):
    t = tmp_path / "t.toml"
    t.write_text(EXAMPLE.read_text().replace("2026-", f"{year}-").replace("2027-", f"{year}-"))
    assert f"{year}-" in t.read_text()
    assert main(["validate", str(t)]) == 2
    err = capsys.readouterr().err
    assert "outside the dates pumpsim supports (1900-01-01 to 2200-12-31)" in err and "session[1].at" in err


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["telemetry", "-o", "{out}.csv"], ["report", "-o", "{out}"]])
def test_a_table_at_the_end_of_the_supported_range_runs_every_command(tmp_path, command):
    t = tmp_path / "t.toml"
    t.write_text(EXAMPLE.read_text().replace("2026-", "2199-").replace("2027-", "2200-"))
    argv = [c.replace("{out}", str(tmp_path / "r.html")) for c in command]
    assert main([argv[0], str(t), *argv[1:]]) in (0, 1)


RECORDS_TABLE = EXAMPLE.parents[1] / "benchmarks" / "tables" / "telemetry-year.toml"
RECORDS = EXAMPLE.parent / "records" / "year-fault-free.csv"


@pytest.mark.parametrize("bad, where", [
    ("9" * 401, "boluses"),            # a 401-digit count: OverflowError in reconcile before
    ("１２", "boluses"),                # fullwidth digits
    ("١٢", "boluses"),                  # Arabic-Indic digits
    ("1_0", "boluses"),                # Python's digit grouping is not a count
])
def test_a_bolus_count_out_of_range_or_not_ascii_is_bad_input(tmp_path, capsys, bad, where):
    lines = RECORDS.read_text().splitlines()
    head = lines[0].split(",")
    col = head.index("boluses")
    row = next(i for i, line in enumerate(lines) if line.split(",")[col] != "" and i > 0)
    cells = lines[row].split(",")
    cells[col] = bad
    lines[row] = ",".join(cells)
    f = tmp_path / "r.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["reconcile", str(RECORDS_TABLE), str(f)]) == 2
    err = capsys.readouterr().err
    assert f"row {row}" in err and where in err and "Traceback" not in err


@pytest.mark.parametrize("year", ["9999", "9000", "1800"])
def test_record_times_outside_the_supported_range_are_bad_input_at_once(tmp_path, capsys, year):
    lines = RECORDS.read_text().splitlines()
    lines[-1] = year + lines[-1][4:]
    f = tmp_path / "r.csv"
    f.write_text("\n".join(lines) + "\n")
    assert main(["reconcile", str(RECORDS_TABLE), str(f)]) == 2
    assert "outside the dates pumpsim supports" in capsys.readouterr().err


@pytest.mark.parametrize("command, sample, old, new", [
    ("pathway", EXAMPLE.parent / "patients" / "complete-pass.toml", "2027-", "9999-"),
    ("program", EXAMPLE.parent / "programs" / "palliative-coanalgesia.toml", "2027-", "9999-"),
])
def test_patient_and_program_dates_outside_the_supported_range_are_bad_input(tmp_path, capsys, command, sample, old, new):
    f = tmp_path / "f.toml"
    text = sample.read_text()
    assert old in text
    f.write_text(text.replace(old, new))
    assert main([command, str(f)]) == 2
    assert "outside the dates pumpsim supports" in capsys.readouterr().err


def test_a_missing_unit_is_mended_with_a_unit_of_the_fields_kind_and_a_decimal_comma_is_named(tmp_path, capsys):
    f = tmp_path / "t.toml"
    f.write_text('schema = "pumpsim.table/1"\nhorizon = "60"\n[pump]\nmodel = "synchromed-ii-20"\n[[session]]\n'
                 'at = 2027-01-01T09:00:00\nrate = "0.5"\nrefill = { volume = "20", mix = { morphine = "5,5 mg/mL" } }\n'
                 'bolus = { volume = "0.1 mL", lockout = "6", max_per_24h = 4 }\n')
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "horizon: '60' has no unit (fix: add the unit, e.g. '60 day' or '60 h')" in err
    assert "session[1].rate: '0.5' has no unit (fix: add the unit, e.g. '0.5 mL/day')" in err
    assert "session[1].refill.volume: '20' has no unit (fix: add the unit, e.g. '20 mL')" in err
    assert "session[1].bolus.lockout: '6' has no unit (fix: add the unit, e.g. '6 day' or '6 h')" in err
    assert "'5,5 mg/mL' has a decimal comma (fix: write a decimal point: '5.5 mg/mL')" in err


def test_one_rule_for_folders_an_output_folder_is_made_but_never_its_missing_parents(tmp_path, capsys):
    assert main(["plot", str(EXAMPLE), "-o", str(tmp_path / "no" / "figs")]) == 2
    assert "the folder" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert main(["validate", str(EXAMPLE), "--plot", str(tmp_path / "no" / "figs")]) == 2
    assert main(["telemetry", str(EXAMPLE), "-o", str(tmp_path / "no" / "log.csv")]) == 2
    assert not (tmp_path / "no").exists()
    assert main(["plot", str(EXAMPLE), "-o", str(tmp_path / "figs")]) in (0, 1)  # its parent exists: made
    assert (tmp_path / "figs" / "reservoir.png").exists()
