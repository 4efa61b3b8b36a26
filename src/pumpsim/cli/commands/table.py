"""``validate``, ``simulate``, ``plot`` and ``report``: the checks of one table, its figures and
its HTML report."""
from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import UTC, datetime

from pumpsim import api
from pumpsim.cli.options import (
    EXIT_INPUT,
    EXIT_OK,
    SlowNotice,
    add_format,
    add_profile,
    add_runs_seed,
    add_table,
    destination,
    emit,
    inputs,
    note,
    positive_int,
    shown,
    write_figures,
    write_output,
)


def cmd_validate(args: argparse.Namespace) -> int:
    result = api.validate(api.load_table(args.table, args.profile))
    if args.plot and write_figures(args, result, args.plot, "--plot") != EXIT_OK:
        return EXIT_INPUT
    return emit(result, args.format)


def cmd_simulate(args: argparse.Namespace) -> int:
    loaded = api.load_table(args.table, args.profile)
    table = loaded.table
    bar = None
    if table.variability is None:
        note(f"{args.table} has no [variability] section: every run is the nominal one, so one run is exact and "
             "the Monte-Carlo runs add nothing (fix: add [variability] to draw the pump's accuracy and the refill "
             "delays; docs/SIMULATION.md)")
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm  # only for people watching a terminal

        from pumpsim.sim.montecarlo import DEFAULT_RUNS
        total = args.runs or (table.variability.runs if table.variability and table.variability.runs else DEFAULT_RUNS)
        bar = tqdm(total=total, unit="run", file=sys.stderr, mininterval=0.5)

    def progress(done: int, total: int) -> None:
        wait.progress()
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    with SlowNotice("simulate") as wait:
        result = api.simulate(loaded, runs=args.runs, seed=args.seed, workers=args.workers, progress=progress,
                              dask=args.dask, engine=args.engine)
    if bar is not None:
        bar.close()
    if args.plot and write_figures(args, result.validation, args.plot, "--plot", result.montecarlo) != EXIT_OK:
        return EXIT_INPUT
    return emit(result, args.format)


def cmd_plot(args: argparse.Namespace) -> int:
    loaded = api.load_table(args.table, args.profile)  # bad input: exit 2 before any folder is made
    return write_figures(args, api.validate(loaded), args.output, "-o")


def cmd_report(args: argparse.Namespace) -> int:
    from pumpsim.render.html import command_line  # the report's rendering: only for this command

    dest = destination(args.output, inputs(args, args.records, args.patient), stdout=True)  # exit 2, nothing written
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with SlowNotice("report --simulate") if args.simulate else contextlib.nullcontext():
        rep = api.report(args.table, args.profile, patient=args.patient, records=args.records, simulate=args.simulate,
                         runs=args.runs, seed=args.seed, command=command_line(sys.argv, args), made=made)
    write_output(dest, rep.html, private=rep.private)  # a patient file or a pump's records: created 0600
    parts = "; ".join(f"{name} {verdict}" for name, verdict in rep.parts)
    where = shown(dest)
    note(f"wrote {where} ({rep.verdict}: {parts})" if len(rep.parts) > 1 else f"wrote {where} ({rep.verdict})")
    return rep.exit_status


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="static and worst-case checks of one table")
    add_table(v)
    add_profile(v)
    add_format(v)
    v.add_argument("--plot", metavar="DIR", help="also write the figures (PNG and SVG) into DIR")
    v.set_defaults(func=cmd_validate)

    sm = sub.add_parser("simulate", help="Monte-Carlo runs over the [variability] section, with every check of validate")
    add_table(sm)
    add_runs_seed(sm)
    sm.add_argument("--workers", type=positive_int, help="threads (default: all cores)")
    add_profile(sm)
    add_format(sm)
    sm.add_argument("--quiet", action="store_true", help="no progress bar")
    sm.add_argument("--plot", metavar="DIR", help="also write the figures, with the Monte-Carlo distributions, into DIR")
    sm.add_argument("--engine", choices=api.ENGINES, default="numba",
                    help="reference: every run by the plain-Python reference engine (same numbers, much slower)")
    sm.add_argument("--dask", metavar="ADDRESS", help="run the chunks on a Dask cluster: 'local' (worker processes on "
                    "this machine) or a scheduler address such as tcp://host:8786 (pip install 'pumpsim[dask]')")
    sm.set_defaults(func=cmd_simulate)

    pl = sub.add_parser("plot", help="figures of a table: reservoir over time, rolling 24 h doses against the ceilings")
    add_table(pl)
    pl.add_argument("-o", "--output", required=True, help="folder for the PNG and SVG files")
    add_profile(pl)
    pl.set_defaults(func=cmd_plot)

    rp = sub.add_parser("report", help="one self-contained HTML report: verdict, violations, figures, sources")
    add_table(rp)
    rp.add_argument("-o", "--output", required=True, help="HTML file to write (atomically; never the input)")
    add_profile(rp)
    rp.add_argument("--simulate", action="store_true", help="also run the Monte-Carlo simulation (risks and their figure)")
    rp.add_argument("--patient", metavar="PATIENT.toml", help="also check this patient file's care pathway against the "
                    "table and add its timeline figure")
    add_runs_seed(rp, prefix="with --simulate: ")
    rp.add_argument("--records", metavar="RECORDS.csv", help="add the telemetry reconciliation of these records "
                    "(pumpsim reconcile) and its figure")
    rp.epilog = ("The report's verdict and exit status are the worst of every part it holds (the table's checks, "
                 "the telemetry records, the care pathway): exit 1 if any part has a hard violation.")
    rp.set_defaults(func=cmd_report)
