"""The reconciliation figure: delivery ratio per refill against the band, and the drift statistic.

Built on a :class:`matplotlib.figure.Figure` (no pyplot, no global backend), in the palette and
line-style conventions of :mod:`pumpsim.render.figures` (Okabe-Ito colours, series also differ by marker
or line style, units on the axes).
"""
from __future__ import annotations

import io

from pumpsim.render.figures import OKABE_ITO, plain_text
from pumpsim.telemetry.reconcile import Reconciliation, thresholds


def figure(rec: Reconciliation):
    """The figure of a reconciliation: top, ratio per refill interval; bottom, the CUSUM."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.2))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    lo, hi = rec.band
    ax.axhspan(lo, hi, color=OKABE_ITO["sky"], alpha=0.2, linewidth=0,
               label=f"band of one refill: {lo:.3f}-{hi:.3f} (pump accuracy)")
    ax.axhline(1.0, color="0.4", linewidth=0.8, linestyle=":")
    flagged = {v.at for v in rec.violations if v.rule in ("TEL-OVER-INFUSION", "TEL-UNDER-INFUSION", "TEL-EMPTY")}
    ok_x, ok_y, bad_x, bad_y = [], [], [], []
    for iv in rec.intervals:
        if iv.ratio_low is None or iv.ratio_high is None:
            continue
        mid = 0.5 * (iv.ratio_low + iv.ratio_high)
        bad = iv.end.at.isoformat(timespec="seconds") in flagged
        (bad_x if bad else ok_x).append(iv.end.at)
        (bad_y if bad else ok_y).append(mid)
        if iv.ratio_high - iv.ratio_low > 1e-9:  # uncounted boluses: the range of the ratio
            ax.vlines(iv.end.at, iv.ratio_low, iv.ratio_high, color="0.35", linewidth=1.2)
    ax.plot(ok_x, ok_y, linestyle="none", marker="o", color=OKABE_ITO["blue"], label="observed / programmed, within")
    if bad_x:
        ax.plot(bad_x, bad_y, linestyle="none", marker="X", markersize=9, color=OKABE_ITO["vermillion"],
                label="flagged (over, under or dry)")
    ys = ok_y + bad_y + [iv.ratio_low for iv in rec.intervals if iv.ratio_low is not None] + \
        [iv.ratio_high for iv in rec.intervals if iv.ratio_high is not None]
    ax.set_ylim(min([lo - 0.06] + [y - 0.03 for y in ys]), max([hi + 0.06] + [y + 0.03 for y in ys]))
    ax.set_ylabel("delivered / programmed [-]")
    ranged = any(iv.ratio_low is not None and iv.ratio_high is not None and iv.ratio_high - iv.ratio_low > 1e-9
                 for iv in rec.intervals)
    ax.set_title("Delivery per refill interval, at the refill that ends it"
                 + (" (bar: the range the uncounted boluses allow)" if ranged else ""))
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.grid(alpha=0.3)
    h = float(thresholds().drift_threshold.value)
    d = rec.drift
    if d.at:
        ax2.plot(d.at, d.upper, color=OKABE_ITO["orange"], marker="^", label="CUSUM upwards (delivers more)")
        ax2.plot(d.at, d.lower, color=OKABE_ITO["green"], marker="v", linestyle="--",
                 label="CUSUM downwards (delivers less)")
        for k in d.alarms:
            ax2.plot([d.at[k]], [max(d.upper[k], d.lower[k])], marker="X", markersize=10, color=OKABE_ITO["vermillion"],
                     linestyle="none", label="TEL-DRIFT (the sums restart at 0)" if k == d.alarms[0] else None)
    ax2.axhline(h, color=OKABE_ITO["black"], linestyle="-.", linewidth=1, label=f"threshold h = {h:g} sd")
    ax2.set_ylim(bottom=0, top=max([h * 1.3] + [x * 1.1 for x in d.upper + d.lower]))
    ax2.set_ylabel("drift statistic [sd]")
    ax2.set_xlabel("date of the refill")
    ax2.legend(loc="upper left", fontsize=8, framealpha=0.9)
    ax2.grid(alpha=0.3)
    loc = mdates.AutoDateLocator()
    ax2.xaxis.set_major_locator(loc)
    ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    fig.suptitle(f"Records against {plain_text(rec.table.path.rsplit('/', 1)[-1])} ({rec.table.device.model}): {rec.verdict.upper()}")
    fig.set_layout_engine("constrained")
    return fig


def _bytes(rec: Reconciliation, fmt: str) -> bytes:
    buf = io.BytesIO()
    figure(rec).savefig(buf, format=fmt, dpi=120)
    return buf.getvalue()


def figure_png(rec: Reconciliation) -> bytes:
    return _bytes(rec, "png")


def figure_svg(rec: Reconciliation) -> bytes:
    return _bytes(rec, "svg")
