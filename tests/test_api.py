"""The Python API (pumpsim.load_table / validate / simulate / plan, pumpsim.render.figures), its example
docs/examples/api_tour.py, and one result flowing downstream: validate computes each case once,
and the reports and figures render it without simulating again."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest

import pumpsim
from pumpsim.cli.main import main
from pumpsim.model.timebase import DAY
from pumpsim.sim import engine, simulation
from tests.conftest import REPO

LATE = REPO / "scenarios" / "late-refill.toml"
CC = REPO / "scenarios" / "concentration-change.toml"
TOUR = REPO / "docs" / "examples" / "api_tour.py"
PATIENT = REPO / "scenarios" / "patients" / "complete-pass.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_api_tour_runs_and_prints_hand_derived_numbers(tmp_path):
    """The example runs as a script in a fresh process (as CI runs it), without pyplot."""
    code = ("import runpy, sys; sys.argv = [sys.argv[1], sys.argv[2]]; runpy.run_path(sys.argv[0], run_name='__main__'); "
            "print('pyplot loaded:', 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(TOUR), str(tmp_path)], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "verdict: warn (exit status 0)"
    # 20 mL at 0.5 mL/day on a pump 14.5 % fast: empty after 20 / 0.5725 = 34.9345 days, 38 - 34.9345 =
    # 3.0655 days before the day-38 refill; 34.9345 days after 2026-12-01 09:00 is 2027-01-05 07:25:41
    empty_s = 20 / (0.5 * 1.145) * DAY
    assert lines[1] == "REFILL-EMPTY-WORST (soft): 3.066 day without drug, judged at the session of 2027-01-05 07:25"
    start = dt.datetime(2026, 12, 1, 9)
    assert f"{start + dt.timedelta(seconds=round(empty_s)):%Y-%m-%d %H:%M:%S}" == "2027-01-05 07:25:41"
    assert lines[2] == f"worst case: the reservoir is empty at 2027-01-05 07:25:41 (t = {empty_s:.0f} s)"
    # nominal: the 2 mL low alarm after 18 / 0.5 = 36 days
    assert lines[3].startswith("nominal case: low alarm at 2027-01-06 09:00; ")
    # 4 mg/mL x 0.5 mL/day x 1.145 = 2.29 mg in any 24 h
    assert lines[4] == "morphine: at most 2.29 mg in any 24 h (worst case)"
    assert lines[5].startswith(f"figure: {tmp_path / 'reservoir.png'}, ")  # the folder too, not the name alone
    assert (tmp_path / "reservoir.png").read_bytes()[:8] == PNG_MAGIC
    m = re.fullmatch(r"1000 runs: the reservoir ran dry in ([\d.]+) % of runs \(95 % CI ([\d.]+)-([\d.]+) %\)", lines[6])
    assert m, lines[6]
    p, lo, hi = (float(x) / 100 for x in m.groups())
    k = round(p * 1000)
    from pumpsim.sim.stats import wilson

    wlo, whi = wilson(k, 1000)
    assert (float(f"{100 * wlo:.3g}"), float(f"{100 * whi:.3g}")) == (100 * lo, 100 * hi)
    assert lines[7] == "pyplot loaded: False"  # the figure was built without pyplot


def test_import_pumpsim_is_light():
    code = "import pumpsim; pumpsim.load_table; pumpsim.validate; pumpsim.simulate; pumpsim.plan"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert "pumpsim" in loaded
    assert not loaded & {"numba", "scipy", "matplotlib", "numpy"}, loaded & {"numba", "scipy", "matplotlib", "numpy"}


def test_load_table_takes_a_path_or_toml_text_and_validate_returns_datetimes_and_base_units():
    text = LATE.read_text(encoding="utf-8")
    from_text = pumpsim.validate(pumpsim.load_table_text(text))
    result = pumpsim.validate(pumpsim.load_table(LATE))
    assert [v.rule for v in from_text.violations] == [v.rule for v in result.violations]
    v = next(v for v in result.violations if v.rule == "REFILL-LOW-ALARM")
    # 18 mL above the 2 mL alarm at 0.5 mL/day: 36 days after 2026-12-01 09:00
    assert v.at == dt.datetime(2027, 1, 6, 9) and v.t == 36 * DAY and (v.value, v.unit) == (2.0, "mL")
    r = result.reservoir
    assert r["nominal"].low_alarm_t == 36 * DAY and r["nominal"].empty_t is None
    assert r["worst"].empty_t == pytest.approx(20 / 0.5725 * DAY, rel=1e-12)
    d = result.doses["morphine"]
    assert d.unit == "mg" and d.max_24h_worst == pytest.approx(4 * 0.5 * 1.145, rel=1e-12)
    assert d.max_24h_programmed == pytest.approx(2.0, rel=1e-12)
    # nominal total: 0.5 mL/day x 4 mg/mL over the 38 days to the refill and the 7 days after it
    assert d.total_nominal == pytest.approx(2.0 * 45, rel=1e-12)
    assert result.nominal.t[0] <= 0.0 and result.worst.empty_at == r["worst"].empty_t
    assert result.worst_max["morphine"][0] == d.max_24h_worst


def test_validate_result_json_and_text_are_the_commands(capsys):
    result = pumpsim.validate(pumpsim.load_table(LATE))
    assert main(["validate", str(LATE), "--format", "json"]) == result.exit_status == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(result.as_json()))
    assert main(["validate", str(LATE)]) == 0
    assert capsys.readouterr().out == result.text()


def test_profile_given_to_load_table_is_the_one_validate_uses(tmp_path):
    from pumpsim.io.library import shipped_profiles

    other = next(n for n in shipped_profiles() if n != "fr-ait-2020")
    assert pumpsim.validate(pumpsim.load_table(LATE, profile=other)).profile.name == other
    assert pumpsim.validate(pumpsim.load_table(LATE)).profile.name == "fr-ait-2020"
    assert pumpsim.validate(pumpsim.load_table(LATE), profile=other).profile.name == other


def test_bad_input_raises_input_error_naming_the_field():
    from pumpsim.model.errors import InputError

    with pytest.raises(InputError) as e:
        pumpsim.load_table_text(LATE.read_text().replace('rate   = "0.5 mL/day"', 'rate   = "0.5 mg/day"'))
    assert any(p.field == "session[1].rate" for p in e.value.problems)


def test_api_functions_are_not_shadowed_by_the_modules_that_compute_them():
    import importlib

    importlib.import_module("pumpsim.rules.validate")
    importlib.import_module("pumpsim.planning.plan")
    from pumpsim.rules.validate import validate as pipeline

    assert callable(pumpsim.validate) and pumpsim.validate is not pipeline
    assert pumpsim.validate.__module__ == "pumpsim.api" and pumpsim.plan.__module__ == "pumpsim.api"


def test_figures_are_figure_objects_and_leave_the_backend_alone():
    import matplotlib
    from matplotlib.figure import Figure

    before = matplotlib.get_backend()
    result = pumpsim.validate(pumpsim.load_table(CC))
    figs = pumpsim.plots.figures(result)
    assert list(figs) == ["reservoir", "doses"] and all(isinstance(f, Figure) for f in figs.values())
    assert matplotlib.get_backend() == before
    # the doses figure draws the worst case's rolling 24 h dose: its top is validate's maximum
    ax = figs["doses"].axes[0]
    assert max(ax.lines[0].get_ydata()) == pytest.approx(result.doses["morphine"].max_24h_worst, rel=1e-12)


class Counter:
    """Counts calls to a simulator, delegating to the real one."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *a, **k):
        self.calls += 1
        return self.real(*a, **k)


