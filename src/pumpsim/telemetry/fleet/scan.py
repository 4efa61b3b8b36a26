"""`pumpsim fleet scan DB`: every pump reconciled, then each group's pooled sequential test.

Each pump is judged by `pumpsim reconcile`'s own code (:mod:`.adapter`) on its most recently
ingested table and all its stored rows; its per-refill log ratios then feed the test of its
group (:mod:`.grouptest`): every model with ``--by model``, every (model, lot) with ``--by lot``
(the default; a pump with an empty lot joins no lot group). ``--since DATE`` keeps the refill
intervals that end on or after DATE and the findings dated so (histories are reconciled whole:
an interval needs the fill that starts it).

With ``--dask ADDRESS`` the pumps are reconciled in chunks on a Dask cluster (``local``: two
worker processes on this machine) through :func:`pumpsim.sim.cluster.map_chunks`; without it, in
``--workers`` processes here (default 2). The groups are tested here, on the outcomes in pump
order, so the JSON is the same with or without Dask and whatever the number of workers.
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import math
import multiprocessing
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pumpsim.io.fleetdb import FleetStore
from pumpsim.io.tables import parse_table_bytes
from pumpsim.rules.kit import worst
from pumpsim.telemetry.fleet import adapter
from pumpsim.telemetry.fleet.grouptest import GroupResult, Parameters, judge_group, parameters
from pumpsim.telemetry.fleet.ingest import row_record

FLEET_SCHEMA = "pumpsim.fleet/1"
BY = ("lot", "model")


def sig6(x: float | None) -> float | None:
    """A JSON number to 6 significant digits (FORMAT.md: Dask and local scans print the same JSON)."""
    if x is None:
        return None
    x = float(x)
    return x if x == 0 or not math.isfinite(x) else float(f"{x:.6g}")


@dataclass
class PumpInfo:
    pump_id: str
    model: str
    lot: str


@dataclass
class FleetReport:
    db: str
    by: str
    since: dt.datetime | None
    params: Parameters
    groups: list[GroupResult]
    pumps: list[tuple[PumpInfo, adapter.PumpOutcome]]

    @property
    def signalling(self) -> list[GroupResult]:
        return [g for g in self.groups if g.signal]

    @property
    def verdict(self) -> str:
        v = worst(*(o.verdict for _, o in self.pumps)) if self.pumps else "not_checked"
        return worst(v, "fail") if self.signalling else v

    @property
    def exit_status(self) -> int:
        return 1 if self.signalling or any(o.hard for _, o in self.pumps) else 0

    def as_json(self) -> dict:
        return {
            "schema": FLEET_SCHEMA, "verdict": self.verdict, "by": self.by,
            "since": self.since.date().isoformat() if self.since else None,
            "method": {"test": "two-sided CUSUM on pooled standardized innovations of ln(ratio), each pump its own mean "
                               "(docs/FLEET.md)", "sigma": sig6(self.params.sigma.value), "tau": sig6(self.params.tau.value),
                       "k": sig6(self.params.k.value), "h": sig6(self.params.h.value)},
            "groups": [{"by": g.by, "value": g.value, "model": g.model, "pumps": g.pumps, "refills": g.refills,
                        "mean_ratio": sig6(g.mean_ratio), "ci95": None if g.ci95 is None else [sig6(g.ci95[0]), sig6(g.ci95[1])],
                        "signal": g.signal, "signal_at": g.signal_at.date().isoformat() if g.signal_at else None,
                        "onset": g.onset.date().isoformat() if g.onset else None, "direction": g.direction,
                        "statistic": sig6(g.statistic), "threshold": sig6(g.threshold), "cycle_days": sig6(g.cycle_days)}
                       for g in self.groups],
            "pumps": [{"pump_id": p.pump_id, "model": p.model, "lot": p.lot, "verdict": o.verdict, "rules": list(o.rules),
                       "hard": list(o.hard), "last_refill": o.last_refill} for p, o in self.pumps],
        }

    def text(self) -> str:
        sig = self.signalling
        hard = [(p, o) for p, o in self.pumps if o.hard]
        head = {True: "FAIL", False: {"fail": "FAIL", "warn": "WARN", "pass": "PASS", "not_checked": "NOT CHECKED"}[self.verdict]}
        out = [f"{head[bool(sig)]}: {len(sig)} group(s) signal, {len(hard)} pump(s) with hard findings, "
               f"{len(self.pumps)} pump(s) in {len(self.groups)} {self.by} group(s) ({self.db}"
               f"{', data from ' + self.since.date().isoformat() if self.since else ''})."]
        if sig:
            out.append("\nGroups that signal (a delivery bias shared by the group's pumps):")
            for g in sorted(sig, key=lambda g: g.signal_at):
                what = f"lot {g.value} ({g.model})" if g.by == "lot" else f"model {g.value}"
                ci = f" (95 % CI {g.ci95[0]:.3f}-{g.ci95[1]:.3f})" if g.ci95 else ""
                out.append(f"  {what}: {g.pumps} pumps, {g.refills} refills; mean ratio {g.mean_ratio:.3f}{ci}; "
                           f"{'OVER' if g.direction == 'over' else 'UNDER'}-infusion signalled on {g.signal_at.date()}, "
                           f"since about {g.onset.date()} (CUSUM {g.statistic:.1f} > {g.threshold:g} sd); check the "
                           f"{'lot' if g.by == 'lot' else 'model'} with the manufacturer and every patient of these pumps "
                           f"for {'overdose' if g.direction == 'over' else 'withdrawal'}")
        if hard:
            out.append("\nPumps with hard findings:")
            for p, o in hard:
                out.append(f"  {p.pump_id} ({p.model}{', lot ' + p.lot if p.lot else ''}): {', '.join(o.hard)}"
                           f"{'; also ' + ', '.join(r for r in o.rules if r not in o.hard) if set(o.rules) - set(o.hard) else ''}"
                           f"; last refill {o.last_refill or 'none recorded'}")
        warn = [(p, o) for p, o in self.pumps if o.verdict == "warn"]
        if warn:
            out.append(f"\nPumps with warnings only: {len(warn)} (`pumpsim reconcile` on each, or --format json, lists them).")
        quiet = [g for g in self.groups if not g.signal]
        if quiet:
            out.append("\nGroups without a signal:")
            for g in quiet:
                what = f"lot {g.value} ({g.model})" if g.by == "lot" else f"model {g.value}"
                mr = f"mean ratio {g.mean_ratio:.3f}" if g.mean_ratio is not None else "no judged refill"
                out.append(f"  {what}: {g.pumps} pumps, {g.refills} refills; {mr}; CUSUM max {g.statistic:.1f} sd "
                           f"(threshold {g.threshold:g})")
        p = self.params
        out.append(f"\nMethod: two-sided CUSUM (Page 1954) on the group's standardized refill innovations in date order, "
                   f"each pump its own mean; sigma {p.sigma.text} ({p.sigma.source}); between-pump sd {p.tau.text}"
                   f"{'' if p.tau.verified else ' [UNVERIFIED]'}; k {p.k.text}, h {p.h.text} (docs/FLEET.md).")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- the per-pump work
def _judge_chunk(plan, first: int, n: int) -> tuple[int, list[adapter.PumpOutcome]]:
    """Reconcile pumps [first, first + n) of the plan (a Dask task, or a plain call)."""
    tables, items, since = plan
    parsed: dict[str, object] = {}
    out = []
    for pump_id, sha, rows in items[first:first + n]:
        if sha not in parsed:
            parsed[sha] = parse_table_bytes(tables[sha].encode("utf-8"), f"table {sha[:12]}")[0]
        out.append(adapter.judge(pump_id, parsed[sha], [row_record(r) for r in rows], f"pump {pump_id}", since))
    return first, out


def scan(db: str | Path, by: str = "lot", since: dt.datetime | None = None, dask: str | None = None,
         chunk: int = 250, workers: int | None = None) -> FleetReport:
    """Reconcile every pump (on ``dask``, else in ``workers`` processes here, default 2) and test the groups."""
    if by not in BY:
        raise ValueError(by)
    with FleetStore.open_existing(db) as store:
        pumps = store.pumps()
        tables = store.table_texts({p.sha256 for p in pumps.values()})
        rows = store.records()
    for sha, text in tables.items():  # every table once, here: a library change surfaces as exit 2
        parse_table_bytes(text.encode("utf-8"), f"{db}: table {sha[:12]}")
    ids = sorted(pumps)
    items = [(p, pumps[p].sha256, rows.get(p, [])) for p in ids]
    plan = (tables, items, since)
    chunk = max(1, min(chunk, math.ceil(len(items) / 8)))  # a small fleet still spreads over the workers
    chunks = [(i, min(chunk, len(items) - i)) for i in range(0, len(items), chunk)]
    results: dict[int, list[adapter.PumpOutcome]] = {}
    if dask:
        from pumpsim.sim.cluster import map_chunks

        for first, out in map_chunks(dask, _judge_chunk, plan, chunks):
            results[first] = out
    else:
        workers = workers or min(2, os.cpu_count() or 1)
        if workers > 1 and len(chunks) > 1:
            # each process gets its chunk's pumps only (and the tables), not the whole fleet
            jobs = [((tables, items[first:first + n], since), 0, n) for first, n in chunks]
            # spawned, not forked: the parent has had DuckDB's threads, which a fork must not copy
            with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
                for (first, _), (_, out) in zip(chunks, ex.map(_judge_chunk, *zip(*jobs))):
                    results[first] = out
        else:
            for first, n in chunks:
                results[first] = _judge_chunk(plan, first, n)[1]
    outcomes = [o for first in sorted(results) for o in results[first]]
    params = parameters(adapter.per_refill_sd())
    info = {p: PumpInfo(p, pumps[p].model, pumps[p].lot) for p in ids}
    groups: dict[tuple[str, str], list] = {}
    for o in outcomes:
        pi = info[o.pump_id]
        if by == "lot":
            if not pi.lot:
                continue
            key = (pi.model, pi.lot)
        else:
            key = (pi.model, pi.model)
        groups.setdefault(key, []).extend((at, o.pump_id, x, days) for at, x, days in o.refills)
    for o in outcomes:  # a group whose pumps have no judged refill is still listed
        pi = info[o.pump_id]
        if by == "model" or pi.lot:
            groups.setdefault((pi.model, pi.lot if by == "lot" else pi.model), [])
    results_g = [judge_group(by, value, model, rs, params) for (model, value), rs in sorted(groups.items(), key=_natural)]
    for g, ((model, value), _) in zip(results_g, sorted(groups.items(), key=_natural)):
        if g.pumps == 0:  # no judged refill: count the group's pumps all the same
            g.pumps = sum(1 for o in outcomes if info[o.pump_id].model == model
                          and (by == "model" or info[o.pump_id].lot == value))
    return FleetReport(str(db), by, since, params, results_g, [(info[o.pump_id], o) for o in outcomes])


def _natural(item) -> tuple:
    """Groups by name, L2 before L10, then model."""
    (model, value), _ = item
    return ([(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", value)], model)
