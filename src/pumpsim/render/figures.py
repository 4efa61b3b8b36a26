"""Figures of a validated table (``pumpsim plot``, ``validate --plot``, ``pumpsim report``).

Every figure renders what :func:`pumpsim.rules.validate.validate` already computed (the nominal and
worst simulations, the violations) and, with ``simulate``, the Monte-Carlo result: nothing here
simulates. Each figure has a ``*_data`` function (plain arrays, tested) and a ``*_figure``
function that returns a :class:`matplotlib.figure.Figure` built directly (no pyplot, matplotlib's
global backend is never touched; a notebook shows the figure, :func:`save` writes it). Colours are the Okabe-Ito palette (safe for colour-blind readers)
and every series also differs by line style, so the figures survive grayscale printing. Axes
carry their units; dates use matplotlib's concise date formatter. Files are written through
:func:`pumpsim.io.output.write_atomic` (PNG and SVG).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pumpsim.io.output import write_atomic, write_folder
from pumpsim.model.results import SimResult
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY
from pumpsim.sim import window

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
WINDOW = DAY  # [s]; the data below is in the model's seconds, the axes show dates


@dataclass
class FanBands:
    """The fan chart of figure 1 with ``simulate``: the true volume over the Monte-Carlo runs at
    a grid of instants (``pumpsim.sim.stats.FanData``), its 5/25/50/75/95 % quantiles."""

    t: np.ndarray  # instants [s]
    p05: np.ndarray  # [mL], each exact to ``resolution``
    p25: np.ndarray
    p50: np.ndarray
    p75: np.ndarray
    p95: np.ndarray
    runs: int
    resolution: float  # [mL], the width of a volume bin


def fan_data(mc) -> FanBands | None:
    """The bands of the Monte-Carlo result ``mc`` (None when it has no fan)."""
    fan = getattr(mc, "fan", None)
    if fan is None:
        return None
    q = fan.quantiles
    return FanBands(fan.t, q[0.05], q[0.25], q[0.5], q[0.75], q[0.95], mc.runs, fan.resolution)


@dataclass
class ReservoirData:
    t: dict[str, np.ndarray]  # case -> breakpoint instants [s]
    true: dict[str, np.ndarray]  # case -> true volume [mL]
    estimate: dict[str, np.ndarray]  # case -> the pump's estimate [mL]
    low_alarm: float | None  # [mL]
    refills: list[float]  # instants [s]
    empty: dict[str, list[tuple[float, float]]]  # case -> periods with an empty pump [s, s]
    fan: FanBands | None = None  # with ``simulate``: the bands over the Monte-Carlo runs


def _empty_periods(r: SimResult, horizon: float) -> list[tuple[float, float]]:
    out = []
    start = None
    for t, v in zip(r.t, r.volume_true):
        if v <= 0.0 and start is None:
            start = float(t)
        elif v > 0.0 and start is not None:
            out.append((start, float(t)))
            start = None
    if start is not None and start < horizon:
        out.append((start, horizon))
    return [(a, b) for a, b in out if b > a]


def _report(result):
    """The :class:`pumpsim.rules.report.Report` of a validation result (a Report or a pumpsim.api.ValidateResult)."""
    return getattr(result, "report", result)


def reservoir_data(result, mc=None) -> ReservoirData:
    """The nominal and worst cases of a validation result; with a Monte-Carlo result ``mc``, its fan too."""
    rep = _report(result)
    table = rep.table
    runs = {"nominal": rep.nominal, "worst": rep.worst}
    low = table.device.low_alarm
    # from the state after the first fill (the row before it, an empty pump at t = 0, is not drawn)
    first = {k: int(np.searchsorted(r.t, 0.0, side="right")) - 1 for k, r in runs.items()}
    return ReservoirData(
        t={k: r.t[first[k]:] for k, r in runs.items()}, true={k: r.volume_true[first[k]:] for k, r in runs.items()},
        estimate={k: r.volume_estimate[first[k]:] for k, r in runs.items()},
        low_alarm=None if low is None else float(low.value),
        refills=[s.t for s in table.sessions if s.refill is not None and s.t < table.horizon],
        empty={k: _empty_periods(r, table.horizon) for k, r in runs.items()},
        fan=None if mc is None else fan_data(mc))


@dataclass
class DoseData:
    drug: str
    unit: str
    t: np.ndarray  # window starts [s]
    dose: np.ndarray  # dose in [t, t + 24 h), worst case [dose unit]
    soft: float | None
    hard: float | None


def dose_data(result) -> list[DoseData]:
    """The worst-case rolling 24 h dose of each drug of a validation result, with its ceilings."""
    from pumpsim.io.library import dose_unit

    rep = _report(result)
    table, profile, worst = rep.table, rep.profile, rep.worst
    out = []
    for j, d in enumerate(worst.drugs):
        s, g = window.rolling_24h(worst, j, table.horizon)
        soft, hard = profile.limit(d, "daily_soft"), profile.limit(d, "daily_hard")
        out.append(DoseData(d, dose_unit(d), s, g, None if soft is None else float(soft.value),
                            None if hard is None else float(hard.value)))
    return out


@dataclass
class ZiconotideData:
    t: np.ndarray  # instants where the programmed daily dose changes, and the horizon [s]
    dose: np.ndarray  # programmed daily dose from each instant [mcg/day]
    envelope_t: np.ndarray  # the fastest titration the profile allows, from the first dose [s]
    envelope: np.ndarray  # [mcg/day]
    ceiling: float | None  # daily_hard [mcg/day]
    violations: list[tuple[float, str]]  # (instant [s], rule) of the ZIC-* violations


def ziconotide_data(result) -> ZiconotideData | None:
    """The programmed ziconotide staircase inside the profile's envelope: a start at the start
    limit, then a step of step_max every step_interval, up to the daily ceiling; the ZIC-*
    violations the validation found."""
    rep = _report(result)
    table, profile = rep.table, rep.profile
    progs = [p for p in table.programs if p.session.t < table.horizon]
    first = next((p for p in progs if "ziconotide" in dict(p.mix)), None)
    if first is None:
        return None
    t = np.array([p.session.t for p in progs] + [table.horizon])
    dose = np.array([p.daily_dose("ziconotide") for p in progs] + [progs[-1].daily_dose("ziconotide")])

    def value(key: str) -> float | None:
        lim = profile.limit("ziconotide", key)
        return None if lim is None else float(lim.value)

    start, step, every, ceiling = value("start_hard"), value("step_max"), value("step_interval"), value("daily_hard")
    t0 = first.session.t
    if start is not None and step is not None and every:
        n = int(np.ceil((table.horizon - t0) / every)) + 1
        et = t0 + every * np.arange(n)
        env = start + step * np.arange(n)
        if ceiling is not None:
            env = np.minimum(env, ceiling)
        et, env = np.append(et, table.horizon), np.append(env, env[-1])
    else:
        et, env = np.array([t0, table.horizon]), np.array([np.nan, np.nan])
    viol = [(float(v.t), v.rule) for v in rep.violations if v.rule.startswith("ZIC-") and v.t is not None]
    return ZiconotideData(t, dose, et, env, ceiling, viol)


# --------------------------------------------------------------------------- drawing
def _dates(table: Table, t: np.ndarray):
    return [table.datetime_at(float(x)) for x in t]


def plain_text(text: str) -> str:
    """Text shown in a figure as written: a ``$`` (in a file name, say) would start matplotlib's
    mathematical notation, so it is escaped.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with every ``$`` escaped.
    """
    return text.replace("$", r"\$")


def _new_figure(**kw):
    """A Figure built directly: no pyplot, the global backend untouched. The constrained layout
    keeps every legend and label inside the figure, so ``fig.savefig(path)`` with no option cuts
    nothing (a legend beside the axes included)."""
    from matplotlib.figure import Figure

    kw.setdefault("layout", "constrained")
    return Figure(**kw)


def figure_bytes(fig) -> dict[str, bytes]:
    """A figure as PNG and SVG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.

    Returns
    -------
    dict of str to bytes
        ``{"png": ..., "svg": ...}``.
    """
    out = {}
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=120, bbox_inches="tight")
        out[ext] = buf.getvalue()
    return out


def save(fig, stem: Path) -> list[Path]:
    """Write ``fig`` as ``stem``.png and ``stem``.svg, each atomically; return the paths written."""
    written = []
    for ext, data in figure_bytes(fig).items():
        path = stem.with_suffix(f".{ext}")
        write_atomic(path, data)
        written.append(path)
    return written


def draw_reservoir(table: Table, data: ReservoirData):
    """The reservoir figure of :func:`reservoir_data` (a :class:`matplotlib.figure.Figure`)."""
    import matplotlib.dates as mdates

    fig = _new_figure(figsize=(9, 4.5))
    ax = fig.subplots()
    fan = data.fan
    if fan is not None:  # under everything else: light 5-95 %, darker 25-75 %, the median
        x = _dates(table, fan.t)
        ax.fill_between(x, fan.p05, fan.p95, color=OKABE_ITO["sky"], alpha=0.25, linewidth=0, zorder=0.5,
                        label=f"5-95 % of {fan.runs:,} Monte-Carlo runs")
        ax.fill_between(x, fan.p25, fan.p75, color=OKABE_ITO["sky"], alpha=0.6, linewidth=0, zorder=0.6,
                        label="25-75 % of the runs")
        ax.plot(x, fan.p50, color=OKABE_ITO["green"], linewidth=1.4, linestyle=(0, (9, 3)), zorder=0.7,
                label="median of the runs")
    styles = {("nominal", "true"): (OKABE_ITO["blue"], "-"), ("worst", "true"): (OKABE_ITO["vermillion"], "--"),
              ("worst", "estimate"): (OKABE_ITO["orange"], ":")}
    for case in ("nominal", "worst"):
        ax.plot(_dates(table, data.t[case]), data.true[case], color=styles[(case, "true")][0],
                linestyle=styles[(case, "true")][1], label=f"{case} case, true volume")
    ax.plot(_dates(table, data.t["worst"]), data.estimate["worst"], color=styles[("worst", "estimate")][0],
            linestyle=":", label="worst case, the pump's estimate")
    if data.low_alarm is not None:
        ax.axhline(data.low_alarm, color=OKABE_ITO["black"], linestyle="-.", linewidth=1,
                   label=f"low-alarm volume ({data.low_alarm:g} mL)")
    for i, r in enumerate(data.refills):
        ax.axvline(table.datetime_at(r), color="0.5", linewidth=0.8, label="refill" if i == 0 else None)
    for i, (a, b) in enumerate(data.empty["worst"]):
        ax.axvspan(table.datetime_at(a), table.datetime_at(b), color=OKABE_ITO["vermillion"], alpha=0.15,
                   hatch="//", label="empty (worst case)" if i == 0 else None)
    ax.set_ylabel("reservoir volume [mL]")
    ax.set_xlabel("date")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.set_ylim(bottom=0)
    what = "nominal and worst case" + (", Monte-Carlo bands" if fan is not None else "")
    fig.suptitle(f"Reservoir of {plain_text(Path(table.path).name)} ({table.device.model}): {what}", fontsize=10)
    if fan is None:
        ax.legend(loc="lower left", fontsize=8, framealpha=0.9)  # the reservoir empties towards lower right
    else:  # the bands fill the plot: the legend goes beside it
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0.0)
    ax.grid(alpha=0.3)
    return fig


def draw_doses(table: Table, data: list[DoseData]):
    """The rolling 24 h dose figure of :func:`dose_data` (a :class:`matplotlib.figure.Figure`)."""
    import matplotlib.dates as mdates

    fig = _new_figure(figsize=(9, 2.8 * len(data)))
    axes = fig.subplots(len(data), 1, sharex=True, squeeze=False)
    for ax, d in zip(axes[:, 0], data):
        ax.plot(_dates(table, d.t), d.dose, color=OKABE_ITO["blue"], label="worst-case dose in the next 24 h")
        if d.soft is not None:
            ax.axhline(d.soft, color=OKABE_ITO["orange"], linestyle="--", label=f"soft ceiling {d.soft:g} {d.unit}/day")
        if d.hard is not None:
            ax.axhline(d.hard, color=OKABE_ITO["vermillion"], linestyle="-.", label=f"hard ceiling {d.hard:g} {d.unit}/day")
        ax.set_ylabel(f"{d.drug} [{d.unit} / 24 h]")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("start of the 24 h window")
    axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes[-1, 0].xaxis.get_major_locator()))
    fig.suptitle(f"Rolling 24 h dose against the profile's ceilings: {plain_text(Path(table.path).name)} (worst case)")
    return fig


def draw_ziconotide(table: Table, data: ZiconotideData):
    """The ziconotide figure of :func:`ziconotide_data` (a :class:`matplotlib.figure.Figure`)."""
    import matplotlib.dates as mdates

    fig = _new_figure(figsize=(9, 4))
    ax = fig.subplots()
    ax.step(_dates(table, data.t), data.dose, where="post", color=OKABE_ITO["blue"], label="programmed daily dose")
    ax.step(_dates(table, data.envelope_t), data.envelope, where="post", color=OKABE_ITO["green"], linestyle="--",
            label="fastest titration the profile allows")
    if data.ceiling is not None:
        ax.axhline(data.ceiling, color=OKABE_ITO["vermillion"], linestyle="-.", label=f"daily ceiling {data.ceiling:g} mcg/day")
    for i, (when, rule) in enumerate(data.violations):
        y = float(np.interp(when, data.t, data.dose))
        ax.plot([table.datetime_at(when)], [y], marker="X", markersize=10, color=OKABE_ITO["vermillion"],
                linestyle="none", label="violation" if i == 0 else None)
        ax.annotate(rule, (table.datetime_at(when), y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_ylabel("ziconotide [mcg/day]")
    ax.set_xlabel("date")
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.set_title(f"Ziconotide titration of {plain_text(Path(table.path).name)} inside the profile's envelope")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


TRUMPET_WINDOWS_MIN = (2, 5, 11, 19, 31)  # IEC 60601-2-24 observation windows [min]
TRUMPET_SAMPLE_S = 30.0  # sampling interval of the analysis [s]
TRUMPET_PERIOD_H = 1.0  # shortest analysis period (the second hour of the test in the standard) [h]
TRUMPET_MIN_PULSES = 20  # the period also spans at least this many whole pulse intervals


@dataclass
class TrumpetData:
    rate: float  # programmed rate [mL/day]
    pulse: float  # pulse volume [mL]
    windows: tuple[int, ...]  # observation windows [min]
    max_error: list[float]  # [%] per window
    min_error: list[float]  # [%] per window
    mean_error: float  # [%] over the analysis period


def trumpet_data(rate: float, pulse: float, factor: float = 1.0, windows=TRUMPET_WINDOWS_MIN,
                 sample_s: float = TRUMPET_SAMPLE_S, period_h: float = TRUMPET_PERIOD_H) -> TrumpetData:
    """The trumpet curve of a pulsed pump in the manner of IEC 60601-2-24.

    Method: the pump delivers ``pulse`` mL at once every ``pulse / (factor x rate)`` days (the
    first at t = 0). The analysis period is the longer of ``period_h`` and TRUMPET_MIN_PULSES pulse
    intervals, rounded up to whole intervals (at the low rates of implanted pumps a pulse can be
    hours apart: one hour would measure the phase of the pulse train, not the pump). The delivered
    volume is sampled every ``sample_s`` seconds; for each observation window P, every window
    [t, t + P) starting at a sample and contained in the period gives a percentage error
    (delivered - programmed) / programmed; the curve is the largest and the smallest error per P.
    The mean error is over the period.
    """
    day_s = float(DAY)
    interval_s = pulse / (factor * rate) * day_s  # seconds between pulses
    period_s = max(period_h * 3600.0, TRUMPET_MIN_PULSES * interval_s)
    period_s = np.ceil(period_s / interval_s - 1e-9) * interval_s
    n = int(np.floor(period_s / sample_s + 1e-9))
    period_s = n * sample_s

    def delivered(t_s: np.ndarray) -> np.ndarray:  # pulses given in [0, t): at 0, interval, 2 interval...
        return pulse * np.ceil(np.maximum(t_s, 0.0) / interval_s - 1e-12)

    samples = np.arange(n + 1) * sample_s
    vol = delivered(samples)
    programmed_per_s = rate / day_s
    mx, mn = [], []
    for p_min in windows:
        k = int(round(p_min * 60.0 / sample_s))
        got = vol[k:] - vol[:-k]
        expected = programmed_per_s * p_min * 60.0
        err = 100.0 * (got - expected) / expected
        mx.append(float(err.max()))
        mn.append(float(err.min()))
    mean = 100.0 * (vol[-1] - programmed_per_s * period_s) / (programmed_per_s * period_s)
    return TrumpetData(rate, pulse, tuple(windows), mx, mn, float(mean))


def draw_trumpet(table: Table, data: TrumpetData):
    """The trumpet curve of :func:`trumpet_data` (a :class:`matplotlib.figure.Figure`)."""
    fig = _new_figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.plot(data.windows, data.max_error, color=OKABE_ITO["vermillion"], marker="^", label="largest error")
    ax.plot(data.windows, data.min_error, color=OKABE_ITO["blue"], marker="v", linestyle="--", label="smallest error")
    ax.axhline(data.mean_error, color=OKABE_ITO["black"], linestyle=":", label=f"mean error {data.mean_error:.2g} %")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.set_xticks(list(data.windows))
    ax.set_xlabel("observation window [min]")
    ax.set_ylabel("flow error [%]")
    ax.set_title(f"Trumpet curve of {table.device.model} at {data.rate:g} mL/day "
                 f"({data.pulse * 1000:g} uL pulses): {plain_text(Path(table.path).name)}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@dataclass
class MonteCarloData:
    runs: int
    residual: dict[int, tuple[np.ndarray, np.ndarray]]  # session -> (bin centres [mL], fraction of runs)
    time_to_empty: tuple[np.ndarray, np.ndarray]  # (bin centres [day], fraction of runs)
    p_empty: float


def _coarse(h, runs: int, bins: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """A histogram of the Monte-Carlo result regrouped into ``bins`` bins, as fractions of all runs."""
    counts = h.counts.reshape(bins, -1).sum(axis=1)
    width = (h.hi - h.lo) / bins
    centres = h.lo + width * (np.arange(bins) + 0.5)
    return centres, counts / max(1, runs)


def montecarlo_data(mc) -> MonteCarloData:
    x, frac = _coarse(mc.time_to_empty, mc.runs)  # [s] in the result, days on the axis
    return MonteCarloData(mc.runs, {s: _coarse(h, mc.runs) for s, h in mc.residual.items()},
                          (x / DAY, frac), mc.p_empty.p)


def draw_montecarlo(table: Table, data: MonteCarloData):
    """The Monte-Carlo figure of :func:`montecarlo_data` (a :class:`matplotlib.figure.Figure`)."""
    fig = _new_figure(figsize=(11, 4))
    ax1, ax2 = fig.subplots(1, 2)
    styles = ["-", "--", ":", "-."]
    colours = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "orange", "sky")]
    for i, (s, (x, frac)) in enumerate(sorted(data.residual.items())):
        ax1.step(x, 100 * frac, where="mid", color=colours[i % len(colours)], linestyle=styles[i % len(styles)],
                 label=f"before the session[{s}] refill ({table.iso(table.sessions[s - 1].t)[:10]})")
    if table.device.low_alarm is not None:
        ax1.axvline(float(table.device.low_alarm.value), color=OKABE_ITO["black"], linestyle="-.", linewidth=1,
                    label="low-alarm volume")
    ax1.set_xlabel("volume left in the reservoir [mL]")
    ax1.set_ylabel("share of all runs [%]")
    ax1.set_title("Volume left before each refill")
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    x, frac = data.time_to_empty
    ax2.bar(x, 100 * frac, width=(x[1] - x[0]) if len(x) > 1 else 1.0, color=OKABE_ITO["vermillion"],
            edgecolor=OKABE_ITO["black"], hatch="//")
    ax2.set_xlabel("first time the reservoir is empty [days after the first session]")
    ax2.set_ylabel("share of all runs [%]")
    ax2.set_title(f"Time to empty ({100 * data.p_empty:.3g} % of runs ran dry)")
    ax2.grid(alpha=0.3)
    fig.suptitle(f"{plain_text(Path(table.path).name)}: {data.runs:,} Monte-Carlo runs")
    return fig


FIGURES = ("reservoir", "doses", "ziconotide", "trumpet", "montecarlo")


def reservoir_figure(result, mc=None):
    """The reservoir over time: true volume in the nominal and worst cases, the pump's estimate,
    the low-alarm volume, the refills and the periods the worst-case pump is empty.

    Parameters
    ----------
    result : pumpsim.api.ValidateResult or pumpsim.rules.report.Report
        What :func:`pumpsim.validate` returned (its nominal and worst simulations are drawn).
    mc : pumpsim.sim.stats.MonteCarlo, optional
        A Monte-Carlo result: its 5-95 % and 25-75 % bands of the true volume [mL] and median
        are drawn under the curves.

    Returns
    -------
    matplotlib.figure.Figure
        Volume [mL] against the date; built without pyplot (the global backend is untouched).
    """
    rep = _report(result)
    return draw_reservoir(rep.table, reservoir_data(rep, mc))


def doses_figure(result):
    """The worst-case dose of each drug in every rolling 24 h window [dose unit / 24 h], against the
    profile's soft and hard daily ceilings [dose unit/day].

    Parameters
    ----------
    result : pumpsim.api.ValidateResult or pumpsim.rules.report.Report
        What :func:`pumpsim.validate` returned (its worst simulation is drawn).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per drug; built without pyplot.
    """
    rep = _report(result)
    return draw_doses(rep.table, dose_data(rep))


def ziconotide_figure(result):
    """The programmed ziconotide daily dose [mcg/day] inside the fastest titration the profile
    allows, with the ZIC-* violations marked; None for a table without ziconotide.

    Parameters
    ----------
    result : pumpsim.api.ValidateResult or pumpsim.rules.report.Report
        What :func:`pumpsim.validate` returned.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    rep = _report(result)
    data = ziconotide_data(rep)
    return None if data is None else draw_ziconotide(rep.table, data)


