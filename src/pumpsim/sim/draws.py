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


def telemetry_conditions(table, seed: int, run: int = 0):
    """The drawn conditions of one pump whose records are simulated (``pumpsim telemetry --records``).

    The draws of run ``run`` of seed ``seed`` by the kernels' own routine (``draw_conditions``,
    the Monte-Carlo runs' draws): the accuracy factor (one per run, or one per refill interval),
    the refill delays (capped at the next scheduled session) and the bolus request times. Missed
    refills, MRI stalls and fevers are not drawn for records (a record file writes a refill row at
    every refill; stalls are injected as faults).

    Parameters
    ----------
    table : Table
        The table, with its ``[variability]``.
    seed, run : int
        The stream.

    Returns
    -------
    Scenario
        The run's conditions: accuracy factor [-], request times [s since the first session],
        session delays [s] (None when none), per-session factors [-] (None unless per refill).
    """
    from pumpsim.kernels.draws import draw_conditions
    from pumpsim.model.results import Scenario
    from pumpsim.sim.lower import lower_table
    from pumpsim.sim.montecarlo import variation

    var = variation(table)._replace(miss_p=0.0, stall_rate=0.0, fever_rate=0.0)
    sess, pump = lower_table(table)
    c = draw_conditions(seed, run, sess, pump, var)
    delays = c.t_eff - sess.t
    return Scenario(float(c.factor[0]), "requests" if len(c.requests) else "none", c.requests.copy(),
                    delays if delays.any() else None, None,
                    session_factors=c.factor.copy() if var.acc_per_refill else None)


#: Streams of the refill delays of ``pumpsim plan``: far beyond any Monte-Carlo run's index, so
#: that a plan's delays never share a stream with a run of the same seed.
PLAN_DELAY_STREAMS = 1 << 40


def refill_delays(table, seed: int, n: int, k: int = 2) -> np.ndarray:
    """Refill delays of ``n`` runs, ``k`` per run, drawn by the kernels' own routine from the
    table's ``[variability]`` ``refill_delay`` (the Monte-Carlo runs' distribution).

    Parameters
    ----------
    table : Table
        The table, with its ``[variability]``.
    seed : int
        The seed [-].
    n, k : int
        Runs, and delays per run [-].

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` delays [s]; zeros when the table draws no delay.
    """
    from pumpsim.kernels.draws import draw_refill_delays
    from pumpsim.sim.montecarlo import variation

    return draw_refill_delays(seed, PLAN_DELAY_STREAMS, n, k, variation(table))
