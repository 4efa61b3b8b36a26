"""The timeline of the care pathway as a figure: a Gantt-like strip, one row per date of the
pathway, the delay to its anchor as a bar, the dates the limits allow shaded.

:func:`timeline_rows` is the data (plain dates, tested); :func:`draw_timeline` draws it on a
:class:`matplotlib.figure.Figure` built directly (no pyplot, the global backend is untouched).
Colours are Okabe-Ito (safe for colour-blind readers) and each state also differs by marker and
hatch, so the figure survives grayscale printing.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from pumpsim.model.timebase import as_date
from pumpsim.pathway.rules import TimelineStep
from pumpsim.render.figures import OKABE_ITO, plain_text

MARGIN_DAYS = 3  # room left and right of the earliest and latest date [day]


@dataclass(frozen=True)
class Row:
    """One row of the figure: the step's date, its anchor (or None), the allowed window (dates,
    open ends already closed at the figure's edges) and whether the delay is within its limit."""

    label: str
    at: dt.date
    anchor: dt.date | None
    window: tuple[dt.date, dt.date] | None
    ok: bool | None


def timeline_rows(steps: list[TimelineStep]) -> tuple[list[Row], dt.date, dt.date]:
    """The rows in timeline order and the date range of the figure (first, last) [date]."""
    dates = [as_date(s.at) for s in steps] + [as_date(s.anchor) for s in steps if s.anchor is not None]
    lo = min(dates) - dt.timedelta(days=MARGIN_DAYS)
    hi = max(dates) + dt.timedelta(days=MARGIN_DAYS)
    rows = []
    for s in steps:
        w_lo, w_hi = s.window()
        window = None
        if w_lo is not None or w_hi is not None:
            anchor = as_date(s.anchor)  # an open end stops at the anchor on the anchor's side, else at the edge
            w_lo = w_lo if w_lo is not None else (anchor if s.relation == "after" else lo)
            w_hi = w_hi if w_hi is not None else (anchor if s.relation == "before" else hi)
            window = (max(w_lo, lo), min(w_hi, hi))
        label = s.what if s.anchor is None else f"{s.what} ({s.relation} {s.anchor_what})"
        rows.append(Row(label, as_date(s.at), None if s.anchor is None else as_date(s.anchor), window, s.ok))
    return rows, lo, hi


def draw_timeline(steps: list[TimelineStep], title: str):
    """The timeline figure (a :class:`matplotlib.figure.Figure`), or None when there is no date."""
    if not steps:
        return None
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows, lo, hi = timeline_rows(steps)
    fig = Figure(figsize=(10, 0.42 * len(rows) + 1.9))
    ax = fig.add_subplot()
    num = mdates.date2num
    for y, r in enumerate(rows):
        if r.window is not None and r.window[1] >= r.window[0]:
            a, b = num(r.window[0]), num(r.window[1])
            ax.barh(y, max(b - a, 0.15), left=a, height=0.78, color=OKABE_ITO["green"], alpha=0.22, linewidth=0)
        colour = OKABE_ITO["vermillion"] if r.ok is False else OKABE_ITO["blue"]
        if r.anchor is not None:
            a, b = sorted((num(r.anchor), num(r.at)))
            ax.barh(y, max(b - a, 0.15), left=a, height=0.32, color=colour, alpha=0.85,
                    hatch="//" if r.ok is False else None, edgecolor=OKABE_ITO["black"] if r.ok is False else colour,
                    linewidth=0.6)
            ax.plot([num(r.anchor)], [y], marker="|", markersize=14, color=OKABE_ITO["black"])
        marker = "X" if r.ok is False else ("o" if r.ok else "D")
        ax.plot([num(r.at)], [y], marker=marker, markersize=10 if r.ok is False else 6, color=colour,
                markeredgecolor=OKABE_ITO["black"], linestyle="none", zorder=5)
    surgery = next((as_date(s.at) for s in steps if s.what == "surgery"), None)
    if surgery is not None:
        ax.axvline(num(surgery), color=OKABE_ITO["black"], linestyle=":", linewidth=1, zorder=1)
    ax.set_yticks(range(len(rows)), [r.label for r in rows], fontsize=8.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(num(lo), num(hi))
    ax.xaxis_date()
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.set_xlabel("date (calendar days)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(plain_text(title), fontsize=10.5)
    handles = [Patch(color=OKABE_ITO["green"], alpha=0.22, label="dates the limit allows"),
               Line2D([], [], color=OKABE_ITO["blue"], marker="o", markeredgecolor=OKABE_ITO["black"], linewidth=4,
                      label="delay within its limit"),
               Patch(facecolor=OKABE_ITO["vermillion"], edgecolor=OKABE_ITO["black"], hatch="//",
                     label="delay outside its limit"),
               Line2D([], [], color=OKABE_ITO["blue"], marker="D", markeredgecolor=OKABE_ITO["black"], linestyle="none",
                      label="date without a limit"),
               Line2D([], [], color=OKABE_ITO["black"], marker="|", markersize=12, linestyle="none",
                      label="date the delay is counted from"),
               Line2D([], [], color=OKABE_ITO["black"], linestyle=":", label="surgery")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0.0)
    return fig


def timeline_png(steps: list[TimelineStep], title: str) -> bytes | None:
    """The timeline figure as PNG bytes (None without dates)."""
    fig = draw_timeline(steps, title)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return buf.getvalue()
