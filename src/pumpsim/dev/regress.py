"""Safety regression: run every table of a folder and compare the reports with stored goldens.

``pumpsim regress DIR --golden GOLDEN`` validates every ``*.toml`` under DIR (and, for a table
with ``[variability]``, simulates it with its seed and at most ``REGRESS_RUNS`` runs), and
compares each JSON report with ``GOLDEN/<path under DIR>.json``. It prints what moved, in words a
reviewer reads (a rule added or gone, a verdict changed, a number moved beyond tolerance) and
exits 1 on any change, 0 when everything matches. ``--update`` rewrites the goldens (each one
atomically) after a reviewed change and exits 0.

Compared: verdict, violations (rule, severity, session-instant, drug, value, limit, unit,
verified), drug doses, reservoir instants, the risk numbers, the checks not made. Not compared:
prose (messages, source texts), the pumpsim version.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pumpsim.io.output import write_atomic
from pumpsim.model.errors import InputError
from pumpsim.model.tolerances import distinct

REGRESS_RUNS = 2000  # Monte-Carlo runs per table with variability (seeded: exact)
RTOL = 1e-6  # a number moves when it changes by more than this, relative
ATOL = 1e-9
IGNORED = {"pumpsim_version", "sources", "table", "device"}


@dataclass
class Outcome:
    table: str
    changes: list[str]
    new: bool = False
    error: str | None = None


def report_for(path: Path) -> dict:
    """The JSON report regress stores for one file, by the file's top-level ``schema`` (:data:`REPORTS`);
    a file whose schema is unknown or unreadable goes to the table reader, which says what is wrong."""
    import tomllib

    try:
        schema = tomllib.loads(path.read_text(encoding="utf-8")).get("schema")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        schema = None
    return REPORTS.get(schema, table_report)(path)


def patient_report(path: Path) -> dict:
    """The JSON report of ``pumpsim pathway`` on one patient file, without its paths and version."""
    from pumpsim.io.patient import read_patient
    from pumpsim.pathway.report import check

    out = check(*read_patient(path)).as_json()
    for k in ("patient", "pumpsim_version"):
        out.pop(k, None)
    for v in out["violations"]:
        v.pop("message", None)
        v.pop("source", None)
    return out


def program_report(path: Path) -> dict:
    """The JSON report of ``pumpsim program`` (no prose: messages, sources and the course text)."""
    from pumpsim.io.programs import read_program
    from pumpsim.programs.report import judge

    out = judge(read_program(path)).as_json()
    for k in ("pumpsim_version", "sources", "program", "course", "template"):
        out.pop(k, None)
    for v in out["violations"]:
        v.pop("message", None)
        v.pop("source", None)
    for n in out["notes"]:
        n.pop("message", None)
    return out


def table_report(path: Path) -> dict:
    """The JSON report regress stores for one table (validate, plus simulate if it has variability)."""
    from pumpsim.io.tables import read_table
    from pumpsim.rules.validate import validate
    from pumpsim.sim import montecarlo

    table, profile = read_table(path)
    rep = validate(table, profile)
    if table.variability is not None:
        runs = min(table.variability.runs or montecarlo.DEFAULT_RUNS, REGRESS_RUNS)
        worst = {d: v["max_24h_dose"] for d, v in rep.drugs.items()}
        rep.risk = montecarlo.run(table, profile, runs=runs, worst_max=worst).risk_json(table)
    out = rep.as_json()
    for k in IGNORED:
        out.pop(k, None)
    out.pop("not_checked", None)  # the same list as "skipped", which is compared (the goldens keep that name)
    for v in out["violations"]:
        v.pop("message", None)
        v.pop("source", None)
    return out


#: top-level ``schema`` of a file -> the function that makes the report regress stores for it
REPORTS = {"pumpsim.table/1": table_report, "pumpsim.patient/1": patient_report,
           "pumpsim.program/1": program_report}


def _key(v: dict) -> str:
    where = f" at {v['at']}" if v.get("at") else ""
    drug = f" {v['drug']}" if v.get("drug") else ""
    return f"{v['rule']} ({v['severity']}){drug}{where}"


def _num_changed(a, b) -> bool:
    if a is None or b is None:
        return a is not b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return not (math.isnan(a) and math.isnan(b))
        return abs(a - b) > RTOL * max(abs(a), abs(b)) + ATOL
    return a != b


def _moved(a, b) -> str:
    """``a -> b`` as a diff line shows it: numbers to the fewest significant digits (6 at least)
    that tell them apart (2.29, not 2.2900000000000063)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        x, y = distinct(a, b, least=6)
        return f"{x} -> {y}"
    return f"{json.dumps(a, ensure_ascii=False)} -> {json.dumps(b, ensure_ascii=False)}"


