"""The one place the fleet reads `pumpsim reconcile` (:mod:`pumpsim.telemetry.reconcile`).

Every pump of a fleet is judged by the same code as ``pumpsim reconcile TABLE RECORDS.csv``: this
module calls its public functions (:func:`~pumpsim.telemetry.reconcile.reconcile`, its
``match`` for the checks that make reconcile exit 2, ``thresholds`` for the per-refill spread)
and reads its public result (``verdict``, ``violations`` with their ``rule``, ``severity`` and
``at``, ``intervals`` with ``ratio``, ``empty`` and their end refill's time). Nothing else of the
fleet touches reconcile, so a change of its tiers or thresholds reaches the fleet unchanged.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pumpsim.io.records import Record
from pumpsim.model.table import Sourced, Table
from pumpsim.rules.kit import verdict_of
from pumpsim.telemetry import evidence, reconcile


@dataclass(frozen=True)
class PumpOutcome:
    """What the fleet keeps of one pump's reconciliation."""

    pump_id: str
    verdict: str  # pass | not_checked | warn | fail (reconcile's, on the findings kept)
    rules: tuple[str, ...]  # every rule with a finding, sorted
    hard: tuple[str, ...]  # the rules with a hard finding, sorted
    last_refill: str | None  # ISO date-time of the last recorded refill
    refills: tuple[tuple[dt.datetime, float, float], ...]  # (end of interval, ln ratio, interval length [days])
    findings: tuple[tuple[str, str, str], ...]  # (rule, severity, at) of every finding kept


def check(table: Table, records: list[Record], name: str) -> None:
    """The checks that make `pumpsim reconcile` exit 2 (refill rows matching the table's refills,
    no row before its first refill): :class:`~pumpsim.model.errors.InputError` if any fails."""
    evidence.match(table, records, name)


def per_refill_sd() -> Sourced:
    """The published per-refill spread of ln(ratio) that reconcile's drift test uses."""
    return reconcile.thresholds().sd


def judge(pump_id: str, table: Table, records: list[Record], name: str, since: dt.datetime | None = None) -> PumpOutcome:
    """Reconcile one pump and keep its verdict, findings and per-refill log ratios (from ``since``)."""
    rec = reconcile.reconcile(table, records, name)
    kept = [v for v in rec.violations if since is None or (v.at is not None and dt.datetime.fromisoformat(v.at) >= since)]
    if since is None:
        verdict = rec.verdict
    else:  # the same ranking on the findings kept
        verdict = verdict_of(kept, nothing_checked=rec.verdict == "not_checked")
    series = []
    for iv in rec.intervals:
        r = iv.ratio
        if r is None or r <= 0 or iv.empty or (since is not None and iv.end.at < since):
            continue  # TEL-EMPTY intervals give only a bound: left out of the group test
        series.append((iv.end.at, math.log(r), (iv.end.at - iv.start.at) / dt.timedelta(days=1)))
    refills = [r.time for r in records if r.event == "refill"]
    return PumpOutcome(pump_id, verdict, tuple(sorted({v.rule for v in kept})),
                       tuple(sorted({v.rule for v in kept if v.severity == "hard"})),
                       refills[-1].isoformat(timespec="seconds") if refills else None, tuple(series),
                       tuple((v.rule, v.severity, v.at or "") for v in kept))
