"""Write a programming table back as TOML, in the layout of FORMAT.md §1.

Only what a table holds is supported: strings, booleans, integers, floats, local date-times,
lists and tables. Top-level values first, then ``[tables]`` (their inner tables inline), then
``[[arrays of tables]]`` such as ``[[session]]``, each key on its own line, inner tables inline
(``refill = { volume = "20 mL", mix = { morphine = "10 mg/mL" } }``). What this writes is read
back by :mod:`tomllib` to the same data (tested).
"""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def value(v: Any) -> str:
    """One TOML value, inline."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"a table holds no {v!r}")
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            return v.isoformat()
        return v.isoformat(timespec="microseconds" if v.microsecond else "seconds")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dumps(data: dict[str, Any], header: list[str] | None = None) -> str:
    """The TOML text of ``data``; ``header`` lines become comments at the top."""
    lines = [f"# {h}" for h in header or []]
    if lines:
        lines.append("")
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_array(v)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if _is_table_array(v)}
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {value(v)}")
    for k, t in tables.items():
        lines.append("")
        lines.append(f"[{_key(k)}]")
        lines.extend(f"{_key(kk)} = {value(vv)}" for kk, vv in t.items())
    for k, rows in arrays.items():
        for row in rows:
            lines.append("")
            lines.append(f"[[{_key(k)}]]")
            lines.extend(f"{_key(kk)} = {value(vv)}" for kk, vv in row.items())
    return "\n".join(lines) + "\n"
