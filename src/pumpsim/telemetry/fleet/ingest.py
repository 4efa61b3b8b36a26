"""`pumpsim fleet ingest DB MANIFEST.csv`: every pump's table and records into the fleet store.

All or nothing: every problem of every manifest row and every file is collected first (file,
row, field, fix) and raised at once; the database is opened for writing only when there is
none, and every write is one transaction. Re-ingesting the same files changes nothing (tables
are kept by content, rows by (pump, time, event, note)); rows not yet stored are appended.

Checks (those that make `pumpsim validate` or `pumpsim reconcile` exit 2, and the manifest's):
- the manifest: UTF-8 CSV with the columns pump_id, model, lot, table, records; a pump once;
  ``model`` a device of the library, equal to the model the table names;
- each table and each records file as ``validate`` and ``reconcile`` read them, and the records
  matched to their table as ``reconcile`` does (:func:`.adapter.check`), with the rows already
  stored for that pump;
- a pump already stored keeps its model and lot; a stored row's key (pump, time, event, note)
  with other values (volume, estimate, boluses) is an input error.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from pumpsim.io.fleetdb import FleetStore, Row
from pumpsim.io.library import device_library
from pumpsim.io.records import Record, parse_records
from pumpsim.io.tables import parse_table_bytes
from pumpsim.model.errors import InputError, Problem, nearest
from pumpsim.telemetry.fleet import adapter

MANIFEST_COLUMNS = ("pump_id", "model", "lot", "table", "records")


@dataclass(frozen=True)
class IngestSummary:
    pumps: int  # manifest rows
    new_pumps: int
    new_tables: int  # table contents not stored before
    new_assignments: int  # pumps given a table other than their latest
    new_rows: int
    kept_rows: int  # rows already stored (identical)

    def text(self, db: str) -> str:
        return (f"pumpsim: {db}: {self.pumps} pump(s) read; {self.new_pumps} new pump(s), {self.new_tables} new table(s), "
                f"{self.new_assignments} table assignment(s), {self.new_rows} new record row(s) "
                f"({self.kept_rows} already stored)")


def record_row(pump: str, r: Record) -> Row:
    return (pump, r.time, r.event, r.note, r.volume, r.estimate, r.boluses, r.line)


def row_record(row: Row) -> Record:
    _, t, ev, note, vol, est, bol, line = row
    return Record(int(line), t, ev, None if vol is None else float(vol), None if est is None else float(est),
                  None if bol is None else int(bol), note)


def read_manifest(path: Path) -> tuple[list[dict[str, str]], list[Problem]]:
    """The manifest's rows (with their line) and the problems of its form."""
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return [], [Problem(name, "", "manifest not found", "check the path")]
    except (OSError, UnicodeDecodeError) as e:
        return [], [Problem(name, "", f"cannot read the manifest: {e}", "give a UTF-8 CSV file")]
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        return [], [Problem(name, "header (line 1)", f"missing column(s) {', '.join(missing)}",
                            f"the header is {','.join(MANIFEST_COLUMNS)}")]
    col = {h: i for i, h in enumerate(header)}
    rows = []
    for k, row in enumerate(reader):
        if not any(c.strip() for c in row):
            continue
        cells = {c: (row[col[c]].strip() if col[c] < len(row) else "") for c in MANIFEST_COLUMNS}
        cells["_line"] = str(k + 2)
        rows.append(cells)
    if not rows:
        return [], [Problem(name, "", "the manifest lists no pump", "add one row per pump: " + ",".join(MANIFEST_COLUMNS))]
    return rows, []


