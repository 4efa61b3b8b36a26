"""Shared option builders and printing helpers of the command line: each option every command
shares (``--profile``, ``--format``, ``--runs``, ``--seed``, ``-o``) is declared here once."""
from __future__ import annotations

import argparse
import difflib
import json
import re
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

from pumpsim import api
from pumpsim.io.output import check_destination, write_atomic
from pumpsim.model.errors import InputError, Problem

EXIT_OK, EXIT_HARD, EXIT_INPUT, EXIT_ENVIRONMENT = 0, 1, 2, 3


class Parser(argparse.ArgumentParser):
    """An argument parser that never guesses an abbreviated option (``--run`` is not ``--runs``)
    and suggests the nearest option of the command for a mistyped one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """argparse's usage error (exit 2), with the nearest command for a mistyped one."""
        m = re.match(r"argument COMMAND: invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2))
            close = difflib.get_close_matches(m.group(1), choices, n=2, cutoff=0.6)
            if close:
                message += f" (did you mean {' or '.join(close)}?)"
        super().error(message)

    def unrecognized(self, extra: list[str]) -> None:
        """Exit 2 with this command's usage, naming each unknown argument and the option it may mean."""
        known = [s for a in self._actions for s in a.option_strings]
        hints = []
        for arg in extra:
            if arg.startswith("-"):
                name = arg.split("=", 1)[0]
                close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
                if close:
                    hints.append(f"{name}: did you mean {' or '.join(close)}?")
        self.error(f"unrecognized arguments: {' '.join(extra)}" + (f" ({'; '.join(hints)})" if hints else ""))


# --------------------------------------------------------------------------- value types
def whole(text: str, low: int, high: int, hint: str) -> int:
    """A whole number in [low, high] from the command line (argparse exits 2 with ``hint`` otherwise)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= n <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: {hint}")
    return n


def positive_int(text: str) -> int:
    return whole(text, 1, 2**63 - 1, "give a number of at least 1")


def count(text: str) -> int:
    return whole(text, 0, 2**63 - 1, "give 0 or more")


def seed(text: str) -> int:
    return whole(text, 0, 2**63 - 1, "give a seed between 0 and 2**63 - 1")


def probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= p < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a probability from 0 up to (not including) 1, e.g. 0.001")
    return p


# --------------------------------------------------------------------------- option builders
PROFILE_HELP = "guideline profile: a shipped name or a profile file (overrides the {whose})"


def add_profile(p: argparse.ArgumentParser, whose: str = "table's", help: str | None = None) -> None:
    p.add_argument("--profile", help=help or PROFILE_HELP.format(whose=whose))


def add_format(p: argparse.ArgumentParser, *extra: str) -> None:
    p.add_argument("--format", choices=("text", "json", *extra), default="text")


def add_table(p: argparse.ArgumentParser, help: str = "programming table (TOML)") -> None:
    p.add_argument("table", help=help)


def add_runs_seed(p: argparse.ArgumentParser, prefix: str = "", runs_what: str = "number of runs") -> None:
    p.add_argument("--runs", type=positive_int, help=f"{prefix}{runs_what} (default: the table's, else 10000)")
    p.add_argument("--seed", type=seed, help=f"{prefix}random seed (default: the table's, else 0)")


def inputs(args: argparse.Namespace, *files: str | None) -> list[str]:
    """The input files of a command (the table, a profile file, ``files``): an output never replaces one."""
    out = [args.table] if getattr(args, "table", None) else []
    if getattr(args, "profile", None) and args.profile.endswith(".toml"):
        out.append(args.profile)
    return out + [f for f in files if f]


STDOUT = "-"  # ``-o -``: standard output


def destination(dest: str | Path, files: list[str], option: str = "-o", stdout: bool = False) -> Path | str:
    """An output path that replaces no input and lies in a folder (exit 2 before anything is computed);
    ``-o -`` is standard output where the command allows it (``stdout``), else refused."""
    if str(dest) == STDOUT:
        if stdout:
            return STDOUT
        raise InputError([Problem(STDOUT, option, "this command prints its report on standard output, so its file "
                                  "cannot go there too", "give a file name")])
    d = check_destination(dest, files, option)
    if not d.parent.is_dir():
        raise InputError([Problem(str(dest), option, f"{d.parent} is a file, not a folder",
                                  "give a path in an existing folder")])
    return d


def shown(dest: Path | str) -> str:
    """An output as a message names it."""
    return "standard output" if dest == STDOUT else str(dest)


def write_output(dest: Path | str, data: str, *, private: bool = False) -> None:
    """Write a command's file atomically, or to standard output for ``-o -``; ``private``: the file
    holds patient data, so a new one is created 0600 (a replaced file keeps its mode)."""
    if dest == STDOUT:
        sys.stdout.write(data)
        sys.stdout.flush()
    else:
        write_atomic(dest, data, private=private)


# --------------------------------------------------------------------------- waits
#: seconds without a finished run before the command says why it waits
SLOW_NOTICE_S = 5.0
COMPILE_WORDS = ("the first Monte-Carlo run after an install compiles the Numba kernels (several seconds); "
                 "later runs load them from the cache")


class SlowNotice:
    """A line on stderr when a computation has shown no progress for :data:`SLOW_NOTICE_S` seconds
    (the Numba kernel compiling on first use), printed once, piped or not; :meth:`progress`
    marks progress."""

    def __init__(self, what: str) -> None:
        self.what, self.moved = what, False
        self.timer = threading.Timer(SLOW_NOTICE_S, self._say)
        self.timer.daemon = True

    def _say(self) -> None:
        from pumpsim.sim import compiling

        if not self.moved and not compiling.announced():  # else the kernels already said why
            note(f"{self.what}: nothing finished after {SLOW_NOTICE_S:g} s; {COMPILE_WORDS}")

    def progress(self) -> None:
        self.moved = True

    def __enter__(self) -> SlowNotice:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()


# --------------------------------------------------------------------------- printing
def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def emit(result: Any, fmt: str) -> int:
    """Print a result as its command does (``text()``, or ``to_json()`` with ``--format json``)."""
    sys.stdout.write(result.to_json() + "\n" if fmt == "json" else result.text())
    return result.exit_status


def note(message: str) -> None:
    """A line for the user on stderr, prefixed ``pumpsim:``."""
    print(f"pumpsim: {message}", file=sys.stderr)


def write_folder_of(folder_arg: str, option: str, files: dict[str, bytes], inputs_: list) -> None:
    """Write the files of an output folder (``--plot DIR``, ``plot -o DIR``) whole, by the one rule of
    every output: the folder is created if its parent exists, never its missing parents
    (:mod:`pumpsim.io.output`); a bad folder is an input error (exit 2) before anything is written."""
    from pumpsim.io.output import check_folder, write_folder

    check_folder(folder_arg, inputs_, files.keys(), option)
    for path in write_folder(folder_arg, files, option=option):
        note(f"wrote {path}")


def write_figures(args: argparse.Namespace, result: Any, folder_arg: str, option: str, mc: Any = None) -> int:
    """The figures of a validation result into a folder (created if its parent exists); exit 2 if
    it cannot be used."""
    from pumpsim.io.output import check_folder
    from pumpsim.render.figures import FIGURES, figure_bytes, figures  # matplotlib: only when figures are asked for

    check_folder(folder_arg, inputs(args), [f"{n}.{e}" for n in FIGURES for e in ("png", "svg")], option)
    files = {f"{name}.{ext}": data for name, fig in figures(result, mc).items() for ext, data in figure_bytes(fig).items()}
    write_folder_of(folder_arg, option, files, inputs(args))
    return EXIT_OK


def command_text(name: str) -> str:
    """The command line that is running, shell-quoted (recorded in a generated table's header)."""
    return "pumpsim " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else f"pumpsim {name}"


def write_generated(dest: Path, text: str, profile: str | None, what: str) -> int:
    """Write a generated table (plan -o, titrate -o) only if ``validate`` gives it exit 0: never
    a table the command promised would pass. Returns validate's exit status."""
    done = api.write_table(dest, text, profile)
    status = done.validation.exit_status
    if not done.written:
        note(f"the {what} table does not pass validate (exit {status}); nothing was written")
        return status
    note(f"wrote {dest} (pumpsim validate {dest}: exit {status})")
    return status
