"""Writing files safely: atomically (temporary file, then rename), never over an input.

A command interrupted (Ctrl-C) or failing while it writes leaves no partial output: the
temporary file is removed and the destination is untouched.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pumpsim.model.errors import InputError, Problem


def check_destination(dest: str | Path, inputs: Iterable[str | Path], option: str = "-o") -> Path:
    """Refuse an output path that is one of the inputs (exit 2 before anything is computed)."""
    d = Path(dest)
    for i in inputs:
        src = Path(i)
        same = d.resolve() == src.resolve() or (d.exists() and src.exists() and os.path.samefile(d, src))
        if same:
            raise InputError([Problem(str(dest), option, "the output would overwrite an input file",
                                      "choose another output path")])
    if not d.parent.exists():
        raise InputError([Problem(str(dest), option, f"the folder {d.parent} does not exist", "create it or choose another path")])
    if d.is_dir():
        raise InputError([Problem(str(dest), option, "is a directory", "give a file name")])
    return d


def write_atomic(dest: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``dest`` through a temporary file in the same folder, then rename."""
    d = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{d.name}.", suffix=".tmp", dir=d.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, d)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
