"""Monte-Carlo results rendered: the ``risk`` object of the JSON report (FORMAT.md §3) and the
risks in words a clinician reads. Nothing here runs or estimates anything."""
from __future__ import annotations

from pumpsim.model.table import Table
from pumpsim.sim.stats import MonteCarlo


def risk_json(mc: MonteCarlo, table: Table) -> dict:
    """The ``risk`` object of FORMAT.md §3 (:meth:`pumpsim.sim.stats.MonteCarlo.risk_json`)."""
    return mc.risk_json(table)


def describe(mc: MonteCarlo, table: Table) -> list[str]:
    """The risks in words a clinician reads."""
    lines = [f"Risk over {mc.runs:,} Monte-Carlo runs (seed {mc.seed}); 95 % confidence intervals (Wilson)."]
    lo, hi = mc.p_empty.ci
    lines.append(f"  The reservoir ran dry at some time in {100 * mc.p_empty.p:.3g} % of runs "
                 f"(95 % CI {100 * lo:.3g}-{100 * hi:.3g} %).")
    for s, t, pr in mc.empty_before:
        if pr.k:
            lo, hi = pr.ci
            lines.append(f"  In {100 * pr.p:.3g} % of {mc.runs:,} runs the reservoir ran dry before the "
                         f"{table.iso(t)[:10]} refill (session[{s}]; 95 % CI {100 * lo:.3g}-{100 * hi:.3g} %).")
    for d, pr in mc.p_over_hard.items():
        lo, hi = pr.ci
        lines.append(f"  {d}: some 24 h dose above its hard ceiling in {100 * pr.p:.3g} % of runs "
                     f"(95 % CI {100 * lo:.3g}-{100 * hi:.3g} %).")
    for s, h in mc.residual.items():
        if h.n:
            q = [h.quantile(x) for x in (0.05, 0.5, 0.95)]
            lines.append(f"  Left in the reservoir before the session[{s}] refill: median {q[1]:.3g} mL "
                         f"(5-95 %: {q[0]:.3g}-{q[2]:.3g} mL).")
    return lines
