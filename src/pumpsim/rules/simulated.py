"""The rules that judge simulated quantities: REFILL-EMPTY, REFILL-EMPTY-WORST,
REFILL-LOW-ALARM, DOSE-MAX and DOSE-MAX-WORST (docs/RULES.md §4, FORMAT.md §4).

Each is a small pure function of the table, the profile and numbers (instants in seconds, doses
in the drug's dose unit), not of an engine: :mod:`pumpsim.rules.validate` passes what the simulator
computed. Thresholds come from the profile and the device, never from literals here.
"""
from __future__ import annotations

from typing import NamedTuple

from pumpsim.io.library import dose_unit
from pumpsim.model.results import SimResult
from pumpsim.model.table import Profile, Sourced, Table
from pumpsim.model.timebase import DAY
from pumpsim.model.tolerances import above
from pumpsim.rules import check
from pumpsim.rules.kit import Finding, Skipped, rule, violation


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
                      f"{case} the reservoir runs empty at {table.iso(empty_at)}: no drug for {dry:.3g} days "
                      f"until {what} (withdrawal)", _session_at(table, empty_at), limit_value=0.0,
                      source=basis.source, verified=basis.verified)]


@rule("REFILL-EMPTY", "simulated")
def refill_empty(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """REFILL-EMPTY (hard): the nominal reservoir runs empty within the horizon."""
    nominal_empty_at = c.nominal.empty_at
    if nominal_empty_at is None:
        return []
    return _empty(table, "REFILL-EMPTY", "hard", nominal_empty_at, "with an exact pump and no bolus,",
                  table.device.reservoir)


@rule("REFILL-EMPTY-WORST", "simulated")
def refill_empty_worst(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """REFILL-EMPTY-WORST (soft): empty with a fast pump and every bolus the policy allows."""
    worst_empty_at = c.worst.empty_at
    if worst_empty_at is None:
        return []
    acc = table.device.accuracy
    return _empty(table, "REFILL-EMPTY-WORST", "soft", worst_empty_at,
                  f"in the worst case (pump {acc.value * 100:g} % fast, every bolus allowed)", acc)


@rule("REFILL-LOW-ALARM", "simulated")
def refill_low_alarm(table: Table, profile: Profile, c: Cases) -> list[Finding]:
    """REFILL-LOW-ALARM (soft): the nominal reservoir reaches the low-alarm volume."""
    nominal_low_alarm_at = c.nominal.low_alarm_at
    lim = table.device.low_alarm
    if lim is None:
        return [Skipped("REFILL-LOW-ALARM", f"{table.device.model} has no low-alarm volume: give pump.low_alarm to check it")]
    if nominal_low_alarm_at is None:
        return []
    return [violation(table, "REFILL-LOW-ALARM", "soft", nominal_low_alarm_at, None, float(lim.value), lim, "mL",
                      f"the reservoir reaches the low-alarm volume ({lim.value:g} mL) at {table.iso(nominal_low_alarm_at)}, "
                      "before the next refill", _session_at(table, nominal_low_alarm_at))]


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
    the patient over it. Reported once per drug, ``at`` the earliest start of a worst window."""
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
    """CROSS-CHECK (hard): the independent check (:mod:`pumpsim.rules.check`) disagrees with the simulator."""
    out: list[Finding] = []
    for d in check.cross_check(table, c.nominal, c.worst, c.worst_max, c.programmed, c.programmed_max):
        out.append(violation(table, "CROSS-CHECK", "hard", None, d.drug, d.simulated, None, d.unit,
                             f"{d.quantity}: simulator {d.simulated!r}, independent check {d.checked!r} "
                             f"(tolerance {d.tolerance:g}); the result cannot be trusted",
                             None, limit_value=d.checked, source="pumpsim.rules.check (independent recomputation)", verified=True))
    return out
