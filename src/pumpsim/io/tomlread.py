"""The one reader of TOML text for every input file (tables, patient files, programs, profiles):
UTF-8, not empty, valid TOML, nested no deeper than any pumpsim file needs. Each failure is an
:class:`~pumpsim.model.errors.InputError` naming the file and the fix."""
from __future__ import annotations

import tomllib

from pumpsim.model.errors import InputError, Problem


def load_toml(data: bytes, name: str, empty_fix: str) -> dict:
    """Decode UTF-8 and parse TOML, or an :class:`InputError` naming the file, the byte or the line.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        The file's name, for messages.
    empty_fix : str
        What to say when the file is empty.

    Returns
    -------
    dict
        The parsed TOML.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError([Problem(name, "", f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
                                  "save the file as UTF-8")]) from None
    if not text.strip():
        raise InputError([Problem(name, "", "the file is empty", empty_fix)])
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError([Problem(name, "", f"TOML syntax error: {e}", "fix the syntax at that line and column")]) from None
    except RecursionError:
        raw = None
    if raw is None or _depth(raw) > MAX_NESTING:
        raise InputError([Problem(name, "", f"arrays or tables nested more than {MAX_NESTING} levels deep",
                                  "no pumpsim file nests that deep: check the file")])
    return raw


#: The deepest nesting of tables and arrays any pumpsim file needs is 4 ([[session]] ->
#: refill -> mix); beyond this the file is not one of ours (and would exhaust the stack).
MAX_NESTING = 16


def _depth(value: object) -> int:
    """The nesting depth of parsed TOML (iterative: a deep file cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_NESTING:
            break
        if isinstance(v, dict):
            stack += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            stack += [(x, d + 1) for x in v]
    return deepest


