"""``pumpsim fleet ingest|scan|simulate`` (FORMAT.md §10): the command's parser and its actions.

Registered in :mod:`pumpsim.cli.main` by :func:`add_parser`; everything else of the command is here.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

EXIT_OK, EXIT_HARD, EXIT_INPUT = 0, 1, 2


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (fix: write e.g. 2027-06-01)") from None


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return n


def _years(text: str) -> float:
    try:
        y = float(text)
    except ValueError:
        y = 0.0
    if not 0 < y <= 50:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of years above 0 (at most 50), e.g. 3")
    return y


def cmd_ingest(args: argparse.Namespace) -> int:
    from pumpsim.telemetry.fleet.ingest import ingest

    summary = ingest(args.db, args.manifest)  # every problem at once: exit 2, nothing written
    print(summary.text(args.db), file=sys.stderr)
    return EXIT_OK


def cmd_scan(args: argparse.Namespace) -> int:

    from pumpsim.telemetry.fleet.scan import scan

    if args.plot:
        from pumpsim.io.output import check_folder

        check_folder(args.plot, [args.db], [], "--plot")  # exit 2 before the scan
    report = scan(args.db, by=args.by, since=args.since, dask=args.dask, workers=args.workers)
    if args.plot:
        from pumpsim.cli.options import write_folder_of
        from pumpsim.render.fleet_figure import group_figures

        write_folder_of(args.plot, "--plot", dict(group_figures(report)), [args.db])
    if args.format == "json":
        sys.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(report.text())
    return report.exit_status


def cmd_simulate(args: argparse.Namespace) -> int:
    from pumpsim.telemetry.fleet.simulate import simulate_fleet

    truth = simulate_fleet(args.outdir, args.pumps, args.years, seed=args.seed, lot_size=args.lot_size,
                           faults=args.fault or [], workers=args.workers)
    print(f"pumpsim: wrote a fleet of {truth['pumps']} pumps in {len(truth['lots'])} lots over {truth['years']:g} year(s) "
          f"({len(truth['faults'])} group fault(s)) to {args.outdir}/manifest.csv", file=sys.stderr)
    return EXIT_OK


def register(sub) -> None:
    """Register ``pumpsim fleet`` and its three commands."""
    fl = sub.add_parser("fleet", help="fleet surveillance: many pumps' tables and records in one database, each model "
                        "or lot watched as a whole (docs/FLEET.md)")
    fsub = fl.add_subparsers(dest="fleet_command", required=True, metavar="ingest|scan|simulate")

    ig = fsub.add_parser("ingest", help="add the tables and records a manifest lists to the database (all or nothing)")
    ig.add_argument("db", metavar="DB", help="fleet database file (DuckDB; created on first use)")
    ig.add_argument("manifest", metavar="MANIFEST.csv", help="pump_id,model,lot,table,records (paths relative to it)")
    ig.set_defaults(func=cmd_ingest, writes=True)

    sc = fsub.add_parser("scan", help="reconcile every pump and test each lot (or model) for a shared delivery bias")
    sc.add_argument("db", metavar="DB", help="fleet database file written by `pumpsim fleet ingest`")
    sc.add_argument("--by", choices=("lot", "model"), default="lot", help="the groups tested: each (model, lot) "
                    "(default) or each model")
    sc.add_argument("--since", type=_date, metavar="DATE", help="use the refill intervals ending and the findings dated "
                    "on or after DATE")
    sc.add_argument("--format", choices=("text", "json"), default="text")
    sc.add_argument("--dask", metavar="ADDRESS", help="reconcile the pumps on a Dask cluster (`local`: two worker "
                    "processes here; or tcp://SCHEDULER:8786); the same JSON as without")
    sc.add_argument("--plot", metavar="DIR", help="write a figure of each signalling group's pooled ratio over time")
    sc.add_argument("--workers", type=_positive, help="without --dask: processes reconciling the pumps here (default 2)")
    sc.set_defaults(func=cmd_scan)

    sm = fsub.add_parser("simulate", help="write a synthetic fleet (manifest, tables, records) with known truths")
    sm.add_argument("outdir", metavar="OUTDIR", help="folder to write manifest.csv, tables/, records/ and fleet.json into")
    sm.add_argument("--pumps", type=_positive, required=True, help="number of pumps (P00001, P00002, ...)")
    sm.add_argument("--years", type=_years, required=True, help="years of records from 2027-01-04")
    sm.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sm.add_argument("--lot-size", type=_positive, help="pumps per lot (default 100): L1, L2, ...")
    sm.add_argument("--fault", action="append", metavar="GROUP=NAME:SPEC", help='a fault of every pump of a lot or '
                    'model, e.g. "lot=L7:over:1.05@2027-06-01" (SPEC as `pumpsim telemetry --fault`; repeatable)')
    sm.add_argument("--workers", type=_positive, help="processes writing records (default: 2)")
    sm.set_defaults(func=cmd_simulate, writes=True)
