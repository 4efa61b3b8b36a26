"""What ``pumpsim plan`` found (:class:`PlanResult`), its JSON (FORMAT.md §5) and its words.

Nothing here searches (:mod:`pumpsim.planning.plan`) or writes a file (:mod:`pumpsim.planning.tablewrite`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pumpsim._version import __version__
from pumpsim.io.library import drug_library
from pumpsim.io.tables import clock_text
from pumpsim.model.table import Sourced, Step, Table
from pumpsim.model.timebase import DAY
from pumpsim.rules.kit import Violation

MAX_INTERVAL_DAYS = 365  # FORMAT.md §5: the interval is at most 365 days (binding HORIZON)

PLAN_SCHEMA = "pumpsim.plan/1"


def _mean_rate(steps: tuple[Step, ...]) -> float:
    return sum(s.rate * (((steps[i + 1].start if i + 1 < len(steps) else DAY) - s.start) / DAY)
               for i, s in enumerate(steps))


def _is_flex(steps: tuple[Step, ...]) -> bool:
    return len(steps) > 1 or steps[0].start != 0


@dataclass(frozen=True)
class Cap:
    """A bound on the concentration factor ``k`` and what sets it."""

    k: float
    rule: str  # CONC-MAX, GRANULOMA-RISK, RATE-RANGE, DOSE-MAX
    drug: str | None
    text: str
    source: str
    verified: bool


@dataclass
class PlanResult:
    """What ``pumpsim plan`` found; ``interval_days`` is None when no plan satisfies the hard rules."""

    table: Table
    interval_days: int | None
    binding: str
    refill_at: dt.datetime | None = None
    k: float | None = None
    fill_volume: float | None = None  # [mL]
    steps: tuple[Step, ...] = ()
    concentrations: dict[str, float] = field(default_factory=dict)  # [dose unit/mL]
    daily_doses: dict[str, float] = field(default_factory=dict)  # [dose unit/day], kept
    p_low_alarm: float | None = None
    p_ci95: tuple[float, float] | None = None
    runs: int | None = None
    seed: int | None = None
    p_max: float | None = None
    residual_worst: float | None = None  # [mL] left just before the next refill, worst case
    residual_nominal: float | None = None  # [mL], exact pump, no bolus
    stability: tuple[Sourced, str] | None = None  # the mix's stability limit and its drug
    lower_caps: list[Cap] = field(default_factory=list)
    upper_caps: list[Cap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)  # hard violations that prevent a plan
    planned: Table | None = None  # the whole table with the plan written in

    @property
    def exit_status(self) -> int:
        return 0 if self.interval_days is not None else 1

    @property
    def rate(self) -> float | None:
        """Daily mean rate of the plan [mL/day]."""
        return None if not self.steps else _mean_rate(self.steps)

    def calendar(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` refills after the planned one, every ``interval_days``, with their volumes."""
        if self.interval_days is None or self.refill_at is None:
            return []
        return [{"refill_at": (self.refill_at + dt.timedelta(days=i * self.interval_days)).isoformat(timespec="seconds"),
                 "fill_volume": self.fill_volume, "left_before_worst": self.residual_worst,
                 "left_before_nominal": self.residual_nominal} for i in range(n)]

    def as_json(self, calendar: int = 0) -> dict[str, Any]:
        lib = drug_library().drugs
        out: dict[str, Any] = {
            "schema": PLAN_SCHEMA, "interval_days": self.interval_days,
            "refill_at": self.refill_at.isoformat(timespec="seconds") if self.refill_at else None,
            "fill_volume": self.fill_volume, "rate": self.rate, "rate_unit": "mL/day",
            "concentrations": dict(self.concentrations),
            "concentration_unit": {d: f"{lib[d].dose_unit}/mL" for d in self.concentrations},
            "binding": self.binding, "p_low_alarm": self.p_low_alarm,
        }
        out["p_low_alarm_ci95"] = list(self.p_ci95) if self.p_ci95 else None
        out["p_max"] = self.p_max
        out["runs"], out["seed"] = self.runs, self.seed
        out["steps"] = [{"from": clock_text(s.start), "rate": s.rate} for s in self.steps]
        out["daily_doses"] = {d: {"value": v, "unit": f"{lib[d].dose_unit}/day"} for d, v in self.daily_doses.items()}
        out["left_before_next_refill_mL"] = {"worst": self.residual_worst, "nominal": self.residual_nominal}
        out["limits"] = [{"rule": c.rule, "drug": c.drug, "bound": kind, "factor": c.k, "text": c.text,
                          "source": c.source, "verified": c.verified}
                         for kind, caps in (("upper", self.upper_caps), ("lower", self.lower_caps)) for c in caps]
        if self.stability is not None:
            s, d = self.stability
            out["stability"] = {"drug": d, "days": float(s.value) / DAY, "source": s.source, "verified": s.verified}
        if self.violations:
            out["violations"] = [v.as_json() for v in self.violations]
        if calendar:
            out["calendar"] = self.calendar(calendar)
        out["notes"] = list(self.notes)
        out["table"] = self.table.path
        out["pumpsim_version"] = __version__
        return out


