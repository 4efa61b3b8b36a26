"""Telemetry records: the CSV a real pump's interrogations produce (docs/FORMAT.md §6), read and written.

One row per event in time order: ``time,event,volume_mL,estimate_mL,boluses,note``. Extra
columns are ignored; empty cells are absent values. Every problem of the file is reported at
once (file, line and column, and the fix); nothing is returned if any.

Column rules (docs/TELEMETRY.md §1)
- ``time`` and ``event`` are required columns; ``volume_mL`` is required as a column when a
  refill row exists, and its cell on every refill row.
- ``time``: a local ISO 8601 date-time (``2027-01-05T10:00:00``; no UTC offset); rows in time order.
- ``event``: ``refill``, ``interrogation``, ``alarm`` or ``mri``.
- ``volume_mL`` (aspirated residual) and ``estimate_mL`` (displayed reservoir): numbers >= 0 [mL].
- ``boluses``: a whole number >= 0, boluses granted since the previous refill or interrogation row.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pumpsim.io import bounds
from pumpsim.model.errors import InputError, Problem, Problems, nearest

EVENTS = ("refill", "interrogation", "alarm", "mri")
COLUMNS = ("time", "event", "volume_mL", "estimate_mL", "boluses", "note")
REQUIRED = ("time", "event")


@dataclass(frozen=True)
class Record:
    """One row of a records file, values in base units (mL, counts); ``line`` is its line in the file."""

    line: int
    time: dt.datetime
    event: str
    volume: float | None = None  # aspirated residual [mL] (refill rows)
    estimate: float | None = None  # displayed reservoir [mL] (interrogation rows)
    boluses: int | None = None  # grants since the previous refill or interrogation row
    note: str = ""

    @property
    def counts(self) -> bool:
        """Refill and interrogation rows bound the bolus stretches; alarm and mri rows do not."""
        return self.event in ("refill", "interrogation")


def read_records(path: str | Path) -> list[Record]:
    """Read a records file; :class:`InputError` naming every bad row and column otherwise."""
    name = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError([Problem(name, "", "records file not found", "check the path")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError([Problem(name, "", f"cannot read the records file: {e}", "give a UTF-8 CSV file")]) from None
    return parse_records(text, name)


def field(line: int, column: str) -> str:
    """Where a problem is: ``row 2 (line 3), column time``; the header is line 1."""
    where = "header (line 1)" if line == 1 else f"row {line - 1} (line {line})"
    return f"{where}, column {column}"


#: The longest field the csv module reads (its default limit) [characters].
FIELD_LIMIT = 131_072


def _rows(reader, name: str):
    """The reader's rows; a row the csv module cannot read is an input error naming its row."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            line = reader.line_num
            if "field larger" in str(e):
                what, fix = f"a field longer than {FIELD_LIMIT:,} characters", "shorten the field (a note is a few words)"
            elif "new-line" in str(e):
                what, fix = ("a carriage return (CR) inside an unquoted field",
                             "remove it, or quote the field (\"...\"); end lines with LF or CRLF")
            else:
                what, fix = f"the CSV cannot be read ({e})", "quote a field that holds a comma, a quote or a line break"
            where = "header (line 1)" if line <= 1 else f"row {line - 1} (line {line})"
            raise InputError([Problem(name, where, what, fix)]) from None