def trumpet_figure(result):
    """The trumpet curve [%] of a pulsed pump at the first session's mean rate [mL/day], in the
    manner of IEC 60601-2-24 (:func:`trumpet_data`); None for a pump without a pulse volume.

    Parameters
    ----------
    result : pumpsim.api.ValidateResult or pumpsim.rules.report.Report
        What :func:`pumpsim.validate` returned.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    rep = _report(result)
    table = rep.table
    pulse = table.device.pulse_volume
    if pulse is None:
        return None
    return draw_trumpet(table, trumpet_data(table.programs[0].mean_rate, float(pulse.value)))


def montecarlo_figure(result, mc):
    """The volume left before each refill [mL] and the first time the reservoir is empty [day],
    as shares of all Monte-Carlo runs [%].

    Parameters
    ----------
    result : pumpsim.api.ValidateResult or pumpsim.rules.report.Report
        What :func:`pumpsim.validate` returned (for the table's dates and low-alarm volume).
    mc : pumpsim.sim.stats.MonteCarlo
        What :func:`pumpsim.simulate` computed (``SimulateResult.montecarlo``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    return draw_montecarlo(_report(result).table, montecarlo_data(mc))


def figures(result, mc=None) -> dict:
    """Every figure of a validation result, in :data:`FIGURES` order (name -> Figure); the
    ziconotide and trumpet figures only where they apply, the Monte-Carlo one only with ``mc``."""
    out = {"reservoir": reservoir_figure(result, mc), "doses": doses_figure(result),
           "ziconotide": ziconotide_figure(result), "trumpet": trumpet_figure(result),
           "montecarlo": None if mc is None else montecarlo_figure(result, mc)}
    return {k: f for k, f in out.items() if f is not None}


def plot_all(result, folder: Path, mc=None) -> list[Path]:
    """Every figure of a validation result into ``folder`` (PNG and SVG); with a Monte-Carlo
    result ``mc``, the Monte-Carlo figure and the fan of the runs in the reservoir figure."""
    files = {f"{name}.{ext}": data for name, fig in figures(result, mc).items() for ext, data in figure_bytes(fig).items()}
    return write_folder(folder, files)  # the whole folder or nothing: never old and new figures mixed