@pytest.mark.parametrize("reference_max", [simulation.REFERENCE_MAX_BREAKPOINTS, -1], ids=["reference", "kernel"])
@pytest.mark.parametrize("command", ["validate", "report", "report-simulate", "report-patient"])
def test_each_case_is_simulated_once(monkeypatch, tmp_path, capsys, command, reference_max):
    """validate --plot and pumpsim report compute the nominal, worst and programmed cases once each:
    the figures and the HTML report render the validation result."""
    monkeypatch.setattr(simulation, "REFERENCE_MAX_BREAKPOINTS", reference_max)  # -1: every case by the kernel
    outer, inner = Counter(simulation.simulate), Counter(engine.simulate)
    monkeypatch.setattr(simulation, "simulate", outer)
    monkeypatch.setattr(engine, "simulate", inner)
    if command == "validate":
        argv = ["validate", str(CC), "--plot", str(tmp_path / "figs")]
    else:
        argv = ["report", str(CC), "-o", str(tmp_path / "r.html")]
        argv += ["--simulate", "--runs", "20"] if command == "report-simulate" else []
        argv += ["--patient", str(PATIENT)] if command == "report-patient" else []
    assert main(argv) == 0
    capsys.readouterr()
    assert outer.calls == 3  # nominal, worst, programmed
    assert inner.calls == (3 if reference_max < 0 else 0)
    if command == "validate":
        assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["doses.png", "doses.svg", "reservoir.png",
                                                                         "reservoir.svg"]
    else:
        assert (tmp_path / "r.html").read_text().count('<img class="figure"') == (2 if command == "report" else 3)


