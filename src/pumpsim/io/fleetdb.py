"""The fleet store: a centre's tables and records in one embedded DuckDB file (``pumpsim fleet``).

No server: the database is a single file, created on the first ingest. Four tables:

- ``tables``: each programming table once, keyed by the SHA-256 of its bytes, with its text, the
  device model it names and when it was first ingested;
- ``pumps``: ``pump_id``, ``model``, ``lot`` (the manifest's; a pump keeps them);
- ``pump_tables``: which table each pump was given, in ingest order (``seq``); a pump's table is
  that of its highest ``seq`` (the most recently ingested);
- ``records``: telemetry rows keyed by (pump, time, event, note), with the aspirated volume, the
  displayed estimate, the bolus count and the row's line in the file it came from (rows of one
  instant keep their file order). The key is kept by the ingest, which inserts only keys not
  stored yet; it is not a DuckDB PRIMARY KEY, whose index made the file 6 times larger (100 MB
  against 16 MB for 728,000 rows) and the bulk insert twice as slow (docs/FLEET.md §5).

This module only stores and fetches; what is valid is decided before anything is written
(:mod:`pumpsim.telemetry.fleet.ingest`), and every write of an ingest is one transaction.
DuckDB is imported here only, so that pumpsim without the ``fleet`` extra still runs.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pumpsim.model.errors import InputError, Problem

FLEET_DB_SCHEMA = "pumpsim.fleetdb/1"

#: (pump_id, time, event, note, volume_mL, estimate_mL, boluses, line)
Row = tuple[str, dt.datetime, str, str, float | None, float | None, int | None, int]

_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS tables (sha256 VARCHAR PRIMARY KEY, model VARCHAR NOT NULL, content VARCHAR NOT NULL, "
    "ingested_at TIMESTAMP NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pumps (pump_id VARCHAR PRIMARY KEY, model VARCHAR NOT NULL, lot VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pump_tables (pump_id VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, seq BIGINT NOT NULL, "
    "ingested_at TIMESTAMP NOT NULL)",
    "CREATE TABLE IF NOT EXISTS records (pump_id VARCHAR NOT NULL, time TIMESTAMP NOT NULL, event VARCHAR NOT NULL, "
    "note VARCHAR NOT NULL, volume_mL DOUBLE, estimate_mL DOUBLE, boluses INTEGER, line INTEGER NOT NULL)",
)


def _duckdb():
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the installation
        raise InputError([Problem("pumpsim fleet", "", "the fleet store needs DuckDB, which is not installed",
                                  "pip install 'pumpsim[fleet]'")]) from None
    return duckdb


@dataclass(frozen=True)
class StoredPump:
    pump_id: str
    model: str
    lot: str
    sha256: str  # its most recently ingested table


class FleetStore:
    """An open fleet database (a DuckDB connection)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        duckdb = _duckdb()
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as e:
            raise InputError([Problem(str(self.path), "", f"cannot open the fleet database: {e}",
                                      "give a DuckDB file written by pumpsim fleet ingest (or a new path)")]) from None
        if not read_only:
            for stmt in _DDL:
                self.con.execute(stmt)
        else:
            names = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            missing = {"tables", "pumps", "pump_tables", "records"} - names
            if missing:
                self.con.close()
                raise InputError([Problem(str(self.path), "", f"not a pumpsim fleet database (no table {sorted(missing)[0]!r})",
                                          "give a file written by pumpsim fleet ingest")])

    @classmethod
    def open_existing(cls, path: str | Path) -> FleetStore:
        """Open a database that must exist (scan): exit 2 naming the file otherwise."""
        if not Path(path).is_file():
            raise InputError([Problem(str(path), "", "no fleet database at this path", "run pumpsim fleet ingest DB MANIFEST.csv first")])
        return cls(path, read_only=True)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> FleetStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def pumps(self) -> dict[str, StoredPump]:
        """Every pump with its model, lot and most recently ingested table."""
        rows = self.con.execute(
            "SELECT p.pump_id, p.model, p.lot, t.sha256 FROM pumps p JOIN "
            "(SELECT pump_id, arg_max(sha256, seq) AS sha256 FROM pump_tables GROUP BY pump_id) t USING (pump_id) "
            "ORDER BY p.pump_id").fetchall()
        return {r[0]: StoredPump(*r) for r in rows}

    def table_texts(self, shas: Iterable[str] | None = None) -> dict[str, str]:
        if shas is None:
            rows = self.con.execute("SELECT sha256, content FROM tables").fetchall()
        else:
            wanted = sorted(set(shas))
            if not wanted:
                return {}
            rows = self.con.execute("SELECT sha256, content FROM tables WHERE list_contains(?, sha256)", [wanted]).fetchall()
        return dict(rows)

    def records(self, pump_ids: Sequence[str] | None = None) -> dict[str, list[Row]]:
        """Every stored row of these pumps (all pumps when None), per pump in (time, line) order."""
        sql = ("SELECT pump_id, time, event, note, volume_mL, estimate_mL, boluses, line FROM records "
               "{where} ORDER BY pump_id, time, line")
        if pump_ids is None:
            rows = self.con.execute(sql.format(where="")).fetchall()
        else:
            if not pump_ids:
                return {}
            rows = self.con.execute(sql.format(where="WHERE list_contains(?, pump_id)"), [list(pump_ids)]).fetchall()
        out: dict[str, list[Row]] = {}
        for r in rows:
            out.setdefault(r[0], []).append(r)
        return out

    def counts(self) -> dict[str, int]:
        return {name: self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                for name in ("tables", "pumps", "pump_tables", "records")}

    # ------------------------------------------------------------------ writing (one transaction)
    def write(self, tables: dict[str, tuple[str, str]], pumps: list[tuple[str, str, str]],
              pump_tables: list[tuple[str, str]], rows: list[Row], now: dt.datetime) -> None:
        """Append, in one transaction: new tables {sha: (model, text)}, new pumps (id, model, lot),
        new (pump, table) assignments, new records rows. Nothing is written if any step fails."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            if tables:
                self.con.executemany("INSERT INTO tables VALUES (?, ?, ?, ?)",
                                     [(sha, model, text, now) for sha, (model, text) in tables.items()])
            if pumps:
                self._bulk("pumps", PUMP_COLUMNS, pumps)
            if pump_tables:
                seq0 = self.con.execute("SELECT coalesce(max(seq), 0) FROM pump_tables").fetchone()[0]
                self._bulk("pump_tables", PUMP_TABLE_COLUMNS,
                           [(p, sha, seq0 + k + 1, now) for k, (p, sha) in enumerate(pump_tables)])
            if rows:
                self._bulk("records", RECORD_COLUMNS, rows)
            self.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", [FLEET_DB_SCHEMA])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def _bulk(self, table: str, columns: tuple[tuple[str, str], ...], rows: Sequence[tuple]) -> None:
        """Rows through a temporary CSV file read by DuckDB (executemany is ~100x slower there)."""
        fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="pumpsim-fleet-")
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
                # strings quoted (an empty note stays ''), absent numbers bare empty cells (NULL)
                f.writelines(",".join(_cell(v) for v in row) + "\n" for row in rows)
            spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns)
            self.con.execute(f"INSERT INTO {table} SELECT * FROM read_csv(?, header=false, quote='\"', escape='\"', "
                             f"columns={{{spec}}}, nullstr='', allow_quoted_nulls=false)", [tmp])
        finally:
            os.unlink(tmp)


PUMP_COLUMNS = (("pump_id", "VARCHAR"), ("model", "VARCHAR"), ("lot", "VARCHAR"))
PUMP_TABLE_COLUMNS = (("pump_id", "VARCHAR"), ("sha256", "VARCHAR"), ("seq", "BIGINT"), ("ingested_at", "TIMESTAMP"))
RECORD_COLUMNS = (("pump_id", "VARCHAR"), ("time", "TIMESTAMP"), ("event", "VARCHAR"), ("note", "VARCHAR"),
                  ("volume_mL", "DOUBLE"), ("estimate_mL", "DOUBLE"), ("boluses", "INTEGER"), ("line", "INTEGER"))


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return '"' + v.replace('"', '""') + '"'
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, float):
        return repr(v)
    return str(int(v))
