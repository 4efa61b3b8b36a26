"""``validate``: static rules, the exact nominal, worst and programmed simulations, the rules
that judge them, and the independent cross-check (FORMAT.md §1-3, docs/RULES.md §4).

The pipeline: read (done by the caller) -> static rules -> simulate the nominal, worst and
programmed cases (:mod:`pumpsim.sim.simulation`: the Numba engine, or the plain-Python reference for a small table) -> simulated rules -> recompute the same key numbers independently
(:mod:`pumpsim.rules.check`) -> CROSS-CHECK if they disagree -> :class:`pumpsim.rules.report.Report`.
"""
from __future__ import annotations

from pumpsim.io.library import dose_unit
from pumpsim.model.results import Scenario
from pumpsim.model.table import Profile, Table
from pumpsim.rules import kit
from pumpsim.rules import static as _static  # noqa: F401  (registers the static rules)
from pumpsim.rules.kit import Finding, Skipped, Violation, catalogue
from pumpsim.rules.report import Report
from pumpsim.rules.simulated import Cases
from pumpsim.sim import simulation


def simulate_cases(table: Table) -> Cases:
    """The nominal, worst-case and programmed-case runs, and their 24 h maxima per drug.

    Parameters
    ----------
    table : Table
        The table to simulate (its device's accuracy sets the worst case).

    Returns
    -------
    Cases
        The three runs (instants [s], volumes [mL], doses [dose unit]) and, per drug, the largest
        dose in a rolling 24 h window [dose unit] with the start of that window [s].
    """
    nominal = simulation.simulate(table, Scenario.nominal())
    worst = simulation.simulate(table, Scenario.worst(float(table.device.accuracy.value)))
    programmed = simulation.simulate(table, Scenario.programmed())
    return Cases(nominal, worst, programmed, simulation.max_24h(worst, table.horizon),
                 simulation.max_24h(programmed, table.horizon))


def validate(table: Table, profile: Profile) -> Report:
    """Every check of ``pumpsim validate`` on one table: the static rules, the three simulated
    cases, the simulated rules and the independent cross-check.

    Parameters
    ----------
    table : Table
        The programming table (base units: s, mL, mL/day, dose unit/mL).
    profile : Profile
        The guideline profile it is judged against.

    Returns
    -------
    Report
        Violations and skipped checks, per-drug doses [dose unit, dose unit/day], reservoir
        instants (ISO date-times), the verdict and the exit status.
    """
    findings: list[Finding] = kit.run("static", table, profile)
    c = simulate_cases(table)
    nominal, worst, programmed = c.nominal, c.worst, c.programmed
    findings += kit.run("simulated", table, profile, c)
    violations = [f for f in findings if isinstance(f, Violation)]
    skipped = [f for f in findings if isinstance(f, Skipped)]
    if table.device.dead_volume is None:
        skipped.append(Skipped("DOSE-MAX", f"{table.device.model} has no dead volume in the library: the flush of the "
                                           "old mix after a change of mix is not modelled; give pump.dead_volume"))
    totals = nominal.total_delivered()
    drugs = {d: {"unit": dose_unit(d), "max_24h_dose": c.worst_max[d][0],
                 "max_24h_dose_programmed": c.programmed_max[d][0], "total_delivered": totals[d]}
             for d in table.drugs()}
    reservoir = {case: {"low_alarm_at": table.iso(r.low_alarm_at), "empty_at": table.iso(r.empty_at)}
                 for case, r in (("nominal", nominal), ("worst", worst), ("programmed", programmed))}
    order = {r: i for i, r in enumerate(catalogue())}
    violations.sort(key=lambda v: (v.session or 0, order.get(v.rule, 99), v.drug or ""))
    return Report(table, profile, violations, skipped, drugs, reservoir, cases=c)