def _walk(path: str, old, new, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            if k not in new:
                out.append(f"{path}.{k}: gone (was {json.dumps(old[k])[:80]})")
            elif k not in old:
                out.append(f"{path}.{k}: new ({json.dumps(new[k])[:80]})")
            else:
                _walk(f"{path}.{k}", old[k], new[k], out)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append(f"{path}: {len(old)} entries, now {len(new)}")
        for i, (x, y) in enumerate(zip(old, new)):
            _walk(f"{path}[{i}]", x, y, out)
    elif _num_changed(old, new):
        out.append(f"{path}: {_moved(old, new)}")


def differences(old: dict, new: dict) -> list[str]:
    """What moved between two reports, violations first, by rule."""
    out: list[str] = []
    if old.get("verdict") != new.get("verdict"):
        out.append(f"verdict {old.get('verdict')} -> {new.get('verdict')}")
    ov = {_key(v): v for v in old.get("violations", [])}
    nv = {_key(v): v for v in new.get("violations", [])}
    for k in sorted(set(nv) - set(ov)):
        v = nv[k]
        out.append(f"rule added: {k}: value {v.get('value')} {v.get('unit') or ''}, limit {v.get('limit')}")
    for k in sorted(set(ov) - set(nv)):
        out.append(f"rule gone: {k}")
    for k in sorted(set(ov) & set(nv)):
        for field in sorted(set(ov[k]) | set(nv[k])):
            a, b = ov[k].get(field), nv[k].get(field)
            if _num_changed(a, b):
                out.append(f"{k}: {field} {_moved(a, b)}")
    rest_old = {k: v for k, v in old.items() if k not in ("verdict", "violations")}
    rest_new = {k: v for k, v in new.items() if k not in ("verdict", "violations")}
    _walk("report", rest_old, rest_new, out)
    return out


def golden_path(golden: Path, root: Path, table: Path) -> Path:
    return golden / table.relative_to(root).with_suffix(".json")


def tables_under(root: Path, golden: Path) -> list[Path]:
    gold = golden.resolve()
    return sorted(p for p in root.rglob("*.toml") if gold not in p.resolve().parents)


def run(root: Path, golden: Path, update: bool = False) -> list[Outcome]:
    outcomes = []
    for path in tables_under(root, golden):
        name = str(path.relative_to(root))
        try:
            new = report_for(path)
        except InputError as e:
            outcomes.append(Outcome(name, [], error=f"invalid input: {e}"))
            continue
        gp = golden_path(golden, root, path)
        if gp.exists():
            old = json.loads(gp.read_text(encoding="utf-8"))
            oc = Outcome(name, differences(old, new))
        else:
            oc = Outcome(name, [], new=True)
        if update and (oc.new or oc.changes):
            gp.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(gp, json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        outcomes.append(oc)
    return outcomes


def render(outcomes: list[Outcome], update: bool) -> tuple[str, int]:
    """The text for people and the exit status."""
    lines = []
    changed = [o for o in outcomes if o.changes or o.new or o.error]
    for o in outcomes:
        if o.error:
            lines.append(f"ERROR {o.table}: {o.error}")
        elif o.new:
            lines.append(f"{'WROTE' if update else 'NEW  '} {o.table}: no golden yet" + ("" if update else " (run with --update)"))
        elif o.changes:
            lines.append(f"{'UPDATED' if update else 'CHANGED'} {o.table}:")
            lines.extend(f"    {c}" for c in o.changes)
        else:
            lines.append(f"ok    {o.table}")
    n = len(outcomes)
    if update:
        lines.append(f"{n} table(s); {len(changed)} golden(s) written.")
        status = 1 if any(o.error for o in outcomes) else 0
    else:
        lines.append(f"{n} table(s); {len(changed)} changed." if changed else f"{n} table(s); all match their goldens.")
        status = 1 if changed else 0
    return "\n".join(lines) + "\n", status
