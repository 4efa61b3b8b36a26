"""KET-DOSE in a programming table: ketamine's programmed daily dose per kg of body weight.

A table holding ketamine (a syringe driver of co-analgesia) is judged, when it gives
``patient.weight``, on the programmed daily dose (concentration x mean daily rate, mg/day)
divided by the weight: the first session holding ketamine against the start limit
(0.5 mg/kg/day), and every session's dose against the dose in force 24 h before it (+0.25
mg/kg/day). Within the first 24 h of ketamine, a later session compares with the first
session's dose; a restart after a stop compares with 0. The limits are the program rules' own
(``data/ketamine.toml``, with their source and verified flag); without a weight the check goes
under ``not_checked``.
"""
from __future__ import annotations

from pumpsim.io.ketamine import build_config
from pumpsim.model.table import Profile, Program, Table
from pumpsim.model.timebase import DAY, HOUR
from pumpsim.model.tolerances import above
from pumpsim.rules.kit import Finding, Skipped, rule, violation

DRUG = "ketamine"


def _in_force(programs: tuple[Program, ...], t: float) -> Program | None:
    """The program in force at ``t`` [s]: the last session at or before it."""
    now = None
    for p in programs:
        if p.session.t <= t:
            now = p
    return now


@rule("KET-DOSE", "static")
def ket_dose_table(table: Table, profile: Profile) -> list[Finding]:
    """With the weight: a table's ketamine daily dose started above, or raised within 24 h by more than, its limit."""
    held = [p for p in table.programs if p.daily_dose(DRUG) > 0.0]
    if not held:
        return []
    w = table.patient.weight
    if w is None:
        return [Skipped("KET-DOSE", "ketamine: the table gives no patient.weight, so its daily dose per kg is not "
                                    "judged: add weight = \"70 kg\" under [patient]")]
    values = build_config().values
    start_max, step_max, window = values["coanalgesia_start_max"], values["coanalgesia_step_max"], values["step_window"]
    span = float(window.value) * DAY  # [s]
    first = held[0]
    out: list[Finding] = []
    per_kg = first.daily_dose(DRUG) / w
    s = first.session
    if above(per_kg, float(start_max.value)):
        out.append(violation(table, "KET-DOSE", "soft", s.t, DRUG, per_kg, start_max, "mg/kg/day",
                             f"ketamine started at {first.daily_dose(DRUG):.6g} mg/day = {per_kg:.4g} mg/kg/day for "
                             f"{w:g} kg, above the start of {start_max.text}", s.index))
    for p in table.programs:
        if p.session.t <= first.session.t:
            continue
        before = _in_force(table.programs, max(p.session.t - span, first.session.t))
        base = before.daily_dose(DRUG) if before is not None else 0.0
        rise = (p.daily_dose(DRUG) - base) / w
        if above(rise, float(step_max.value)):
            s = p.session
            out.append(violation(table, "KET-DOSE", "soft", s.t, DRUG, rise, step_max, "mg/kg/day",
                                 f"ketamine raised to {p.daily_dose(DRUG):.6g} mg/day from {base:.6g} mg/day in force "
                                 f"{span / HOUR:g} h before: +{rise:.4g} mg/kg/day for {w:g} kg, more than "
                                 f"{step_max.text} per {window.text}", s.index))
    return out
