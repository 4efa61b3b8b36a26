"""Monte-Carlo results rendered: the ``risk`` object of the JSON report (FORMAT.md §3) and the
risks in words a clinician reads. Nothing here runs or estimates anything."""
from __future__ import annotations

from .model import DAY, Table
from .montecarlo_stats import QUANTILES, Histogram, MonteCarlo


def risk_json(mc: MonteCarlo, table: Table) -> dict:
    """The ``risk`` object of FORMAT.md §3, extended with intervals and distributions: proportions
    [fraction of runs] with their 95 % Wilson intervals, instants as ISO date-times, residual
    volumes [mL], the time to empty [day] and the 24 h maxima [dose unit] as quantiles."""
    def qs(h: Histogram, scale: float = 1.0) -> dict | None:
        if h.n == 0:
            return None
        return ({f"p{int(q * 100):02d}": h.quantile(q) / scale for q in QUANTILES}
                | {"runs": h.n, "resolution": h.bin_width / scale})

    return {
        "runs": mc.runs,
        "seed": mc.seed,
        "p_empty": mc.p_empty.p,
        "p_over_hard_limit": {d: pr.p for d, pr in mc.p_over_hard.items()},
        "p_empty_ci95": list(mc.p_empty.ci),
        "p_over_hard_limit_ci95": {d: list(pr.ci) for d, pr in mc.p_over_hard.items()},
        "empty_before_refill": [{"session": s, "refill_at": table.iso(t), "p": pr.p, "ci95": list(pr.ci)}
                                for s, t, pr in mc.empty_before],
        "reservoir_before_refill_mL": [{"session": s, "refill_at": table.iso(table.sessions[s - 1].t),
                                        "quantiles": qs(h)} for s, h in mc.residual.items()],
        "time_to_empty_days": qs(mc.time_to_empty, DAY),
        "max_24h_dose": {d: qs(h) for d, h in mc.max24.items()},
    }


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
