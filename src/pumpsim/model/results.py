"""What a simulation of one pump is asked (:class:`Scenario`) and what it returns (:class:`SimResult`).

Both engines (the Numba kernel behind :mod:`pumpsim.sim.engine` and the plain-Python
:mod:`pumpsim.sim.reference`) take a :class:`pumpsim.model.table.Table` and a :class:`Scenario` and
return a :class:`SimResult`; the semantics are in ``docs/SIMULATION.md``. Units are the base
units of :mod:`pumpsim.model.table`: seconds since the first session (float64 arrays holding whole
numbers wherever the instant is exact: a session, a step, a greedy grant), mL, each drug's dose
unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Scenario:
    """The conditions of one run.

    Parameters
    ----------
    accuracy_factor : float
        True delivery = factor x programmed delivery, basal and bolus alike (1.0 exact pump;
        ``1 + accuracy`` the fast end used by the worst case) [-].
    bolus : str
        ``"none"`` (no request), ``"greedy"`` (worst and programmed cases: a request at every instant
        a grant is possible) or ``"requests"`` (the times in ``request_times``).
    request_times : numpy.ndarray
        Sorted bolus request times [s since the first session] when ``bolus == "requests"``.
    session_delays : numpy.ndarray or None
        Delay of each session [s] (refill delays), length = number of sessions; None: none.
    modifiers : numpy.ndarray or None
        Rows (start, end, factor) [s, s, -], sorted and non-overlapping: the delivery rate is
        multiplied by factor on [start, end) (0 = an MRI stall, > 1 = fever on a constant-flow pump).
    skipped : tuple of int
        0-based indices of sessions that do not happen (a missed refill visit).
    session_factors : numpy.ndarray or None
        Accuracy factor in force from each session on (length = number of sessions), for a
        pump whose accuracy changes at every refill; None: ``accuracy_factor`` throughout [-].
    """

    accuracy_factor: float = 1.0
    bolus: str = "none"
    request_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    session_delays: np.ndarray | None = None
    modifiers: np.ndarray | None = None
    skipped: tuple[int, ...] = ()
    session_factors: np.ndarray | None = None

    @staticmethod
    def nominal() -> Scenario:
        """Exact pump, no boluses (FORMAT.md §1).

        Returns
        -------
        Scenario
            Pump factor 1.0 (dimensionless), no bolus.
        """
        return Scenario(1.0, "none")

    @staticmethod
    def worst(accuracy: float) -> Scenario:
        """Fast end of the tolerance, every bolus the policy allows as early as allowed.

        Parameters
        ----------
        accuracy : float
            The device's tolerance as a fraction (14.5 % is 0.145).

        Returns
        -------
        Scenario
            Pump factor ``1 + accuracy``, greedy boluses.
        """
        return Scenario(1.0 + accuracy, "greedy")

    @staticmethod
    def programmed() -> Scenario:
        """Exact pump, every bolus the policy allows as early as allowed: what is programmed
        (basal, boluses, the dead-volume flush), judged by DOSE-MAX (FORMAT.md §1).

        Returns
        -------
        Scenario
            Pump factor 1.0, greedy boluses.
        """
        return Scenario(1.0, "greedy")


@dataclass
class SimResult:
    """One simulated run.

    Attributes
    ----------
    drugs : list of str
        Drug names, the column order of ``dose``.
    t : numpy.ndarray, shape (m,)
        Breakpoint times [s since the first session], float64, non-decreasing; a bolus delivered at once appears as two
        breakpoints at the same time (before and after).
    dose : numpy.ndarray, shape (m, n_drugs)
        Cumulative dose delivered at the catheter tip at each breakpoint [dose unit]; linear
        between breakpoints.
    volume_true, volume_estimate : numpy.ndarray, shape (m,)
        True reservoir volume and the pump's own estimate (nominal rate assumed) [mL].
    low_alarm_at, empty_at : float or None
        First instant the *true* reservoir holds no more than the low-alarm volume / holds 0,
        within the horizon [s]; None if never (or no low-alarm volume is known).
    pump_alarm_at : float or None
        First instant the pump's *estimate* reaches the low-alarm volume (the alarm the pump
        raises) [s].
    filled, aspirated, delivered_volume : float
        Total volume filled, aspirated at refills, and pushed out of the reservoir [mL].
    remaining : float
        True reservoir volume at the end of the horizon [mL].
    event_t, event_code, event_value : numpy.ndarray
        The telemetry log: time [s], code (``EV_*`` of :mod:`pumpsim.sim.events`), a value (bolus volume,
        refill volume...).
    """

    drugs: list[str]
    t: np.ndarray
    dose: np.ndarray
    volume_true: np.ndarray
    volume_estimate: np.ndarray
    low_alarm_at: float | None
    empty_at: float | None
    pump_alarm_at: float | None
    filled: float
    aspirated: float
    delivered_volume: float
    remaining: float
    event_t: np.ndarray
    event_code: np.ndarray
    event_value: np.ndarray

    def total_delivered(self) -> dict[str, float]:
        """Cumulative dose of each drug at the end of the horizon.

        Returns
        -------
        dict of str to float
            Drug name to its delivered dose [the drug's dose unit, mg or mcg].
        """
        return {d: float(self.dose[-1, j]) if len(self.t) else 0.0 for j, d in enumerate(self.drugs)}
