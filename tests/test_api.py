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
    assert lines[5].startswith(f"figure: {tmp_path / 'reservoir.png'}, ")  # the path, folder included
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
    from_text = pumpsim.validate(pumpsim.load_table(text))
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
        pumpsim.load_table(LATE.read_text().replace('rate   = "0.5 mL/day"', 'rate   = "0.5 mg/day"'))
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