def test_simulate_with_a_validation_reuses_it(monkeypatch):
    table = pumpsim.load_table(REPO / "scenarios" / "variability-late-refills.toml")
    result = pumpsim.validate(table)
    outer = Counter(simulation.simulate)
    monkeypatch.setattr(simulation, "simulate", outer)
    sim = pumpsim.simulate(result, runs=40, seed=1)
    assert outer.calls == 0 and sim.validation is result and sim.runs == 40
    again = pumpsim.simulate(table, runs=40, seed=1)
    assert outer.calls == 3 and again.risk == sim.risk  # same seed, same risks
    assert sim.p_empty == sim.montecarlo.p_empty.k / 40


def test_plan_returns_the_planner_result():
    res = pumpsim.plan(pumpsim.load_table(LATE), keep_concentration=True)
    # 20 mL at 0.5 mL/day, 14.5 % fast and the 2 mL low alarm: (20 - 2) / 0.5725 = 31.44 days, whole days: 31
    assert res.interval_days == 31 and res.exit_status == 0


# --------------------------------------------------------------------------- the fuller API
YEAR = REPO / "benchmarks" / "tables" / "telemetry-year.toml"
STALL = REPO / "scenarios" / "records" / "year-stall.csv"
PROGRAM = REPO / "scenarios" / "programs" / "palliative-coanalgesia.toml"
ZICONOTIDE = REPO / "docs" / "examples" / "ziconotide-start.toml"


def test_load_table_returns_the_table_and_its_profile_with_no_hidden_state():
    from pumpsim import api
    from pumpsim.model.table import Table

    loaded = pumpsim.load_table(LATE, profile="pacc-2017")
    table, profile = loaded
    assert isinstance(table, Table) and profile.name == "pacc-2017" and loaded.profile is profile
    assert not hasattr(api, "_PROFILES")
    assert pumpsim.validate(loaded).profile.name == "pacc-2017"
    # a bare table is judged against its own profile key (the table's, or the override it was read with):
    # nothing is remembered beside it
    assert pumpsim.validate(pumpsim.load_table(LATE).table).profile.name == "fr-ait-2020"
    assert pumpsim.validate(table).profile.name == table.profile_name == "pacc-2017"


def test_a_path_or_a_string_is_accepted_where_a_file_is_meant():
    by_text = pumpsim.validate(str(LATE))
    assert by_text.verdict == pumpsim.validate(LATE).verdict == pumpsim.validate(pumpsim.load_table(LATE)).verdict
    assert pumpsim.check_program(str(PROGRAM)).verdict == pumpsim.check_program(PROGRAM).verdict


@pytest.mark.parametrize(("call", "field", "words"), [
    (lambda t: pumpsim.simulate(t, runs=0), "runs", "give a number of at least 1"),
    (lambda t: pumpsim.simulate(t, workers=0), "workers", "give a number of at least 1"),
    (lambda t: pumpsim.simulate(t, seed=-1), "seed", "give a seed between 0 and 2**63 - 1"),
    (lambda t: pumpsim.simulate(t, runs=2.5), "runs", "is not a whole number"),
    (lambda t: pumpsim.simulate(t, engine="foo"), "engine", "is not one of 'numba', 'reference'"),
    (lambda t: pumpsim.simulate(t, dask="bogus"), "dask", "neither 'local' nor a scheduler address"),
    (lambda t: pumpsim.plan(t, p_low_alarm=2), "p_low_alarm", "give a probability from 0 up to (not including) 1"),
    (lambda t: pumpsim.plan(t, p_low_alarm=1.0), "p_low_alarm", "give a probability from 0 up to (not including) 1"),
    (lambda t: pumpsim.telemetry_log(t, case="best"), "case", "is not one of 'nominal', 'worst'"),
    (lambda t: pumpsim.validate(42), "table", "expected what load_table returned"),
])
def test_bad_arguments_raise_input_error_with_the_command_lines_message(call, field, words):
    from pumpsim.model.errors import InputError

    with pytest.raises(InputError) as e:
        call(pumpsim.load_table(LATE))
    (p,) = e.value.problems
    assert p.field == field and words in str(p), str(p)


def test_the_limits_of_the_arguments_are_accepted():
    # runs=1 and p_low_alarm=0 are the smallest values the command line accepts
    assert pumpsim.simulate(pumpsim.load_table(REPO / "scenarios" / "variability-late-refills.toml"), runs=1,
                            seed=0).runs == 1
    assert pumpsim.plan(pumpsim.load_table(LATE), p_low_alarm=0.0, keep_concentration=True).interval_days == 31


