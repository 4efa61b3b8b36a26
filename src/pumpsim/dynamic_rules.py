"""The rules that judge simulated quantities: REFILL-EMPTY, REFILL-EMPTY-WORST,
REFILL-LOW-ALARM and DOSE-MAX (DOMAIN.md §4, FORMAT.md §4).

Each is a small pure function of the table, the profile and numbers (instants in days, doses
in the drug's dose unit), not of an engine: :mod:`pumpsim.validate` passes what the simulator
computed. Thresholds come from the profile and the device, never from literals here.
"""
from __future__ import annotations

from .model import Profile, Sourced, Table
from .rules import Finding, Skipped, above, dose_unit, violation

WINDOW_EPS = 1e-9  # [day] "just before the end of the 24 h window" when naming its session


def _session_at(table: Table, t: float) -> int:
    """The 1-based index of the session in force at ``t``."""
    idx = 1
    for s in table.sessions:
        if s.t <= t:
            idx = s.index
    return idx


def _empty(table: Table, rule: str, severity: str, empty_at: float, case: str, basis: Sourced) -> list[Finding]:
    """A reservoir-empty violation whose value is the time without drug [day] until the next
    refill (or the end of the horizon)."""
    until, what = table.horizon, "the end of the horizon"
    for s in table.sessions:
        if s.refill is not None and empty_at < s.t < table.horizon:
            until, what = s.t, f"the refill of session[{s.index}]"
            break
    dry = until - empty_at
    return [violation(table, rule, severity, empty_at, None, dry, None, "day",
                      f"{case} the reservoir runs empty at {table.iso(empty_at)}: no drug for {dry:.3g} days "
                      f"until {what} (withdrawal)", _session_at(table, empty_at), limit_value=0.0,
                      source=basis.source, verified=basis.verified)]


def refill_empty(table: Table, profile: Profile, nominal_empty_at: float | None) -> list[Finding]:
    """REFILL-EMPTY (hard): the nominal reservoir runs empty within the horizon."""
    if nominal_empty_at is None:
        return []
    return _empty(table, "REFILL-EMPTY", "hard", nominal_empty_at, "with an exact pump and no bolus,",
                  table.device.reservoir)


def refill_empty_worst(table: Table, profile: Profile, worst_empty_at: float | None) -> list[Finding]:
    """REFILL-EMPTY-WORST (soft): empty with a fast pump and every bolus the policy allows."""
    if worst_empty_at is None:
        return []
    acc = table.device.accuracy
    return _empty(table, "REFILL-EMPTY-WORST", "soft", worst_empty_at,
                  f"in the worst case (pump {acc.value * 100:g} % fast, every bolus allowed)", acc)


def refill_low_alarm(table: Table, profile: Profile, nominal_low_alarm_at: float | None) -> list[Finding]:
    """REFILL-LOW-ALARM (soft): the nominal reservoir reaches the low-alarm volume."""
    lim = table.device.low_alarm
    if lim is None:
        return [Skipped("REFILL-LOW-ALARM", f"{table.device.model} has no low-alarm volume: give pump.low_alarm to check it")]
    if nominal_low_alarm_at is None:
        return []
    return [violation(table, "REFILL-LOW-ALARM", "soft", nominal_low_alarm_at, None, float(lim.value), lim, "mL",
                      f"the reservoir reaches the low-alarm volume ({lim.value:g} mL) at {table.iso(nominal_low_alarm_at)}, "
                      "before the next refill", _session_at(table, nominal_low_alarm_at))]


def dose_max(table: Table, profile: Profile, worst_max: dict[str, tuple[float, float]]) -> list[Finding]:
    """DOSE-MAX (hard / soft): the worst-case dose in some rolling 24 h window above a ceiling.

    Reported once per drug, at its highest tier, ``at`` the start of the worst window. The
    session named is the one in force at the end of that window: a dead-volume transient
    after a change of mix is the doing of the session that changed it, even when the worst
    window opens a little before it.
    """
    out: list[Finding] = []
    for drug, (dose, start) in sorted(worst_max.items()):
        unit = f"{dose_unit(drug)}/day"
        for sev, key in (("hard", "daily_hard"), ("soft", "daily_soft")):
            lim = profile.limit(drug, key)
            if lim is not None and above(dose, lim.value):
                out.append(violation(table, "DOSE-MAX", sev, start, drug, dose, lim, unit,
                                     f"worst case: {dose:.6g} {dose_unit(drug)} of {drug} in the 24 h from {table.iso(start)}, "
                                     f"above the {'hard' if sev == 'hard' else 'soft'} ceiling {lim.value:.6g} {unit}",
                                     _session_at(table, min(start + 1.0, table.horizon) - WINDOW_EPS)))
                break
    return out
