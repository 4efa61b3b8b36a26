"""The bad-input corpus (tests/bad_inputs/): every file gives exit 2, names the file and the
field, prints no traceback and writes nothing; one kind of mistake a file."""
from __future__ import annotations

from pathlib import Path

import pytest

from pumpsim.cli.main import main

HERE = Path(__file__).parents[1] / "bad_inputs"
TABLES = sorted(p for p in HERE.glob("*.toml") if not p.name.endswith(".profile.toml"))
GOOD = Path(__file__).parents[2] / "scenarios" / "late-refill.toml"
SPECIAL = {"empty-file.toml": "schema", "not-utf8.toml": "UTF-8"}


def expected(path: Path) -> str:
    if path.name in SPECIAL:
        return SPECIAL[path.name]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{path.name} has no '# expect:' line")


def test_the_corpus_has_at_least_40_kinds_of_mistake():
    assert len(TABLES) >= 40


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.stem)
def test_bad_table_exits_2_naming_file_and_field(path: Path, tmp_path, capsys):
    before = sorted(HERE.iterdir())
    out = tmp_path / "log.csv"
    for argv in (["validate", str(path), "--format", "json"], ["telemetry", str(path), "-o", str(out)]):
        assert main(argv) == 2
        cap = capsys.readouterr()
        assert cap.out == ""
        assert str(path) in cap.err and "Traceback" not in cap.err
        assert expected(path) in cap.err, cap.err
    assert not out.exists() and sorted(HERE.iterdir()) == before


def test_bad_profile_file(capsys):
    prof = HERE / "bad-profile.profile.toml"
    assert main(["validate", str(GOOD), "--profile", str(prof)]) == 2
    err = capsys.readouterr().err
    assert str(prof) in err and "drugs.morphine.max_concentraton" in err and "max_concentration" in err


def test_a_10_mb_file(tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_text(GOOD.read_text() + ("# padding" + " " * 90 + "\n") * 100_000 + "horizn = 1\n")
    assert big.stat().st_size > 10_000_000
    assert main(["validate", str(big)]) == 2
    err = capsys.readouterr().err
    assert "horizn" in err and "Traceback" not in err
