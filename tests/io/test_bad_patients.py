"""The bad patient files (tests/bad_patients/): each exits 2 from `pumpsim pathway`, naming the
file and the field, with no traceback and nothing on stdout; every error of a file at once."""
from __future__ import annotations

from pathlib import Path

import pytest

from pumpsim.cli.main import main

HERE = Path(__file__).parents[1] / "bad_patients"
FILES = sorted(HERE.glob("*.toml"))
SPECIAL = {"empty-file.toml": "the file is empty", "not-utf8.toml": "UTF-8"}
GOOD = Path(__file__).parents[2] / "scenarios" / "patients" / "complete-pass.toml"


def expected(path: Path) -> str:
    if path.name in SPECIAL:
        return SPECIAL[path.name]
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect:"), path.name
    return first.split(":", 1)[1].strip()


def test_the_corpus_covers_the_kinds_of_mistake():
    assert len(FILES) >= 30


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bad_patient_file_exits_2_naming_file_and_field(path: Path, capsys):
    assert main(["pathway", str(path), "--format", "json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert str(path) in cap.err and "Traceback" not in cap.err
    assert expected(path) in cap.err, cap.err


def test_nearest_names_are_suggested(capsys):
    assert main(["pathway", str(HERE / "unknown-condition.toml")]) == 2
    assert "did you mean 'ascites'" in capsys.readouterr().err
    assert main(["pathway", str(HERE / "unknown-treatment.toml")]) == 2
    assert "did you mean 'aspirin'" in capsys.readouterr().err
    assert main(["pathway", str(HERE / "unknown-key-dates.toml")]) == 2
    assert "did you mean 'surgery'" in capsys.readouterr().err
    assert main(["pathway", str(HERE / "life-unit-unknown.toml")]) == 2
    assert "'month'" in capsys.readouterr().err
    assert main(["pathway", str(HERE / "ome-no-unit.toml")]) == 2
    assert 'e.g. "400 mg/day"' in capsys.readouterr().err


def test_every_error_of_the_file_at_once(tmp_path, capsys):
    bad = tmp_path / "many.toml"
    bad.write_text('schema = "pumpsim.patient/1"\n[patient]\nconditions = ["ascite"]\noral_morphine_equivalent = "400"\n'
                   '[dates]\nsugery = 2027-01-22\n[[treatment]]\ndrug = "asprin"\n')
    assert main(["pathway", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s)" in err
    for field in ("patient.conditions[1]", "patient.oral_morphine_equivalent", "dates.sugery", "treatment[1].drug"):
        assert field in err


def test_a_bad_table_and_a_bad_patient_file_are_reported_together(tmp_path, capsys):
    table = Path(__file__).parents[1] / "bad_inputs" / "unknown-drug.toml"
    assert main(["pathway", str(HERE / "unknown-key-dates.toml"), "--table", str(table)]) == 2
    err = capsys.readouterr().err
    assert "dates.sugery" in err and str(table) in err


def test_a_bad_profile_file_exits_2(tmp_path, capsys):
    prof = tmp_path / "p.toml"
    prof.write_text('schema = "pumpsim.profile/1"\nname = "x"\nbase = "fr-ait-2020"\n[pathway]\n'
                    'review_max_dealy = { value = "20 day", source = "s", verified = true }\n'
                    'lab_max_age = { value = "1 month", source = "s", verified = true }\n'
                    'neutrophils_min = { value = "500 mL", source = "s", verified = true }\n'
                    'absolute_contraindications = { value = ["psychosis"], source = "s", verified = true }\n')
    assert main(["pathway", str(GOOD), "--profile", str(prof)]) == 2
    err = capsys.readouterr().err
    assert "pathway.review_max_dealy" in err and "review_max_delay" in err
    assert "pathway.neutrophils_min.value" in err and "pathway.absolute_contraindications.value" in err
    assert "pathway.lab_max_age" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["pathway", str(tmp_path / "nope.toml")]) == 2
    assert "file not found" in capsys.readouterr().err
