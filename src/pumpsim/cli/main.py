"""The ``pumpsim`` command line (FORMAT.md §2): the parser and the dispatch.

Exit status for every command: 0 no hard violation, 1 at least one hard violation (the only
status that is a verdict), 2 invalid input or usage (a message on stderr names the file, the
field and the fix; nothing is written), 3 the environment or pumpsim itself failed (an optional
package missing, a cluster unreachable, an internal error: a message, never a traceback; set
PUMPSIM_TRACEBACK=1 to see it). The package :mod:`pumpsim.cli` is the only one that prints or
exits; every computation is in :mod:`pumpsim.api`.

Start-up stays fast: the modules imported at the top are light (no numpy, Numba, SciPy or
matplotlib); a command imports a heavy module inside its function, only when it needs it.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence

from pumpsim._version import __version__
from pumpsim.api import EnvironmentFailure
from pumpsim.cli.commands import GROUPS
from pumpsim.cli.commands.catalogue import rules_markdown
from pumpsim.cli.options import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, Parser, note
from pumpsim.model.errors import InputError

#: errors of a path given on the command line (exit 2), unlike a failure of the machine (exit 3)
BAD_PATH = {errno.ENOTDIR, errno.ENOENT, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG}

__all__ = ["EXIT_ENVIRONMENT", "EXIT_INPUT", "EXIT_OK", "build_parser", "main", "rules_markdown"]


def _writes(args: argparse.Namespace) -> bool:
    """Whether the command was asked to write a file (``-o``, ``--plot``, ``regress --update``): only
    then does an error say that nothing was written."""
    return bool(getattr(args, "output", None) or getattr(args, "plot", None) or getattr(args, "update", False)
                or getattr(args, "writes", False))  # a command whose positional argument is written (fleet ingest)


def _print_problems(err: InputError, end: str) -> None:
    files = sorted({p.file for p in err.problems})
    print(f"pumpsim: {len(err.problems)} problem(s) in {', '.join(files)}{end}", file=sys.stderr)
    for p in err.problems:
        print(f"  {p}", file=sys.stderr)


def build_parser() -> Parser:
    p = Parser(prog="pumpsim", description="Check and simulate intrathecal pump programming "
               "tables (decision support, not a medical device).",
               epilog="Exit status: 0 no hard violation, 1 a hard violation, 2 bad input or usage, "
               "3 an environment or internal failure.")
    p.add_argument("--version", action="version", version=f"pumpsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the command's own usage, with the option a mistyped one may mean
        sub = next(a for a in parser._actions if a.dest == "command")
        sub.choices[args.command].unrecognized(extra)
    end = "; nothing was written." if _writes(args) else "."
    try:
        return args.func(args)
    except InputError as e:
        _print_problems(e, end)
        return EXIT_INPUT
    except EnvironmentFailure as e:
        note(f"{e}{end}")
        return EXIT_ENVIRONMENT
    except BrokenPipeError:  # e.g. `pumpsim devices | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        note(f"interrupted{end}")
        return 130
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        if e.errno in BAD_PATH:  # a path the user gave cannot be used (e.g. -o under a regular file)
            note(f"{where}{e.strerror} (fix: give a path in a folder you can write){end}")
            return EXIT_INPUT
        note(f"{where}{e.strerror or e}{end}")  # the machine failed (disk full, I/O error)
        return EXIT_ENVIRONMENT
    except Exception as e:  # noqa: BLE001 - an internal error: a message and exit 3, never a traceback
        if os.environ.get("PUMPSIM_TRACEBACK"):
            raise
        note(f"internal error: {type(e).__name__}: {e} (please report it with the command and its input; "
             f"PUMPSIM_TRACEBACK=1 shows the traceback){end}")
        return EXIT_ENVIRONMENT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
