"""The data behind each figure (not pixels), and the files written (atomically, both formats)."""
from __future__ import annotations

import numpy as np
import pytest

from pumpsim.cli.main import main
from pumpsim.io.tables import read_table
from pumpsim.model.results import Scenario
from pumpsim.model.timebase import DAY
from pumpsim.render import figures as plots
from pumpsim.rules.validate import validate
from pumpsim.sim import engine
from tests.conftest import REPO

CC = REPO / "scenarios" / "concentration-change.toml"
LATE = REPO / "scenarios" / "late-refill.toml"


def test_reservoir_data_starts_full_and_marks_alarm_refills_and_empty_periods():
    t, p = read_table(LATE)
    d = plots.reservoir_data(validate(t, p))
    assert d.true["nominal"][0] == 20.0 and d.t["nominal"][0] == 0.0
    assert d.low_alarm == 2.0 and d.refills == [0, 38 * DAY]
    # worst case: 20 mL at 0.5 x 1.145 mL/day is empty from day 34.93 to the refill at day 38
    (a, b), = d.empty["worst"]
    assert a == pytest.approx(20 / 0.5725 * DAY) and b == pytest.approx(38 * DAY)
    assert d.empty["nominal"] == []


def test_dose_data_is_the_exact_rolling_24h_dose_with_the_profile_ceilings():
    t, p = read_table(CC)
    (d,) = plots.dose_data(validate(t, p))
    assert (d.drug, d.unit, d.soft, d.hard) == ("morphine", "mg", 15.0, None)
    worst = engine.simulate(t, Scenario.worst(float(t.device.accuracy.value)))
    best, start = engine.max_24h(worst, t.horizon)["morphine"]
    # the curve reaches the validate maximum (the dead-volume transient), first at its start
    assert d.dose.max() == pytest.approx(best, rel=1e-12)
    first = int(np.flatnonzero(d.dose >= best * (1 - 1e-9))[0])
    assert d.t[first] == pytest.approx(start, abs=1e-9 * DAY)
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
    z = plots.ziconotide_data(validate(t, p))
    # programmed: 2.4 mcg/day, then 7.2 three days later (a 4.8 step, twice the 2.4 limit)
    assert z.dose[:2] == pytest.approx([2.4, 7.2])
    # the envelope: 2.4 at the start, +2.4 every 48 h, capped at the 21.6 ceiling
    assert z.envelope[:4] == pytest.approx([2.4, 4.8, 7.2, 9.6])
    assert np.diff(z.envelope_t[:4]).tolist() == [2 * DAY, 2 * DAY, 2 * DAY]
    assert z.envelope.max() == pytest.approx(21.6) and z.ceiling == pytest.approx(21.6)
    assert ("ZIC-STEP" in {r for _, r in z.violations})
    assert plots.ziconotide_data(validate(*read_table(LATE))) is None  # no ziconotide, no figure


def test_montecarlo_figure_data_are_shares_of_all_runs(tmp_path, capsys):
    from pumpsim.sim import montecarlo

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


def test_fan_data_are_ordered_monte_carlo_bands_from_a_full_reservoir():
    from pumpsim.sim import montecarlo

    t, p = read_table(REPO / "scenarios" / "variability-late-refills.toml")
    mc = montecarlo.run(t, p, runs=1000, seed=3)
    f = plots.fan_data(mc)
    assert f.t == pytest.approx(np.linspace(0.0, 120 * DAY, 241), rel=1e-12, abs=1e-6) and f.runs == 1000
    bands = [f.p05, f.p25, f.p50, f.p75, f.p95]
    assert all(b.shape == f.t.shape for b in bands)
    for lo, hi in zip(bands, bands[1:]):
        assert (lo <= hi).all()
    # every run starts from the 20 mL fill
    assert [b[0] for b in bands] == pytest.approx([20.0] * 5, abs=f.resolution)
    # day 40 (grid point 80), before any refill: the program gives (8 x 0.3 + 12 x 0.4 + 4 x 0.35) / 24
    # mL/day, the 2 requests a day under a 4 h lockout are granted 2 / (1 + 2 x 4/24) = 1.5 times a
    # day (a Poisson process with dead time), 20 uL each: median 20 - 40 (0.3583 + 0.03) = 4.47 mL
    # (one bin and 4 standard errors of the median: sd 0.05 x 15.5 mL / sqrt(1000) x 1.25 = 0.03)
    assert f.p50[80] == pytest.approx(20.0 - 40.0 * (8.6 / 24 + 1.5 * 0.02), abs=f.resolution + 4 * 0.031)
    # and the 5-95 % band is mostly the accuracy factor's: 2 x 1.645 x 0.05 x 15.5 = 2.55 mL
    assert 2.4 < f.p95[80] - f.p05[80] < 2.9
    # the figure gets them with simulate only
    v = validate(t, p)
    assert plots.reservoir_data(v, mc).fan.p50.tolist() == f.p50.tolist()
    assert plots.reservoir_data(v).fan is None and plots.fan_data(object()) is None


def test_fan_without_variability_is_the_nominal_curve_of_the_figure():
    from pumpsim.sim import montecarlo
    from tests.conftest import parse

    t, p = parse("""
schema = "pumpsim.table/1"
horizon = "30 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2027-01-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "1 mL/day"
[[session]]
at = 2027-01-20T00:00:00
refill = { volume = "15 mL", mix = { morphine = "1 mg/mL" } }
[variability]
seed = 4
""")
    d = plots.reservoir_data(validate(t, p), montecarlo.run(t, p, runs=50))
    f = d.fan
    # the nominal true volume of the figure at each instant of the grid: 20 - t mL until the
    # day-19 refill, then 15 - (t - 19) mL (the state after the refill at day 19 itself)
    days = f.t / DAY
    nominal = np.where(days < 19.0, 20.0 - days, 15.0 - (days - 19.0))
    assert montecarlo.sample_volume(d.t["nominal"], d.true["nominal"], f.t) == pytest.approx(nominal, abs=1e-9)
    for band in (f.p05, f.p25, f.p50, f.p75, f.p95):
        assert np.abs(band - nominal).max() <= f.resolution


def test_plot_all_takes_a_folder_as_text_and_every_legend_stays_inside_its_figure(tmp_path):
    import pumpsim
    from pumpsim.render.figures import figures, plot_all

    result = pumpsim.validate(pumpsim.load_table(REPO / "scenarios" / "concentration-change.toml"))
    written = plot_all(result, str(tmp_path / "figs"))  # a str, as a notebook user types it
    assert written and all(p.stat().st_size > 0 for p in written)
    for name, fig in figures(result).items():
        fig.savefig(tmp_path / f"{name}.png")  # no bbox option: nothing may fall outside
        renderer = fig._get_renderer()
        box = fig.bbox
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert legends, name
        for lg in legends:
            e = lg.get_window_extent(renderer)
            assert box.x0 - 1 <= e.x0 and e.x1 <= box.x1 + 1 and box.y0 - 1 <= e.y0 and e.y1 <= box.y1 + 1, (name, e)