def ingest(db: str | Path, manifest: str | Path, now: dt.datetime | None = None) -> IngestSummary:
    """Validate everything, then write what is new in one transaction; :class:`InputError` with
    every problem (and nothing written) otherwise."""
    db, manifest = Path(db), Path(manifest)
    rows, problems = read_manifest(manifest)
    base = manifest.parent
    library = device_library()
    seen: dict[str, str] = {}
    table_cache: dict[Path, tuple[str, bytes, object, list[Problem]]] = {}
    records_cache: dict[Path, tuple[list[Record], list[Problem]]] = {}
    good: list[tuple[str, str, str, str, bytes, object, list[Record], str]] = []

    def where(line: str, column: str) -> str:
        return f"row {int(line) - 1} (line {line}), column {column}"

    for m in rows:
        line = m["_line"]
        pump, model, lot = m["pump_id"], m["model"], m["lot"]
        ok = True
        if not pump:
            problems.append(Problem(str(manifest), where(line, "pump_id"), "missing pump_id", "give the pump's identifier"))
            ok = False
        elif pump in seen:
            problems.append(Problem(str(manifest), where(line, "pump_id"), f"pump {pump!r} is listed twice (line {seen[pump]})",
                                    "list each pump once; give its newest table and records"))
            ok = False
        else:
            seen[pump] = line
        if model not in library:
            problems.append(Problem(str(manifest), where(line, "model"),
                                    f"unknown device model {model!r}" if model else "missing model",
                                    nearest(model, library) if model else "known models: " + ", ".join(sorted(library))))
            ok = False
        table = recs = None
        for column in ("table", "records"):
            if not m[column]:
                problems.append(Problem(str(manifest), where(line, column), f"missing {column} path",
                                        f"give the {column} file's path, relative to the manifest"))
                ok = False
        if m["table"]:
            tpath = (base / m["table"]).resolve()
            if tpath not in table_cache:
                try:
                    data = tpath.read_bytes()
                    table, _ = parse_table_bytes(data, str(base / m["table"]))
                    table_cache[tpath] = (hashlib.sha256(data).hexdigest(), data, table, [])
                except FileNotFoundError:
                    table_cache[tpath] = ("", b"", None, [Problem(str(manifest), where(line, "table"),
                                                                  f"table file {m['table']!r} not found",
                                                                  "check the path (relative to the manifest)")])
                except InputError as e:
                    table_cache[tpath] = ("", b"", None, e.problems)
                problems.extend(table_cache[tpath][3])
            sha, data, table, tprobs = table_cache[tpath]
            if tprobs:
                ok = False
            elif model in library and table.device.model != model:
                problems.append(Problem(str(manifest), where(line, "model"),
                                        f"{model!r} but the table {m['table']} names the pump {table.device.model!r}",
                                        "give the pump's model in both, or the pump's own table"))
                ok = False
        if m["records"]:
            rpath = (base / m["records"]).resolve()
            if rpath not in records_cache:
                try:
                    text = rpath.read_bytes().decode("utf-8-sig")
                    records_cache[rpath] = (parse_records(text, str(base / m["records"])), [])
                except FileNotFoundError:
                    records_cache[rpath] = ([], [Problem(str(manifest), where(line, "records"),
                                                         f"records file {m['records']!r} not found",
                                                         "check the path (relative to the manifest)")])
                except UnicodeDecodeError as e:
                    records_cache[rpath] = ([], [Problem(str(base / m["records"]), "", f"not UTF-8: {e}",
                                                         "save the records as UTF-8 CSV")])
                except InputError as e:
                    records_cache[rpath] = ([], e.problems)
                problems.extend(records_cache[rpath][1])
            recs, rprobs = records_cache[rpath]
            if rprobs:
                ok = False
        if ok:
            good.append((pump, model, lot, sha, data, table, recs, str(base / m["records"])))

    # what is stored already (read only: a database is created only when everything is valid)
    stored_pumps, stored_rows, stored_latest, stored_tables = {}, {}, {}, set()
    if db.exists():
        with FleetStore(db, read_only=True) as store:
            sp = store.pumps()
            stored_pumps = {p: (s.model, s.lot) for p, s in sp.items()}
            stored_latest = {p: s.sha256 for p, s in sp.items()}
            stored_tables = set(store.table_texts().keys())
            stored_rows = store.records([g[0] for g in good if g[0] in sp])

    new_tables: dict[str, tuple[str, str]] = {}
    new_pumps, assignments, new_rows = [], [], []
    kept = 0
    for pump, model, lot, sha, data, table, recs, rname in good:
        if pump in stored_pumps and stored_pumps[pump] != (model, lot):
            line = seen[pump]
            problems.append(Problem(str(manifest), where(line, "model" if stored_pumps[pump][0] != model else "lot"),
                                    f"pump {pump} is stored with model {stored_pumps[pump][0]!r}, lot {stored_pumps[pump][1]!r}; "
                                    f"the manifest gives {model!r}, {lot!r}",
                                    "a pump keeps its model and lot: give the stored ones, or a new pump_id"))
            continue
        old = {(r[1], r[2], r[3]): r for r in stored_rows.get(pump, [])}
        merged = {key: row_record(r) for key, r in old.items()}
        fresh = []
        conflict = False
        for r in recs:
            key = (r.time, r.event, r.note)
            row = record_row(pump, r)
            if key in old:
                if tuple(old[key][4:7]) != row[4:7]:
                    o = old[key]
                    problems.append(Problem(rname, f"row {r.line - 1} (line {r.line})",
                                            f"pump {pump}: the {r.event} at {r.time.isoformat()} is stored with volume {o[4]}, "
                                            f"estimate {o[5]}, boluses {o[6]}; this file gives {r.volume}, {r.estimate}, {r.boluses}",
                                            "a stored row is never changed: correct the file to the stored values, or give the "
                                            "correction a note (a new row)"))
                    conflict = True
                else:
                    kept += 1
            elif key in merged:  # twice in this file
                problems.append(Problem(rname, f"row {r.line - 1} (line {r.line})",
                                        f"a second {r.event} row at {r.time.isoformat()} with the note {r.note!r}",
                                        "remove the duplicate, or tell the rows apart by their note"))
                conflict = True
            else:
                merged[key] = r
                fresh.append(row)
        if conflict:
            continue
        try:
            adapter.check(table, sorted(merged.values(), key=lambda r: (r.time, r.line)), rname)
        except InputError as e:
            problems.extend(e.problems)
            continue
        if sha not in stored_tables and sha not in new_tables:
            new_tables[sha] = (model, data.decode("utf-8"))
        if pump not in stored_pumps:
            new_pumps.append((pump, model, lot))
        if stored_latest.get(pump) != sha:
            assignments.append((pump, sha))
        new_rows.extend(fresh)
    if problems:
        raise InputError(problems)
    now = now or dt.datetime.now().replace(microsecond=0)
    if new_tables or new_pumps or assignments or new_rows or not db.exists():
        with FleetStore(db) as store:
            store.write(new_tables, new_pumps, assignments, new_rows, now)
    return IngestSummary(len(good), len(new_pumps), len(new_tables), len(assignments), len(new_rows), kept)