@pytest.mark.parametrize(("argv", "call"), [
    (["reconcile", str(YEAR), str(STALL)], lambda: pumpsim.reconcile(YEAR, STALL)),
    (["program", str(PROGRAM)], lambda: pumpsim.check_program(PROGRAM)),
    (["pathway", str(PATIENT)], lambda: pumpsim.check_pathway(PATIENT)),
    (["pathway", str(PATIENT), "--table", str(LATE)], lambda: pumpsim.check_pathway(PATIENT, LATE)),
    (["plan", str(LATE), "--calendar", "2"], lambda: pumpsim.plan(LATE, calendar=2)),
    (["titrate", str(ZICONOTIDE), "--drug", "ziconotide", "--target", "9.6 mcg/day"],
     lambda: pumpsim.titrate(ZICONOTIDE, "ziconotide", "9.6 mcg/day")),
])
def test_every_command_has_a_function_whose_text_and_json_are_the_commands(argv, call, capsys):
    result = call()
    assert main(argv) == result.exit_status
    assert capsys.readouterr().out == result.text()
    assert main([*argv, "--format", "json"]) == result.exit_status
    assert capsys.readouterr().out == result.to_json() + "\n"


def test_telemetry_functions_write_what_the_command_writes(tmp_path, capsys):
    out = tmp_path / "log.csv"
    assert main(["telemetry", str(LATE), "-o", str(out), "--case", "nominal"]) == 0
    log = pumpsim.telemetry_log(LATE, case="nominal")
    assert out.read_text() == log.text() and f"wrote {log.rows} events" in capsys.readouterr().err
    fault = "stall@2027-03-10T10:00/7day"
    assert main(["telemetry", str(YEAR), "--records", "--seed", "1", "--fault", fault, "-o", str(out)]) == 0
    rec = pumpsim.telemetry_records(YEAR, [fault], seed=1)
    assert out.read_text() == rec.csv and rec.faults == [fault]
    # and what reconcile reads back: the 7-day stall is TEL-UNDER-INFUSION (hard)
    assert pumpsim.reconcile(YEAR, out).verdict == "fail"


def test_figures_of_the_other_commands_are_figure_objects():
    from matplotlib.figure import Figure

    figs = pumpsim.reconcile(YEAR, STALL).figures()
    assert list(figs) == ["reconcile"] and isinstance(figs["reconcile"], Figure)
    figs = pumpsim.check_pathway(PATIENT).figures()
    assert list(figs) == ["pathway"] and isinstance(figs["pathway"], Figure)


def test_the_pathway_function_is_not_the_pathway_package():
    import importlib

    importlib.import_module("pumpsim.pathway.rules")
    assert callable(pumpsim.check_pathway) and pumpsim.check_pathway.__module__ == "pumpsim.api"


def test_write_table_writes_only_a_table_that_validates(tmp_path):
    res = pumpsim.plan(LATE, keep_concentration=True)
    text = res.table_toml("pumpsim plan test")
    done = pumpsim.write_table(tmp_path / "planned.toml", text)
    assert done.written and done.validation.exit_status == 0
    assert pumpsim.validate(tmp_path / "planned.toml").exit_status == 0
    # the same table at 60 mg/mL morphine, above the profile's 50 mg/mL maximum: CONC-MAX, hard
    bad = text.replace('"4 mg/mL"', '"60 mg/mL"')
    assert bad != text
    done = pumpsim.write_table(tmp_path / "bad.toml", bad)
    assert not done.written and done.validation.exit_status == 1 and not (tmp_path / "bad.toml").exists()
    assert "CONC-MAX" in {v.rule for v in done.validation.violations}


def test_every_public_function_of_the_api_documents_its_parameters_and_returns():
    import inspect

    from pumpsim import api

    functions = [f for name, f in vars(api).items() if inspect.isfunction(f) and not name.startswith("_")
                 and f.__module__ == "pumpsim.api"]
    assert len(functions) >= 12
    for f in functions:
        doc = inspect.getdoc(f) or ""
        assert "Returns\n-------" in doc, f.__name__
        if inspect.signature(f).parameters:
            assert "Parameters\n----------" in doc, f.__name__
            for name in inspect.signature(f).parameters:
                assert re.search(rf"^{name}\b.* : |^{name}, |, {name} : ", doc, re.M), (f.__name__, name)


def test_a_path_is_a_path_whatever_its_name_holds(tmp_path):
    """A file whose *name* is valid TOML is read as a file: its content, not its name, is judged."""
    from pumpsim.model.errors import InputError

    failing = (REPO / "scenarios" / "broken" / "refill-empty.toml").read_text()
    name = tmp_path / "dose=5mg.toml"
    name.write_text(failing)
    assert pumpsim.validate(pumpsim.load_table(str(name))).verdict == "fail"
    with pytest.raises(InputError) as e:  # a string of TOML is not a path: it names the missing file
        pumpsim.load_table('schema = "pumpsim.table/1"\n')
    assert "not found" in str(e.value) or "no such file" in str(e.value).lower()