def describe(res: PlanResult, calendar: int = 0) -> str:
    """The plan in words an algologist reads."""
    t = res.table
    lib = drug_library().drugs
    last = t.sessions[-1]
    lines: list[str] = []
    if res.interval_days is None:
        lines.append(f"NO PLAN: no refill plan for session[{last.index}] satisfies the hard rules ({res.binding}).")
        for n in res.notes:
            lines.append(f"  - {n}")
        for v in res.violations:
            lines.append(f"  - {v.rule} ({v.severity}) {v.at or ''}: {v.message}")
            lines.append(f"    source: {v.source}")
        lines.append("")
        lines.append(f"pumpsim {__version__}: decision support for professionals, not a medical device.")
        return "\n".join(lines) + "\n"
    assert res.refill_at is not None and res.rate is not None and res.fill_volume is not None
    lines.append(f"PLAN: refill every {res.interval_days} days: session[{last.index}] at {last.at.isoformat(timespec='seconds')}, "
                 f"next refill {res.refill_at.isoformat(timespec='seconds')}.")
    lines.append(f"  What limits it: {_binding_words(res)}.")
    old = t.programs[-1]
    mix_words = ", ".join(f"{d} {c:.4g} {lib[d].dose_unit}/mL (was {c / res.k:.4g})" for d, c in res.concentrations.items())
    doses = ", ".join(f"{d} {v:.4g} {lib[d].dose_unit}/day" for d, v in res.daily_doses.items())
    lines.append(f"  Mix: {mix_words}, at {res.rate:.4g} mL/day (was {old.mean_rate:.4g}): keeps {doses}.")
    if len(res.steps) > 1:
        lines.append("  Flex steps: " + ", ".join(f"from {clock_text(s.start)} {s.rate:.4g} mL/day" for s in res.steps) + ".")
    alarm = t.device.low_alarm
    where = f"low alarm {float(alarm.value):g} mL" if alarm is not None else "no low-alarm volume: judged against empty"
    if res.p_low_alarm is None:
        acc = float(t.device.accuracy.value) * 100
        lines.append(f"  Fill: {res.fill_volume:g} mL; {res.residual_worst:.3g} mL left at the next refill in the worst case "
                     f"(pump {acc:g} % fast, every bolus allowed; {where}); {res.residual_nominal:.3g} mL nominal.")
    else:
        lo, hi = res.p_ci95 or (0.0, 1.0)
        event = "the low alarm comes" if alarm is not None else "the pump runs empty"
        lines.append(f"  Fill: {res.fill_volume:g} mL; {event} before the next refill in {res.p_low_alarm:.3g} of "
                     f"{res.runs:,} Monte-Carlo runs (95 % CI {lo:.3g}-{hi:.3g}; allowed {res.p_max:g}; seed {res.seed}); "
                     f"{res.residual_worst:.3g} mL left in the worst case, {res.residual_nominal:.3g} mL nominal ({where}).")
    caps = sorted(res.upper_caps, key=lambda c: c.k)
    if caps and caps[0].rule != "KEEP":
        lines.append("  Concentration bounds: " + "; ".join(
            f"{c.rule} {c.text} (x{c.k:.4g}){'' if c.verified else ' [UNVERIFIED]'}" for c in caps[:4]) + ".")
    for n in res.notes:
        lines.append(f"  Note: {n}.")
    if calendar:
        lines.append("")
        lines.append(f"Next {calendar} refill(s) (each fills {res.fill_volume:g} mL of the same mix)")
        for row in res.calendar(calendar):
            lines.append(f"  {row['refill_at']}  fill {row['fill_volume']:g} mL, left before: worst {row['left_before_worst']:.3g} mL, "
                         f"nominal {row['left_before_nominal']:.3g} mL")
    lines.append("")
    lines.append(f"pumpsim {__version__}: decision support for professionals, not a medical device.")
    return "\n".join(lines) + "\n"


def _binding_words(res: PlanResult) -> str:
    t = res.table
    if res.binding == "REFILL-STABILITY" and res.stability is not None:
        s, d = res.stability
        return f"{d} stability ({float(s.value) / DAY:g} days{'' if s.verified else ', UNVERIFIED'}; {s.source})"
    if res.binding == "RATE-RANGE":
        r = t.device.rate_min
        return f"the device minimum rate ({float(r.value):g} mL/day; {r.source})" if r else "the device rate range"
    if res.binding == "HORIZON":
        return f"the {MAX_INTERVAL_DAYS}-day cap of the planner"
    what = "the low-alarm volume" if t.device.low_alarm is not None else "an empty reservoir (no low-alarm volume)"
    case = "in the worst case" if res.p_low_alarm is None else f"in more than {res.p_max:g} of the runs"
    tight = min(res.upper_caps, key=lambda c: c.k) if res.upper_caps else None
    if tight is None or tight.rule == "KEEP":
        return f"the volume: a {res.interval_days + 1}-day interval would reach {what} {case} at this concentration"
    return (f"the volume: even at the most concentrated mix allowed ({tight.rule}: {tight.text}) {what} would be reached "
            f"{case} within {res.interval_days + 1} days; the lowest concentration that lasts {res.interval_days} days is chosen")
