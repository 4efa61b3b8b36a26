"""Random draws outside the Monte-Carlo runs, through the kernels' own draw routines.

Every random number pumpsim uses comes from ``kernels/rng.py`` (one stream per seed and run,
the same on any machine and with any number of workers) and the draw routines of
``kernels/draws.py``; this module is how the rest of the package reaches them.
"""
from __future__ import annotations

import numpy as np

from pumpsim.model.timebase import DAY


def request_times(seed: int, run: int, rate: float, horizon: float, clock0: float,
                  hourly: np.ndarray | None = None) -> np.ndarray:
    """Poisson bolus request times of one run, sorted.

    Parameters
    ----------
    seed, run : int
        The stream: run ``run`` of seed ``seed`` (the Monte-Carlo generator's streams).
    rate : float
        Mean requests per second [1/s].
    horizon : float
        Requests are drawn on [0, horizon) [s].
    clock0 : float
        The wall-clock time of instant 0 [s after midnight], for ``hourly``.
    hourly : numpy.ndarray, optional
        24 weights of mean 1 (the rate in wall-clock hour h is ``rate x hourly[h]``); flat if None.

    Returns
    -------
    numpy.ndarray
        Request instants [s since the first session].
    """
    from pumpsim.kernels.draws import draw_requests
    from pumpsim.kernels.rng import stream

    weights = np.ones(24) if hourly is None else np.asarray(hourly, dtype=np.float64)
    return draw_requests(stream(seed, run), rate, horizon, weights, clock0, float(DAY))
