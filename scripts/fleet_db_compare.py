"""DuckDB (the fleet store) against SQLite on the fleet's own work (docs/FLEET.md §5).

Takes the record rows of a fleet database written by `pumpsim fleet ingest` and times, in each
engine, on a new file: the bulk insert of every row in one transaction (DuckDB: the store's own
path, a temporary CSV read by read_csv; SQLite: executemany), the re-ingest read (every stored
row of every pump), and the scan's queries (each pump's latest table; every row in (pump, time,
line) order), plus the file size.

    python scripts/fleet_db_compare.py FLEET.duckdb
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from pumpsim.io.fleetdb import FleetStore


def timed(label: str, fn, out: dict):
    t0 = time.perf_counter()
    r = fn()
    out[label] = time.perf_counter() - t0
    return r


def duck(rows, pumps, tmp: Path) -> dict:
    out: dict = {}
    path = tmp / "d.duckdb"
    with FleetStore(path) as s:
        now = dt.datetime(2027, 1, 1)
        timed("insert", lambda: s.write({"x" * 64: ("m", "t")}, [(p, "m", "L1") for p in pumps],
                                        [(p, "x" * 64) for p in pumps], rows, now), out)
        timed("read all rows (re-ingest)", lambda: s.records(list(pumps)), out)
        timed("latest table per pump", lambda: s.pumps(), out)
        timed("rows in scan order", lambda: s.records(), out)
    out["file MB"] = path.stat().st_size / 2**20
    return out


def lite(rows, pumps, tmp: Path) -> dict:
    out: dict = {}
    path = tmp / "s.sqlite"
    con = sqlite3.connect(path, detect_types=sqlite3.PARSE_DECLTYPES)
    con.executescript(
        "CREATE TABLE pumps (pump_id TEXT PRIMARY KEY, model TEXT, lot TEXT);"
        "CREATE TABLE pump_tables (pump_id TEXT, sha256 TEXT, seq INTEGER, ingested_at TIMESTAMP);"
        "CREATE TABLE records (pump_id TEXT, time TIMESTAMP, event TEXT, note TEXT, volume_mL REAL, estimate_mL REAL, "
        "boluses INTEGER, line INTEGER);")  # no key index, as the fleet store

    def insert():
        with con:
            con.executemany("INSERT INTO pumps VALUES (?, ?, ?)", [(p, "m", "L1") for p in pumps])
            con.executemany("INSERT INTO pump_tables VALUES (?, ?, ?, ?)", [(p, "x" * 64, k, dt.datetime(2027, 1, 1))
                                                                           for k, p in enumerate(pumps)])
            con.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            con.execute("CREATE INDEX pump_tables_seq ON pump_tables (pump_id, seq)")  # SQLite's latest-table query needs it

    timed("insert", insert, out)
    q = "SELECT * FROM records ORDER BY pump_id, time, line"
    timed("read all rows (re-ingest)", lambda: con.execute(q).fetchall(), out)
    timed("latest table per pump", lambda: con.execute(
        "SELECT p.pump_id, p.model, p.lot, t.sha256 FROM pumps p JOIN pump_tables t ON t.pump_id = p.pump_id "
        "WHERE t.seq = (SELECT max(seq) FROM pump_tables u WHERE u.pump_id = p.pump_id) ORDER BY p.pump_id").fetchall(), out)
    timed("rows in scan order", lambda: con.execute(q).fetchall(), out)
    con.close()
    out["file MB"] = path.stat().st_size / 2**20
    return out


def main() -> None:
    src = sys.argv[1]
    with FleetStore(src, read_only=True) as s:
        per = s.records()
    rows = [r for rs in per.values() for r in rs]
    pumps = sorted(per)
    print(f"{len(rows)} rows of {len(pumps)} pumps from {src}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        d = duck(rows, pumps, Path(tmp))
        s_ = lite(rows, pumps, Path(tmp))
    print("| step | DuckDB [s] | SQLite [s] |\n|---|---|---|")
    for k in d:
        print(f"| {k} | {d[k]:.2f} | {s_[k]:.2f} |")


if __name__ == "__main__":
    main()
