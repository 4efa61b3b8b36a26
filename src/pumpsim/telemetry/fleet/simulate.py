"""`pumpsim fleet simulate OUTDIR`: a synthetic fleet with known truths, for `fleet scan`.

Pumps ``P00001``, ``P00002``, ... in lots of K consecutive pumps (``L1``, ``L2``, ...); each lot
has one model drawn among the implanted programmable pumps of the device library; each pump a
program drawn among the templates of ``data/fleet.toml`` (the first session of a shipped
scenario), refilled every P days over the years asked from 2027-01-04 (P: the whole days the
lot's reservoir lasts a pump running fast by the clip and refilled 2 days late, leaving the planned residual, at most ``max_period_days``). The tables
carry the published per-refill spread (``pump_accuracy`` per refill, the telemetry drift sd),
patient boluses where the program allows them and refills up to 2 days late. Each pump also
has its own mean of ln(ratio), drawn with the between-pump sd of ``data/fleet.toml``.

Records come from :func:`pumpsim.telemetry.synthetic.records` (the code of ``pumpsim telemetry
--records``), one seeded run per pump. ``--fault "lot=L7:over:1.05@2027-06-01"`` applies the
``telemetry --fault`` SPEC (split at the first colon after GROUP=NAME) to every pump of lot L7
(``model=NAME`` for a model). Written: ``manifest.csv``, ``tables/*.toml`` (one per program and
model: pumps share them), ``records/P00001.csv``, ... and ``fleet.json`` (the truths).
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import json
import math
import os
from pathlib import Path

import numpy as np

from pumpsim.io.library import device_library
from pumpsim.io.records import write_records
from pumpsim.io.tables import parse_table_bytes
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem
from pumpsim.model.table import Distribution, Table
from pumpsim.telemetry.fleet import adapter
from pumpsim.telemetry.fleet.grouptest import fleet_data
from pumpsim.telemetry.synthetic import parse_faults, records

SIM_SCHEMA = "pumpsim.fleet-simulation/1"


def implanted_models() -> list[str]:
    """The implanted programmable pumps of the device library, by name."""
    return sorted(name for name, d in device_library().items()
                  if d.get("kind") == "programmable" and "intrathecal" in d.get("routes", []))


def _inline(d: dict) -> str:
    return "{ " + ", ".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in d.items()) + " }"


def _mean_rate(tpl: dict) -> float:
    """The template's mean programmed rate [mL/day] (flex steps weighted by their hours)."""
    if "rate" in tpl:
        return units.parse_quantity(tpl["rate"], units.FLOW)
    steps = tpl["steps"]
    starts = [int(s["from"][:2]) * 60 + int(s["from"][3:]) for s in steps] + [24 * 60]
    return sum(units.parse_quantity(s["rate"], units.FLOW) * (starts[i + 1] - starts[i]) for i, s in enumerate(steps)) / (24 * 60)


def table_text(tpl: dict, model: str, years: float) -> str:
    """A table of the template's program on ``model``, refilled every P days over ``years``."""
    sim = fleet_data()["simulate"]
    dev = device_library()[model]
    reservoir = units.parse_quantity(dev["reservoir"]["value"], units.VOLUME)
    residual = units.parse_quantity(sim["residual"]["value"], units.VOLUME)
    rate = _mean_rate(tpl)
    # the longest period a pump running fast by the clip and refilled late by the most still
    # ends with the residual: fault-free histories then never run dry (TEL-EMPTY is a truth)
    fast = rate * (1.0 + units.parse_quantity(sim["clip"], units.FRACTION))
    late = units.parse_quantity(sim["refill_delay_max"], units.TIME)
    period = max(1, min(int(sim["max_period_days"]), math.floor((reservoir - residual) / fast - late)))
    fill = min(reservoir, math.ceil((fast * (period + late) + residual) * 10) / 10)
    start: dt.datetime = sim["start"]
    days = round(365 * years)
    sd = float(adapter.per_refill_sd().value)
    mix = _inline(tpl["mix"])
    lines = [f'# pumpsim fleet simulate: the program of the shipped scenario "{tpl["scenario"]}" on a {model},',
             f"# refilled every {period} days ({rate:.3f} mL/day on average) from {start.isoformat()} for {days} days.",
             'schema = "pumpsim.table/1"', f'horizon = "{days} day"', "", "[pump]", f'model = "{model}"']
    i = 0
    while i * period < days:
        at = start + dt.timedelta(days=i * period)
        lines += ["", "[[session]]", f"at = {at.isoformat()}", f'refill = {{ volume = "{fill:g} mL", mix = {mix} }}']
        if i == 0:
            if "rate" in tpl:
                lines.append(f'rate = "{tpl["rate"]}"')
            else:
                lines.append("steps = [ " + ", ".join(_inline(s) for s in tpl["steps"]) + " ]")
            b = tpl["bolus"]
            lines.append(f'bolus = "{b}"' if isinstance(b, str) else f"bolus = {_inline(b)}")
        i += 1
    lines += ["", "[variability]",
              f'pump_accuracy = {{ dist = "normal", sd = "{sd * 100:g} %", clip = "{sim["clip"]}", per = "refill" }}',
              f'refill_delay = {{ dist = "uniform", low = "0 day", high = "{sim["refill_delay_max"]}" }}']
    if not isinstance(tpl["bolus"], str):
        lines.append(f'bolus_requests = {{ dist = "poisson", per_day = {float(sim["bolus_requests_per_day"])} }}')
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class GroupFault:
    group: str  # "lot" | "model"
    name: str
    spec: str  # the telemetry --fault SPEC
    text: str
    index: int  # 1-based position on the command line


