"""``telemetry`` and ``reconcile``: simulated telemetry files, and a pump's records against its table."""
from __future__ import annotations

import argparse

from pumpsim import api
from pumpsim.cli.options import (
    EXIT_INPUT,
    EXIT_OK,
    add_format,
    add_profile,
    destination,
    emit,
    inputs,
    note,
    seed,
    shown,
    write_folder_of,
    write_output,
)


def cmd_telemetry(args: argparse.Namespace) -> int:
    dest = destination(args.output, inputs(args), stdout=True)
    loaded = api.load_table(args.table, args.profile)
    if args.records:
        out = api.telemetry_records(loaded, args.fault or [], args.seed or 0)
        write_output(dest, out.csv)
        note(f"wrote {out.rows} records (seed {out.seed}, {len(out.faults)} fault(s)) to {shown(dest)}")
        return EXIT_OK
    if args.fault or args.seed is not None:
        note("--fault and --seed need --records (fix: add --records)")
        return EXIT_INPUT
    out = api.telemetry_log(loaded, args.case)
    write_output(dest, out.csv)
    note(f"wrote {out.rows} events ({args.case} case) to {shown(dest)}")
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    rec = api.reconcile(args.table, args.records, args.profile)  # bad rows: exit 2 before any output
    if args.plot:
        from pumpsim.render.telemetry_figure import figure_png, figure_svg  # matplotlib: only for --plot

        write_folder_of(args.plot, "--plot", {"reconcile.png": figure_png(rec.result), "reconcile.svg": figure_svg(rec.result)},
                        [args.table, args.records])
    return emit(rec, args.format)


def register(sub: argparse._SubParsersAction) -> None:
    tl = sub.add_parser("telemetry", help="write the telemetry log of a simulated run (CSV)")
    tl.add_argument("table", help="programming table (TOML)")
    tl.add_argument("-o", "--output", required=True, help="CSV file to write (atomically; never the input)")
    tl.add_argument("--case", choices=("nominal", "worst"), default="worst",
                    help="nominal: exact pump, no bolus; worst: fast pump, every bolus allowed (default)")
    add_profile(tl)
    tl.add_argument("--records", action="store_true", help="write the records a pump would report instead "
                    "(refill, interrogation, alarm rows; the CSV that `pumpsim reconcile` reads)")
    tl.add_argument("--seed", type=seed, help="with --records: seed of the one run's draws (default 0)")
    tl.add_argument("--fault", action="append", metavar="SPEC", help="with --records: inject a fault, e.g. "
                    "over:1.3@2027-01-10, stall@2027-01-10T14:00/36h, occlusion@2027-01-10, pocket:2mL@2027-02-02, "
                    "program:1.25@2026-12-03 (repeatable; docs/TELEMETRY.md)")
    tl.set_defaults(func=cmd_telemetry)

    rc = sub.add_parser("reconcile", help="compare a pump's telemetry records (CSV) with its table: delivery per refill, "
                        "displayed estimates, bolus counts (rules TEL-*)")
    rc.add_argument("table", help="programming table (TOML) that was meant to run on the pump")
    rc.add_argument("records", help="records CSV: time,event,volume_mL,estimate_mL,boluses,note (docs/TELEMETRY.md)")
    add_format(rc)
    rc.add_argument("--plot", metavar="DIR", help="also write the figure (ratios per refill, drift statistic) into DIR")
    add_profile(rc)
    rc.set_defaults(func=cmd_reconcile)
