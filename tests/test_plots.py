"""The data behind each figure (not pixels), and the files written (atomically, both formats)."""
from __future__ import annotations

import numpy as np
import pytest

from pumpsim import engine, plots
from pumpsim.cli import main
from pumpsim.results import Scenario
from pumpsim.tableio import read_table
from tests.conftest import REPO

CC = REPO / "scenarios" / "concentration-change.toml"
LATE = REPO / "scenarios" / "late-refill.toml"


def test_reservoir_data_starts_full_and_marks_alarm_refills_and_empty_periods():
    t, _ = read_table(LATE)
    d = plots.reservoir_data(t)
    assert d.true["nominal"][0] == 20.0 and d.t["nominal"][0] == 0.0
    assert d.low_alarm == 2.0 and d.refills == [0.0, 38.0]
    # worst case: 20 mL at 0.5 x 1.145 mL/day is empty from day 34.93 to the refill at day 38
    (a, b), = d.empty["worst"]
    assert a == pytest.approx(20 / 0.5725) and b == pytest.approx(38.0)
    assert d.empty["nominal"] == []


def test_dose_data_is_the_exact_rolling_24h_dose_with_the_profile_ceilings():
    t, p = read_table(CC)
    (d,) = plots.dose_data(t, p)
    assert (d.drug, d.unit, d.soft, d.hard) == ("morphine", "mg", 15.0, None)
    worst = engine.simulate(t, Scenario.worst(float(t.device.accuracy.value)))
    best, start = engine.max_24h(worst, t.horizon)["morphine"]
    # the curve reaches the validate maximum (the dead-volume transient), first at its start
    assert d.dose.max() == pytest.approx(best, rel=1e-12)
    first = int(np.flatnonzero(d.dose >= best * (1 - 1e-9))[0])
    assert d.t[first] == pytest.approx(start, abs=1e-9)
    # and away from the transient it is the programmed 12 mg/day on a 14.5 % fast pump
    assert np.median(d.dose) == pytest.approx(12 * 1.145, rel=1e-9)


def test_plot_command_writes_png_and_svg_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["plot", str(CC), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["doses.png", "doses.svg", "reservoir.png", "reservoir.svg"]
    assert (out / "reservoir.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (out / "doses.svg").read_bytes()[:2000]


def test_plot_refuses_bad_input_before_making_the_folder(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(CC.read_text().replace("mL/day", "mg/day"))
    assert main(["plot", str(bad), "-o", str(tmp_path / "figs")]) == 2
    assert not (tmp_path / "figs").exists()


def test_ziconotide_staircase_envelope_and_violations():
    t, p = read_table(REPO / "scenarios" / "broken" / "zic-step.toml")
    z = plots.ziconotide_data(t, p)
    # programmed: 2.4 mcg/day, then 7.2 three days later (a 4.8 step, twice the 2.4 limit)
    assert z.dose[:2] == pytest.approx([2.4, 7.2])
    # the envelope: 2.4 at the start, +2.4 every 48 h, capped at the 21.6 ceiling
    assert z.envelope[:4] == pytest.approx([2.4, 4.8, 7.2, 9.6])
    assert np.diff(z.envelope_t[:4]) == pytest.approx([2.0, 2.0, 2.0])
    assert z.envelope.max() == pytest.approx(21.6) and z.ceiling == pytest.approx(21.6)
    assert ("ZIC-STEP" in {r for _, r in z.violations})
    assert plots.ziconotide_data(*read_table(LATE)) is None  # no ziconotide, no figure


def test_montecarlo_figure_data_are_shares_of_all_runs(tmp_path, capsys):
    from pumpsim import montecarlo

    t, p = read_table(REPO / "scenarios" / "variability-late-refills.toml")
    mc = montecarlo.run(t, p, runs=1000, seed=3)
    d = plots.montecarlo_data(mc)
    # the time-to-empty bars add up to the share of runs that ran dry
    assert d.time_to_empty[1].sum() == pytest.approx(mc.p_empty.p)
    # every run reaches the session[2] refill: its volumes add up to all runs
    assert d.residual[2][1].sum() == pytest.approx(1.0)
    assert main(["simulate", str(REPO / "scenarios" / "variability-late-refills.toml"), "--runs", "500",
                 "--quiet", "--format", "json", "--plot", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "montecarlo.png").exists() and (tmp_path / "f" / "reservoir.svg").exists()


def test_validate_plot_option(tmp_path, capsys):
    assert main(["validate", str(LATE), "--plot", str(tmp_path / "g")]) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["doses.png", "doses.svg", "reservoir.png",
                                                                   "reservoir.svg"]


def test_trumpet_curve_of_a_pulsed_pump():
    # 2.5 uL pulses at 0.5 mL/day: one pulse every 7.2 min. A 2-min window holds 0 or 1 pulse
    # (expected 0.694 uL): -100 % or +260 %; an 11-min window 1 or 2 pulses (expected 3.819 uL):
    # -34.5 % or +30.9 %. The period spans 20 whole intervals (144 min, 20 pulses): mean error 0.
    d = plots.trumpet_data(0.5, 0.0025)
    assert d.windows == (2, 5, 11, 19, 31)
    assert (d.min_error[0], d.max_error[0]) == pytest.approx((-100.0, 260.0), rel=1e-9)
    assert (d.min_error[2], d.max_error[2]) == pytest.approx((100 * (2.5 / 3.8194444 - 1), 100 * (5 / 3.8194444 - 1)), rel=1e-6)
    assert d.mean_error == pytest.approx(0.0, abs=1e-9)
    # the trumpet narrows as the window grows
    spans = [a - b for a, b in zip(d.max_error, d.min_error)]
    assert spans == sorted(spans, reverse=True)


def test_plot_writes_a_trumpet_for_a_pulsed_pump(tmp_path, capsys):
    assert main(["plot", str(REPO / "scenarios" / "ziconotide-deer-slow.toml"), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "trumpet.png").exists()