def parse_group_faults(specs: list[str], lots: set[str], models: set[str]) -> tuple[list[GroupFault], list[Problem]]:
    """The group faults and the problems of their GROUP=NAME part (the SPEC is checked on the tables)."""
    problems, out = [], []
    for n, text in enumerate(specs, 1):
        where = f"--fault[{n}]"
        head, sep, spec = text.partition(":")
        group, eq, name = head.partition("=")
        group, name = group.strip(), name.strip()
        if not sep or not eq or group not in ("lot", "model") or not name:
            problems.append(Problem("command line", where, f"{text!r}: not a group fault",
                                    'write GROUP=NAME:SPEC, e.g. "lot=L7:over:1.05@2027-06-01" or "model=synchromed-ii-20:under:0.9@2027-06-01"'))
            continue
        known = lots if group == "lot" else models
        if name not in known:
            problems.append(Problem("command line", where, f"{text!r}: no {group} {name!r} in this fleet",
                                    f"the {group}s are {', '.join(sorted(known, key=lambda s: (len(s), s))[:8])}"
                                    f"{', ...' if len(known) > 8 else ''}"))
            continue
        out.append(GroupFault(group, name, spec.strip(), text, n))
    return out, problems


def _work(job: tuple) -> int:
    """Write the records of a chunk of pumps (a worker process, or a plain call)."""
    outdir, texts, pumps = job
    tables: dict[str, Table] = {}
    for pump_id, tname, mean, specs, seed in pumps:
        if tname not in tables:
            tables[tname] = parse_table_bytes(texts[tname].encode("utf-8"), f"tables/{tname}")[0]
        t = tables[tname]
        v = t.variability
        acc = Distribution(v.pump_accuracy.dist, {**dict(v.pump_accuracy.params), "mean": math.expm1(mean)})
        own = dataclasses.replace(t, variability=dataclasses.replace(v, pump_accuracy=acc))
        rows = records(own, parse_faults(list(specs), t), seed)
        (Path(outdir) / "records" / f"{pump_id}.csv").write_text(write_records(rows), encoding="utf-8")
    return len(pumps)


def simulate_fleet(outdir: str | Path, pumps: int, years: float, seed: int = 0, lot_size: int | None = None,
                   faults: list[str] | None = None, workers: int | None = None) -> dict:
    """Write the fleet; return its truths (also written as ``fleet.json``)."""
    sim = fleet_data()["simulate"]
    lot_size = lot_size or int(sim["lot_size"])
    models = implanted_models()
    templates = sim["template"]
    rng = np.random.default_rng(seed)
    nlots = math.ceil(pumps / lot_size)
    lot_model = {f"L{j + 1}": str(models[int(rng.integers(len(models)))]) for j in range(nlots)}
    gfaults, problems = parse_group_faults(list(faults or []), set(lot_model), set(models))
    tau = float(fleet_data()["between_pump_sd"]["value"])
    texts: dict[str, str] = {}
    plan = []
    manifest = ["pump_id,model,lot,table,records"]
    for i in range(pumps):
        pump_id, lot = f"P{i + 1:05d}", f"L{i // lot_size + 1}"
        model = lot_model[lot]
        tpl = templates[int(rng.integers(len(templates)))]
        tname = f"{tpl['scenario']}--{model}.toml"
        if tname not in texts:
            texts[tname] = table_text(tpl, model, years)
        mean = float(rng.normal(0.0, tau))
        specs = tuple(f.spec for f in gfaults if (f.group == "lot" and f.name == lot) or (f.group == "model" and f.name == model))
        pseed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        plan.append((pump_id, tname, mean, specs, pseed))
        manifest.append(f"{pump_id},{model},{lot},tables/{tname},records/{pump_id}.csv")
    # every SPEC checked on every table it applies to before anything is written
    for f in gfaults:
        for tname in sorted({p[1] for p in plan if f.spec in p[3]}):
            try:
                parse_faults([f.spec], parse_table_bytes(texts[tname].encode("utf-8"), f"tables/{tname}")[0])
            except InputError as e:
                problems += [dataclasses.replace(p, field=f"--fault[{f.index}]") for p in e.problems]
    if problems:
        raise InputError(problems)
    out = Path(outdir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "records").mkdir(exist_ok=True)
    for tname, text in texts.items():
        (out / "tables" / tname).write_text(text, encoding="utf-8")
    workers = workers or min(2, os.cpu_count() or 1)
    size = max(1, math.ceil(len(plan) / (workers * 8)))
    jobs = [(str(out), texts, plan[a:a + size]) for a in range(0, len(plan), size)]
    if workers > 1 and len(jobs) > 1:
        with cf.ProcessPoolExecutor(workers) as ex:
            list(ex.map(_work, jobs))
    else:
        for j in jobs:
            _work(j)
    (out / "manifest.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    truth = {"schema": SIM_SCHEMA, "pumps": pumps, "years": years, "seed": seed, "lot_size": lot_size,
             "start": sim["start"].isoformat(), "lots": lot_model,
             "faults": [{"group": f.group, "name": f.name, "spec": f.spec} for f in gfaults],
             "pump_means": {p[0]: round(p[2], 6) for p in plan}}
    (out / "fleet.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return truth
