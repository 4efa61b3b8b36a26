"""``validate``: static rules, the exact nominal and worst-case simulations, the rules that
judge them, and the independent cross-check (FORMAT.md §2-3, DOMAIN.md §4).

The pipeline: read (done by the caller) -> static rules -> simulate nominal and worst case
(:mod:`pumpsim.engine`) -> simulated rules -> recompute the same key numbers independently
(:mod:`pumpsim.check`) -> CROSS-CHECK if they disagree -> :class:`pumpsim.report.Report`.
"""
from __future__ import annotations

from . import check, dynamic_rules, engine
from .model import Profile, Table
from .report import Report, dose_unit
from .results import Scenario, SimResult
from .rules import Finding, Skipped, Violation, catalogue, run_static, violation


def simulate_cases(table: Table) -> tuple[SimResult, SimResult, dict[str, tuple[float, float]]]:
    """The nominal run, the worst-case run, and the worst-case 24 h maxima per drug."""
    nominal = engine.simulate(table, Scenario.nominal())
    worst = engine.simulate(table, Scenario.worst(float(table.device.accuracy.value)))
    return nominal, worst, engine.max_24h(worst, table.horizon)


def cross_check_findings(table: Table, nominal: SimResult, worst: SimResult,
                         worst_max: dict[str, tuple[float, float]]) -> list[Finding]:
    """CROSS-CHECK violations: where the independent checker disagrees with the simulator."""
    out: list[Finding] = []
    for d in check.cross_check(table, nominal, worst, worst_max):
        out.append(violation(table, "CROSS-CHECK", "hard", None, d.drug, d.simulated, None, d.unit,
                             f"{d.quantity}: simulator {d.simulated!r}, independent check {d.checked!r} "
                             f"(tolerance {d.tolerance:g}); the result cannot be trusted",
                             None, limit_value=d.checked, source="pumpsim.check (independent recomputation)", verified=True))
    return out


def validate(table: Table, profile: Profile) -> Report:
    """Every check of ``pumpsim validate`` on one table."""
    findings: list[Finding] = run_static(table, profile)
    nominal, worst, worst_max = simulate_cases(table)
    findings += dynamic_rules.refill_empty(table, profile, nominal.empty_at)
    findings += dynamic_rules.refill_empty_worst(table, profile, worst.empty_at)
    findings += dynamic_rules.refill_low_alarm(table, profile, nominal.low_alarm_at)
    findings += dynamic_rules.dose_max(table, profile, worst_max)
    findings += cross_check_findings(table, nominal, worst, worst_max)
    violations = [f for f in findings if isinstance(f, Violation)]
    skipped = [f for f in findings if isinstance(f, Skipped)]
    if table.device.dead_volume is None:
        skipped.append(Skipped("DOSE-MAX", f"{table.device.model} has no dead volume in the library: the flush of the "
                                           "old mix after a change of mix is not modelled; give pump.dead_volume"))
    totals = nominal.total_delivered()
    drugs = {d: {"unit": dose_unit(d), "max_24h_dose": worst_max[d][0], "total_delivered": totals[d]}
             for d in table.drugs()}
    reservoir = {
        "nominal": {"low_alarm_at": table.iso(nominal.low_alarm_at), "empty_at": table.iso(nominal.empty_at)},
        "worst": {"low_alarm_at": table.iso(worst.low_alarm_at), "empty_at": table.iso(worst.empty_at)},
    }
    order = {r: i for i, r in enumerate(catalogue())}
    violations.sort(key=lambda v: (v.session or 0, order.get(v.rule, 99), v.drug or ""))
    return Report(table, profile, violations, skipped, drugs, reservoir)

