"""The rules that judge simulated quantities: REFILL-EMPTY, REFILL-EMPTY-WORST,
REFILL-LOW-ALARM, DOSE-MAX and DOSE-MAX-WORST (docs/RULES.md §4, FORMAT.md §4).

The three REFILL rules are reported once per refill interval (from a refill to the next, the
last one to the end of the horizon), at their first instant in it (FORMAT.md §4): a table
whose second interval also empties shows that finding too.

Each is a small pure function of the table, the profile and numbers (instants in seconds, doses
in the drug's dose unit), not of an engine: :mod:`pumpsim.rules.validate` passes what the simulator
computed. Thresholds come from the profile and the device, never from literals here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pumpsim.io.library import dose_unit
from pumpsim.model.results import SimResult
from pumpsim.model.table import Profile, Sourced, Table
from pumpsim.model.timebase import DAY
from pumpsim.model.tolerances import above
from pumpsim.rules import check
from pumpsim.rules.kit import Finding, Skipped, rule, violation
from pumpsim.rules.report import days


class Cases(NamedTuple):
    """The three simulated cases of ``validate`` (FORMAT.md §1) and the 24 h maxima per drug
    (dose [dose unit], start of the worst window [s]): what every simulated rule reads."""

    nominal: SimResult  # exact pump, no bolus
    worst: SimResult  # pump fast by its full tolerance, every bolus allowed
    programmed: SimResult  # exact pump, every bolus allowed
    worst_max: dict[str, tuple[float, float]]
    programmed_max: dict[str, tuple[float, float]]


def _session_at(table: Table, t: float, *, before: bool = False) -> int:
    """The 1-based index of the session in force at ``t`` (``before``: just before ``t``)."""
    idx = 1
    for s in table.sessions:
        if s.t < t or (s.t == t and not before):
            idx = s.index
    return idx


#: A volume within this of a level has reached it [mL] (the simulators set it exactly; this only
#: absorbs the rounding of a subtraction).
LEVEL_ATOL_ML = 1e-9


def refill_intervals(table: Table) -> list[tuple[float, float]]:
    """The refill intervals of the simulated horizon.

    Parameters
    ----------
    table : Table
        The table.

    Returns
    -------
    list of (float, float)
        ``[a, b)`` [s since the first session], from each refill within the horizon to the next
        one, the last to the end of the horizon.
    """
    starts = [float(s.t) for s in table.sessions if s.refill is not None and s.t < table.horizon]
    return list(zip(starts, starts[1:] + [float(table.horizon)]))


def first_per_interval(table: Table, r: SimResult, level: float, first: float | None) -> list[float]:
    """The first instant in each refill interval at which the true reservoir holds no more than
    ``level``, read off the simulator's piecewise-linear volume record.

    Parameters
    ----------
    table : Table
        The simulated table.
    r : SimResult
        Its run (``t`` [s], ``volume_true`` [mL]; a jump is two breakpoints at one instant).
    level : float
        The volume [mL]: 0 for empty, the low-alarm volume for the alarm.
    first : float or None
        The simulator's own first instant over the table [s] (``empty_at`` or ``low_alarm_at``),
        used for the interval that holds it, so that the finding and the JSON agree.

    Returns
    -------
    list of float
        One instant [s] per interval that reaches ``level``, in time order: within ``[a, b)`` (a
        refill at ``b`` counts first).
    """
    t, v = r.t, r.volume_true
    out: list[float] = []
    for a, b in refill_intervals(table):
        if first is not None and a <= first < b:
            out.append(float(first))
            continue
        i0 = max(int(np.searchsorted(t, a, side="right")) - 1, 0)  # the state after the refill at a
        i1 = min(int(np.searchsorted(t, b, side="left")), len(t) - 1)  # the state just before b
        hit = np.nonzero(v[i0:i1 + 1] <= level + LEVEL_ATOL_ML)[0]
        if not len(hit):
            continue
        i = i0 + int(hit[0])
        x = float(t[i])
        if i > i0 and v[i - 1] > level + LEVEL_ATOL_ML and t[i] > t[i - 1]:  # crossed on a linear piece
            x = float(t[i - 1] + (v[i - 1] - level) * (t[i] - t[i - 1]) / (v[i - 1] - v[i]))
        if x < b:
            out.append(x)
    return out


def _empty(table: Table, rule: str, severity: str, empty_at: float, case: str, basis: Sourced) -> list[Finding]:
    """A reservoir-empty violation whose value is the time without drug until the next refill
    (or the end of the horizon), reported in days."""
    until, what = table.horizon, "the end of the horizon"
    for s in table.sessions:
        if s.refill is not None and empty_at < s.t < table.horizon:
            until, what = s.t, f"the refill of session[{s.index}]"
            break
    dry = (until - empty_at) / DAY
    return [violation(table, rule, severity, empty_at, None, dry, None, "day",
                      f"{case} the reservoir runs empty at {table.iso(empty_at)}: no drug for {days(dry, '.3g')} "
                      f"until {what} (withdrawal)", _session_at(table, empty_at), limit_value=0.0,
                      source=basis.source, verified=basis.verified)]


@rule("REFILL-EMPTY", "simulated")
def refill_empty(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """REFILL-EMPTY (hard): the nominal reservoir runs empty, once per refill interval.

    Parameters
    ----------
    table : Table
        The table.
    profile : Profile
        The guideline profile (not read: the basis is the device's reservoir).
    c : Cases
        The simulated cases; the nominal one is judged.

    Returns
    -------
    list of Finding
        One violation per refill interval that empties, at its first empty instant [s]; its
        value the days without drug until the next refill [day].
    """
    out: list[Finding] = []
    for at in first_per_interval(table, c.nominal, 0.0, c.nominal.empty_at):
        out += _empty(table, "REFILL-EMPTY", "hard", at, "with an exact pump and no bolus,", table.device.reservoir)
    return out


@rule("REFILL-EMPTY-WORST", "simulated")
def refill_empty_worst(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """REFILL-EMPTY-WORST (soft): empty with a fast pump and every bolus the policy allows, once per
    refill interval.

    Parameters
    ----------
    table : Table
        The table.
    profile : Profile
        The guideline profile (not read: the basis is the device's accuracy).
    c : Cases
        The simulated cases; the worst one is judged.

    Returns
    -------
    list of Finding
        One violation per refill interval that empties in the worst case, at its first empty
        instant [s]; its value the days without drug until the next refill [day].
    """
    acc = table.device.accuracy
    out: list[Finding] = []
    for at in first_per_interval(table, c.worst, 0.0, c.worst.empty_at):
        out += _empty(table, "REFILL-EMPTY-WORST", "soft", at,
                      f"in the worst case (pump {acc.value * 100:g} % fast, every bolus allowed)", acc)
    return out


@rule("REFILL-LOW-ALARM", "simulated")
def refill_low_alarm(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """REFILL-LOW-ALARM (soft): the nominal reservoir reaches the low-alarm volume, once per refill
    interval.

    Parameters
    ----------
    table : Table
        The table.
    profile : Profile
        The guideline profile (not read: the basis is the device's low-alarm volume).
    c : Cases
        The simulated cases; the nominal one is judged.

    Returns
    -------
    list of Finding
        One violation per refill interval that reaches the low-alarm volume [mL], at its first
        instant [s]; a check not made when the device has no low-alarm volume.
    """
    lim = table.device.low_alarm
    if lim is None:
        return [Skipped("REFILL-LOW-ALARM", f"{table.device.model} has no low-alarm volume: give pump.low_alarm to check it")]
    return [violation(table, "REFILL-LOW-ALARM", "soft", at, None, float(lim.value), lim, "mL",
                      f"the reservoir reaches the low-alarm volume ({lim.value:g} mL) at {table.iso(at)}, "
                      "before the next refill", _session_at(table, at))
            for at in first_per_interval(table, c.nominal, float(lim.value), c.nominal.low_alarm_at)]


def _window_session(table: Table, start: float) -> int:
    """The session a 24 h window starting at ``start`` belongs to: the one in force at its end
    (a dead-volume transient after a change of mix is the doing of the session that changed it,
    even when the worst window opens a little before it)."""
    return _session_at(table, min(start + DAY, table.horizon), before=True)


@rule("DOSE-MAX", "simulated")
def dose_max(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """DOSE-MAX (hard / soft): the programmed-case dose in some rolling 24 h window above a ceiling.

    The programmed case is what the clinician programs: an exact pump, every bolus the policy
    allows as early as it allows, and the old mix flushed from the dead volume after a change of
    mix (the flush is programmed, not tolerance). Reported once per drug, at its highest tier,
    ``at`` the start of the worst window, named after the session in force at its end.

    Parameters
    ----------
    table : Table
        The table.
    profile : Profile
        The guideline profile (the drugs' daily ceilings [dose unit/day]).
    c : Cases
        The simulated cases and their 24 h maxima [dose unit], window starts [s].

    Returns
    -------
    list of Finding
        At most one violation per drug: value the 24 h dose [dose unit/day], limit the ceiling.
    """
    out: list[Finding] = []
    for drug, (dose, start) in sorted(c.programmed_max.items()):
        unit = f"{dose_unit(drug)}/day"
        for sev, key in (("hard", "daily_hard"), ("soft", "daily_soft")):
            lim = profile.limit(drug, key)
            if lim is not None and above(dose, lim.value):
                out.append(violation(table, "DOSE-MAX", sev, start, drug, dose, lim, unit,
                                     f"as programmed (exact pump, every bolus the policy allows, the dead-volume flush): "
                                     f"{dose:.6g} {dose_unit(drug)} of {drug} in the 24 h from {table.iso(start)}, "
                                     f"above the {sev} ceiling {lim.value:.6g} {unit}",
                                     _window_session(table, start)))
                break
    return out


@rule("DOSE-MAX-WORST", "simulated")
def dose_max_worst(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """DOSE-MAX-WORST (soft): the worst-case 24 h maximum (pump fast by its full tolerance) above
    the hard ceiling while the programmed-case maximum is not: the tolerance alone could carry
    the patient over it. Reported once per drug, ``at`` the earliest start of a worst window.

    Parameters
    ----------
    table : Table
        The table.
    profile : Profile
        The guideline profile (the drugs' daily ceilings [dose unit/day]).
    c : Cases
        The simulated cases and their 24 h maxima [dose unit], window starts [s].

    Returns
    -------
    list of Finding
        At most one violation per drug: value the worst-case 24 h dose [dose unit/day], limit
        the hard ceiling.
    """
    out: list[Finding] = []
    acc = table.device.accuracy
    factor = 1.0 + float(acc.value)
    for drug, (worst, start) in sorted(c.worst_max.items()):
        lim = profile.limit(drug, "daily_hard")
        prog = c.programmed_max[drug][0]
        if lim is None or not above(worst, lim.value) or above(prog, lim.value):
            continue
        u = dose_unit(drug)
        ceiling = float(lim.value)
        out.append(violation(table, "DOSE-MAX-WORST", "soft", start, drug, worst, lim, f"{u}/day",
                             f"the program gives at most {prog:.4g} {u} in any 24 h; if the pump runs "
                             f"{float(acc.value) * 100:g} % fast, as its tolerance allows, {worst:.4g} {u}: "
                             f"above the {ceiling:.4g} {u}/day ceiling. "
                             f"Monitor, or program at most {ceiling / factor:.4g} {u}/day to stay within it",
                             _window_session(table, start),
                             source=f"{lim.source}; pump accuracy: {acc.source}"))
    return out


@rule("CROSS-CHECK", "simulated")
def cross_check(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """CROSS-CHECK (hard): the independent check (:mod:`pumpsim.rules.check`) disagrees with the simulator.

    Parameters
    ----------
    table : Table
        The table.
    profile : Profile
        The guideline profile (not read).
    c : Cases
        The simulator's cases; their first instants [s] per refill interval, their totals and
        24 h maxima [dose unit] are recomputed independently.

    Returns
    -------
    list of Finding
        One hard violation per quantity beyond tolerance: value the simulator's, limit the
        check's, in the quantity's unit (s or dose unit).
    """
    out: list[Finding] = []
    low = table.device.low_alarm
    per_interval = {
        "nominal empty_at": first_per_interval(table, c.nominal, 0.0, c.nominal.empty_at),
        "worst empty_at": first_per_interval(table, c.worst, 0.0, c.worst.empty_at),
    }
    if low is not None:
        per_interval["nominal low_alarm_at"] = first_per_interval(table, c.nominal, float(low.value), c.nominal.low_alarm_at)
    for d in check.cross_check(table, c.nominal, c.worst, c.worst_max, c.programmed, c.programmed_max,
                               per_interval=per_interval):
        out.append(violation(table, "CROSS-CHECK", "hard", None, d.drug, d.simulated, None, d.unit,
                             f"{d.quantity}: simulator {d.simulated!r}, independent check {d.checked!r} "
                             f"(tolerance {d.tolerance:g}); the result cannot be trusted",
                             None, limit_value=d.checked, source="pumpsim.rules.check (independent recomputation)", verified=True))
    return out
