"""The figure of a signalling fleet group (``pumpsim fleet scan --plot DIR``): the group's pooled
delivery ratio over time, per refill cycle, and its CUSUM against the threshold.

Built on a :class:`matplotlib.figure.Figure` (no pyplot), in the conventions of
:mod:`pumpsim.render.figures` (Okabe-Ito colours, series also differ by marker or line style).
"""
from __future__ import annotations

import datetime as dt
import io
import math
import re

from pumpsim.render.figures import OKABE_ITO
from pumpsim.telemetry.fleet.grouptest import Z95, GroupResult
from pumpsim.telemetry.fleet.scan import FleetReport


def _bins(g: GroupResult) -> list[tuple[dt.datetime, float, float, float]]:
    """(middle, geometric mean ratio, low, high) of the refills ending in each refill cycle."""
    if not g.at:
        return []
    width = dt.timedelta(days=g.cycle_days or 28.0)
    start = g.at[0]
    cells: dict[int, list[float]] = {}
    for at, x in zip(g.at, g.x):
        cells.setdefault(int((at - start) / width), []).append(x)
    out = []
    for k in sorted(cells):
        xs = cells[k]
        m = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
        half = Z95 * sd / math.sqrt(len(xs))
        out.append((start + width * (k + 0.5), math.exp(m), math.exp(m - half), math.exp(m + half)))
    return out


def figure(g: GroupResult):
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.2))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    b = _bins(g)
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":")
    if b:
        ax.fill_between([x[0] for x in b], [x[2] for x in b], [x[3] for x in b], color=OKABE_ITO["sky"], alpha=0.3,
                        linewidth=0, label="95 % interval of the cycle's mean")
        ax.plot([x[0] for x in b], [x[1] for x in b], marker="o", color=OKABE_ITO["blue"],
                label=f"pooled ratio per refill cycle ({g.cycle_days:.0f} days; geometric mean of the group's refills)")
    for when, style, label in ((g.onset, "--", "onset estimate"), (g.signal_at, "-", "signal")):
        if when is not None:
            for a in (ax, ax2):
                a.axvline(when, color=OKABE_ITO["vermillion"], linestyle=style, linewidth=1.2,
                          label=f"{label}: {when.date()}" if a is ax else None)
    ax.set_ylabel("delivered / programmed [-]")
    ax.set_title(f"{'Lot ' + g.value + ' (' + g.model + ')' if g.by == 'lot' else 'Model ' + g.value}: {g.pumps} pumps, "
                 f"{g.refills} refills")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3)
    ax2.plot(g.at, g.upper, color=OKABE_ITO["orange"], label="CUSUM upwards (delivers more)")
    ax2.plot(g.at, g.lower, color=OKABE_ITO["green"], linestyle="--", label="CUSUM downwards (delivers less)")
    ax2.axhline(g.threshold, color=OKABE_ITO["black"], linestyle="-.", linewidth=1, label=f"threshold h = {g.threshold:g} sd")
    ax2.set_ylim(bottom=0, top=max([g.threshold * 1.3] + [x * 1.05 for x in g.upper + g.lower]))
    ax2.set_ylabel("group statistic [sd]")
    ax2.set_xlabel("date of the refill")
    ax2.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ax2.grid(alpha=0.3)
    loc = mdates.AutoDateLocator()
    ax2.xaxis.set_major_locator(loc)
    ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    fig.set_layout_engine("constrained")
    return fig


def group_figures(report: FleetReport) -> list[tuple[str, bytes]]:
    """(file name, bytes) of a PNG and an SVG for every signalling group."""
    out = []
    for g in report.signalling:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"fleet-{g.by}-{g.value}" + (f"-{g.model}" if g.by == "lot" else ""))
        fig = figure(g)
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
            out.append((f"{name}.{fmt}", buf.getvalue()))
    return out
