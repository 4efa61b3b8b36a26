"""Errors that are not verdicts: exit 2 for bad input or usage, 3 for a failure of the environment
or of pumpsim itself, each with a message naming the fix, never a traceback and never exit 1
(exit 1 means a hard rule is broken)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pumpsim import api
from pumpsim.cli.main import main
from tests.conftest import REPO

VAR = REPO / "scenarios" / "variability-late-refills.toml"
LATE = REPO / "scenarios" / "late-refill.toml"


def run(*args):
    return subprocess.run([sys.executable, "-m", "pumpsim.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300)


def test_a_bogus_dask_address_is_bad_input(capsys):
    assert main(["simulate", str(VAR), "--runs", "10", "--quiet", "--dask", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "'bogus' is neither 'local' nor a scheduler address" in err and "tcp://host:8786" in err


def test_dask_without_dask_is_an_environment_failure(monkeypatch, capsys):
    monkeypatch.setattr(api, "dask_installed", lambda: False)
    assert main(["simulate", str(VAR), "--runs", "10", "--quiet", "--dask", "local"]) == 3
    err = capsys.readouterr().err
    assert "pip install 'pumpsim[dask]'" in err
    assert "nothing was written" not in err  # simulate writes no file: nothing to reassure about


def test_an_unreachable_scheduler_fails_fast_with_exit_3():
    if not api.dask_installed():
        pytest.skip("Dask is not installed: the address is not tried")
    start = time.monotonic()
    r = run("simulate", str(VAR), "--runs", "10", "--quiet", "--dask", "tcp://127.0.0.1:9")
    elapsed = time.monotonic() - start
    assert r.returncode == 3, r.stderr
    assert "no scheduler answers there" in r.stderr and "Traceback" not in r.stderr and r.stdout == ""
    assert elapsed < api.DASK_CONNECT_TIMEOUT + 20  # not dask's 30 s connection timeout, plus start-up


def test_a_report_under_a_regular_file_is_bad_input(tmp_path):
    blocker = tmp_path / "FILE"
    blocker.write_text("a file, not a folder")
    r = run("report", str(LATE), "-o", str(blocker / "x.html"))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "nothing was written" in r.stderr and str(blocker) in r.stderr
    assert blocker.read_text() == "a file, not a folder"


def test_an_internal_error_is_exit_3_without_a_traceback(monkeypatch, capsys):
    def broken(*a, **k):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(api, "validate", broken)
    assert main(["validate", str(LATE)]) == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: float division by zero" in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "hint"), [
    (["simulate", str(VAR), "--run", "100"], "--run: did you mean --runs?"),
    (["validate", str(LATE), "--profle", "pacc-2017"], "--profle: did you mean --profile?"),
    (["plan", str(LATE), "--calender", "2"], "--calender: did you mean --calendar?"),
])
def test_a_mistyped_option_is_refused_with_the_nearest_one(argv, hint, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert hint in err and f"usage: pumpsim {argv[0]} " in err  # the command's usage, not the top level's


def test_an_abbreviated_option_is_not_guessed(capsys):
    # --run is not taken for --runs (allow_abbrev=False), even though it is a prefix of one option only
    with pytest.raises(SystemExit) as e:
        main(["simulate", str(VAR), "--run", "100", "--quiet"])
    assert e.value.code == 2 and "unrecognized arguments: --run 100" in capsys.readouterr().err


def test_only_a_command_that_writes_says_nothing_was_written(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(LATE.read_text().replace('rate   = "0.5 mL/day"', 'rate   = "0.5 mg/day"'))
    assert main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"pumpsim: 1 problem(s) in {bad}."
    assert main(["validate", str(bad), "--plot", str(tmp_path / "figs")]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"pumpsim: 1 problem(s) in {bad}; nothing was written."
    assert not (tmp_path / "figs").exists()


def test_simulate_without_variability_says_one_run_is_exact(capsys):
    assert main(["simulate", str(LATE), "--runs", "5", "--quiet"]) == 0
    assert "has no [variability] section: every run is the nominal one, so one run is exact" in capsys.readouterr().err
    assert main(["simulate", str(VAR), "--runs", "5", "--quiet"]) == 0
    assert "one run is exact" not in capsys.readouterr().err
    assert api.simulate(LATE, runs=5).exact and not api.simulate(VAR, runs=5).exact


def test_swapped_reconcile_arguments_are_named(capsys):
    table, records = REPO / "benchmarks" / "tables" / "telemetry-year.toml", REPO / "scenarios" / "records" / "year-stall.csv"
    assert main(["reconcile", str(records), str(table)]) == 2
    err = capsys.readouterr().err
    assert "the arguments are swapped" in err and "pumpsim reconcile TABLE.toml RECORDS.csv" in err
    assert "TOML syntax" not in err


@pytest.mark.parametrize(("argv", "words"), [
    (["validate", "scenarios/patients/antiplatelet.toml"],
     "this is a patient file (pumpsim.patient/1), not a programming table (fix: check it with: pumpsim pathway "),
    (["pathway", "scenarios/late-refill.toml"],
     "this is a programming table (pumpsim.table/1), not a patient file (fix: check it with: pumpsim validate "),
    (["validate", "scenarios/programs/palliative-coanalgesia.toml"], "(fix: check it with: pumpsim program "),
])
def test_a_file_of_another_kind_names_the_command_that_reads_it(argv, words, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pumpsim: 1 problem(s) in {argv[1]}.") and words in err


def test_a_mistyped_command_gets_the_nearest_one(capsys):
    with pytest.raises(SystemExit) as e:
        main(["valdate", str(LATE)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'valdate'" in err and err.rstrip().endswith("(did you mean validate?)")


@pytest.mark.parametrize("moves_first", [False, True])
def test_a_wait_without_progress_says_why(moves_first, monkeypatch, capsys):
    """The first Monte-Carlo run compiles the kernel for half a minute: simulate says so on stderr
    (piped too) when no run has finished after SLOW_NOTICE_S, and says nothing when runs progress."""
    from pumpsim.cli import options

    real = api.simulate

    def slow(loaded, progress=None, **kwargs):
        if moves_first:
            progress(1, 10)
        time.sleep(0.6)
        return real(loaded, **{**kwargs, "runs": 5})

    from pumpsim.sim import compiling

    monkeypatch.setattr(options, "SLOW_NOTICE_S", 0.2)
    monkeypatch.setattr(api, "simulate", slow)
    monkeypatch.setattr(compiling, "announced", lambda: False)  # the kernels said nothing yet
    assert main(["simulate", str(VAR), "--quiet"]) == 0
    err = capsys.readouterr().err
    said = "simulate: nothing finished after 0.2 s; the first Monte-Carlo run after an install compiles the Numba kernels"
    assert (said in err) is not moves_first
    # once the kernels have said they are compiling, the notice would only repeat it
    monkeypatch.setattr(compiling, "announced", lambda: True)
    assert main(["simulate", str(VAR), "--quiet"]) == 0
    assert "nothing finished" not in capsys.readouterr().err


def test_dash_is_standard_output_where_the_file_is_the_only_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["telemetry", str(LATE), "-o", "-", "--case", "nominal"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("time,day,event") and "wrote 6 events (nominal case) to standard output" in err
    assert main(["report", str(LATE), "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("<!DOCTYPE html>") and "wrote standard output (warn)" in err
    # plan prints its plan on standard output: its table cannot go there too
    assert main(["plan", str(LATE), "-o", "-"]) == 2
    assert "give a file name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no file named '-'