def parse_records(text: str, name: str = "<records>") -> list[Record]:
    probs = Problems(name)
    # LF or CRLF line endings; a file of CR line endings (no LF at all) is read with CR as the end of line
    reader = csv.reader(io.StringIO(text, newline="\n" if "\n" in text else ""))
    rows = _rows(reader, name)
    try:
        header = next(rows)
    except StopIteration:
        raise InputError([Problem(name, "", "the file is empty", "start with the header " + ",".join(COLUMNS))]) from None
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED if c not in header]
    for c in missing:
        probs.add(field(1, c), f"missing column {c!r} in the header",
                  f"add the column; the header is {','.join(COLUMNS)} ({nearest(c, [h for h in header if h] or COLUMNS)})")
    probs.raise_if_any()
    col = {h: i for i, h in enumerate(header) if h}
    out: list[Record] = []
    previous: dt.datetime | None = None
    refill_rows = False
    for k, row in enumerate(rows):
        line = k + 2
        if not any(c.strip() for c in row):
            continue  # a blank line

        def cell(c: str, row: list[str] = row) -> str:
            i = col.get(c)
            return row[i].strip() if i is not None and i < len(row) else ""

        when = _time(cell("time"), line, probs)
        event = cell("event")
        if event not in EVENTS:
            probs.add(field(line, "event"), f"unknown event {event!r}" if event else "missing event",
                      (nearest(event, EVENTS) if event else "known events: " + ", ".join(EVENTS)))
            event = ""
        volume = _number(cell("volume_mL"), line, "volume_mL", probs)
        estimate = _number(cell("estimate_mL"), line, "estimate_mL", probs)
        boluses = _count(cell("boluses"), line, probs)
        if event == "refill":
            refill_rows = True
            if "volume_mL" in col and not cell("volume_mL"):
                probs.add(field(line, "volume_mL"), "a refill row needs the aspirated volume",
                          "write the residual volume aspirated before the fill, e.g. 2.35 (0 if the pump was dry)")
        if when is not None:
            if previous is not None and when < previous:
                probs.add(field(line, "time"), f"{cell('time')} is before the previous row ({previous.isoformat()})",
                          "sort the rows in time order")
            previous = when
        if when is not None and event:
            out.append(Record(line, when, event, volume, estimate, boluses, cell("note")))
    if refill_rows and "volume_mL" not in col:
        probs.add(field(1, "volume_mL"), "missing column 'volume_mL' in the header, needed by the refill rows",
                  "add the column volume_mL with the aspirated residual of each refill")
    probs.raise_if_any()
    return out


def _time(text: str, line: int, probs: Problems) -> dt.datetime | None:
    if not text:
        probs.add(field(line, "time"), "missing time", "write a local date-time, e.g. 2027-01-05T10:00:00")
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        probs.add(field(line, "time"), f"{text!r} is not a date-time", "write a local date-time, e.g. 2027-01-05T10:00:00")
        return None
    if when.tzinfo is not None:
        probs.add(field(line, "time"), f"{text!r} has a UTC offset; times are local wall-clock times, as in the table",
                  f"write {when.replace(tzinfo=None).isoformat(timespec='seconds')}")
        return None
    if not bounds.date_in_range(when):
        probs.add(field(line, "time"), bounds.out_of_range(when), "check the year")
        return None
    if len(text) <= 10:
        probs.add(field(line, "time"), f"{text!r} is a date without a time", f"write {text}T09:00:00 (the clock time)")
        return None
    return when


#: A plain ASCII decimal: no sign, no underscore, no other script's digits, no exponent.
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_WHOLE = re.compile(r"[0-9]+")
#: Beyond these a value is a typing slip, not a record (and would overflow the arithmetic):
#: no implanted or external reservoir holds 10 L; no pump grants 100,000 boluses between two rows.
VOLUME_MAX_ML = 10_000.0
BOLUS_COUNT_MAX = 100_000


def _number(text: str, line: int, column: str, probs: Problems) -> float | None:
    if not text:
        return None
    if not _DECIMAL.fullmatch(text):
        probs.add(field(line, column), f"{text[:40]!r} is not a plain decimal number",
                  "write a volume in mL with the digits 0-9 and a decimal point, e.g. 2.35")
        return None
    x = float(text)
    if x > VOLUME_MAX_ML:
        probs.add(field(line, column), f"{text[:40]!r} mL is beyond any reservoir ({VOLUME_MAX_ML:g} mL)", "check the volume")
        return None
    return x


def _count(text: str, line: int, probs: Problems) -> int | None:
    if not text:
        return None
    if not _WHOLE.fullmatch(text):
        probs.add(field(line, "boluses"), f"{text[:40]!r} is not a whole number >= 0 (digits 0-9)",
                  "write the number of boluses granted, e.g. 3")
        return None
    if len(text) > 6 or int(text) > BOLUS_COUNT_MAX:
        probs.add(field(line, "boluses"), f"{text[:40]!r} boluses is beyond any pump's count ({BOLUS_COUNT_MAX:,})",
                  "check the count")
        return None
    return int(text)


def write_records(rows: Sequence[Record]) -> str:
    """The records as CSV text (header first); volumes to 0.01 mL."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.time.isoformat(timespec="seconds"), r.event,
                    "" if r.volume is None else f"{r.volume:.2f}", "" if r.estimate is None else f"{r.estimate:.2f}",
                    "" if r.boluses is None else str(r.boluses), r.note])
    return buf.getvalue()
