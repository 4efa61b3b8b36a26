"""The rolling 24 h dose of a simulated run, at every window start where it can change.

Drawn by :mod:`pumpsim.render.figures`; computed here, beside the kernels, because it reads the
piecewise-linear cumulative dose with the kernels' own interpolation (``kernels/window.py``).
"""
from __future__ import annotations

import numpy as np

from pumpsim.model.results import SimResult
from pumpsim.model.timebase import DAY

WINDOW = DAY  # [s]: the rolling window of DOSE-MAX


def rolling_24h(r: SimResult, j: int, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """The dose in [s, s + 24 h) at every candidate start s (breakpoints and breakpoints - 24 h,
    where the piecewise-linear cumulative dose changes slope), exact at those points.

    Parameters
    ----------
    r : SimResult
        A simulated run; ``r.t`` [s] its breakpoints, ``r.dose[:, j]`` the cumulative dose of drug
        ``j`` [dose unit] at each.
    j : int
        The drug's column.
    horizon : float
        The table's horizon [s].

    Returns
    -------
    starts : numpy.ndarray
        Window starts [s since the first session].
    dose : numpy.ndarray
        The dose delivered in each window [dose unit].
    """
    from pumpsim.kernels.window import left_value

    f = r.dose[:, j].copy()
    starts = np.unique(np.clip(np.concatenate([r.t, r.t - WINDOW]), 0.0, max(horizon - WINDOW, 0.0)))
    g = np.array([left_value(r.t, f, s + WINDOW) - left_value(r.t, f, s) for s in starts])
    return starts, g


