"""``bench`` and ``regress``: the developer's tools (speed, and the goldens of the shipped scenarios)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pumpsim.cli.options import EXIT_INPUT, EXIT_OK, dump, note, positive_int


def cmd_bench(args: argparse.Namespace) -> int:
    from pumpsim.dev import bench  # numpy and the kernels: only when benchmarking

    r = bench.run(runs=args.runs, reference_runs=args.reference_runs)
    sys.stdout.write(dump(r) + "\n" if args.json else bench.render(r))
    return EXIT_OK


def cmd_regress(args: argparse.Namespace) -> int:
    from pumpsim.dev import regress  # the table reader and the pipeline: only for this command

    root, golden = Path(args.dir), Path(args.golden)
    if not root.is_dir():
        note(f"{root}: not a folder (fix: give the folder of tables, e.g. scenarios/)")
        return EXIT_INPUT
    if not golden.is_dir() and not args.update:
        note(f"{golden}: no golden folder (fix: create it with --update)")
        return EXIT_INPUT
    text, status = regress.render(regress.run(root, golden, args.update), args.update)
    sys.stdout.write(text)
    return status


def register(sub: argparse._SubParsersAction) -> None:
    bn = sub.add_parser("bench", help="the Numba engine and the plain-Python reference on one workload: speeds and ratio")
    bn.add_argument("--runs", type=positive_int, default=2000, help="scenarios for the Numba engine (default 2000)")
    bn.add_argument("--reference-runs", type=positive_int, default=20, help="scenarios for the reference (default 20)")
    bn.add_argument("--json", action="store_true", help="JSON on stdout")
    bn.set_defaults(func=cmd_bench)

    rg = sub.add_parser("regress", help="run every table of a folder and compare the reports with stored goldens")
    rg.add_argument("dir", help="folder of tables (searched recursively)")
    rg.add_argument("--golden", required=True, help="folder of golden reports (JSON)")
    rg.add_argument("--update", action="store_true", help="rewrite the goldens after a reviewed change")
    rg.set_defaults(func=cmd_regress)
