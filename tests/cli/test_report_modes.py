"""A report that holds patient data (``--patient``, ``--records``) is created readable by its owner
only (0600); a report without it gets the usual mode (0666 less the umask); a replaced report keeps
the mode of the file it replaces, whatever it holds."""
from __future__ import annotations

import os
import stat

import pytest

from pumpsim import api
from pumpsim.cli.main import main
from tests.conftest import REPO

CC = REPO / "scenarios" / "concentration-change.toml"
YEAR = REPO / "benchmarks" / "tables" / "telemetry-year.toml"
STALL = REPO / "scenarios" / "records" / "year-stall.csv"
ANTIPLATELET = REPO / "scenarios" / "patients" / "antiplatelet.toml"


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_report_with_a_patient_file_is_created_0600(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(CC), "-o", str(out), "--patient", str(ANTIPLATELET)]) == 1
    assert "care pathway" in out.read_text(encoding="utf-8") and mode(out) == 0o600


def test_a_new_report_with_records_is_created_0600(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(YEAR), "-o", str(out), "--records", str(STALL)]) == 1
    assert "telemetry records" in out.read_text(encoding="utf-8") and mode(out) == 0o600


def test_a_new_report_of_the_table_alone_gets_the_usual_mode(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(CC), "-o", str(out)]) == 0
    assert mode(out) == 0o644  # 0666 less the umask 022


@pytest.mark.parametrize("kept", [0o640, 0o600])
def test_a_replaced_report_keeps_the_mode_of_the_file_it_replaces(tmp_path, capsys, kept):
    out = tmp_path / "r.html"
    out.write_text("old report", encoding="utf-8")
    os.chmod(out, kept)
    assert main(["report", str(CC), "-o", str(out), "--patient", str(ANTIPLATELET)]) == 1
    assert out.read_text(encoding="utf-8") != "old report" and mode(out) == kept
    assert main(["report", str(CC), "-o", str(out)]) == 0  # the table alone over a private report: still private
    assert mode(out) == kept


def test_the_outcome_says_whether_it_holds_patient_data():
    assert not api.report(CC).private
    assert api.report(CC, patient=ANTIPLATELET).private
