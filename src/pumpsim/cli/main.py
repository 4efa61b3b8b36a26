"""The ``pumpsim`` command line (FORMAT.md §2).

Exit status for every command: 0 no hard violation, 1 at least one hard violation, 2 invalid
or unreadable input (a message on stderr names the file, the field and the fix; nothing is
written). This is the only module that prints or exits.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pumpsim._version import __version__

EXIT_OK, EXIT_HARD, EXIT_INPUT = 0, 1, 2


def _print_problems(err) -> None:
    files = sorted({p.file for p in err.problems})
    print(f"pumpsim: {len(err.problems)} problem(s) in {', '.join(files)}; nothing was written.", file=sys.stderr)
    for p in err.problems:
        print(f"  {p}", file=sys.stderr)


def _dump(obj) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


def cmd_validate(args: argparse.Namespace) -> int:
    from pumpsim import api

    result = api.validate(api.load_table(args.table, args.profile))
    if args.plot and _write_figures(args, result, args.plot, "--plot") != EXIT_OK:
        return EXIT_INPUT
    sys.stdout.write(_dump(result.as_json()) + "\n" if args.format == "json" else result.text())
    return result.exit_status


def cmd_simulate(args: argparse.Namespace) -> int:
    from pumpsim import api
    from pumpsim.sim import montecarlo

    table = api.load_table(args.table, args.profile)
    bar = None
    show = not args.quiet and sys.stderr.isatty()
    if show:
        from tqdm import tqdm  # only for people watching a terminal
        bar = tqdm(total=args.runs or (table.variability.runs if table.variability and table.variability.runs
                                       else montecarlo.DEFAULT_RUNS), unit="run", file=sys.stderr, mininterval=0.5)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    result = api.simulate(table, runs=args.runs, seed=args.seed, workers=args.workers, progress=progress,
                          dask=args.dask, engine=args.engine)
    if bar is not None:
        bar.close()
    if args.plot and _write_figures(args, result.validation, args.plot, "--plot", result.montecarlo) != EXIT_OK:
        return EXIT_INPUT
    sys.stdout.write(_dump(result.as_json()) + "\n" if args.format == "json" else result.text())
    return result.exit_status


def _write_figures(args: argparse.Namespace, result, folder_arg: str, option: str, mc=None) -> int:
    """The figures of a validation result into a folder (created if needed); exit 2 if it cannot be used."""
    from pathlib import Path

    from pumpsim.io.output import check_destination
    from pumpsim.render.figures import FIGURES, plot_all

    folder = Path(folder_arg)
    inputs = [args.table] + ([args.profile] if args.profile and args.profile.endswith(".toml") else [])
    if folder.exists() and not folder.is_dir():
        print(f"pumpsim: {folder}: {option} must be a folder (fix: give a folder for the figures)", file=sys.stderr)
        return EXIT_INPUT
    folder.mkdir(parents=True, exist_ok=True)
    for name in FIGURES:
        for ext in ("png", "svg"):
            check_destination(folder / f"{name}.{ext}", inputs, option)
    for path in plot_all(result, folder, mc):
        print(f"pumpsim: wrote {path}", file=sys.stderr)
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    from pumpsim import api

    table = api.load_table(args.table, args.profile)  # bad input: exit 2 before any folder is made
    return _write_figures(args, api.validate(table), args.output, "-o")


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pumpsim import api
    from pumpsim.io.output import check_destination, write_atomic
    from pumpsim.render.html import build_figures, command_line, render_html

    inputs = [args.table] + ([args.profile] if args.profile and args.profile.endswith(".toml") else [])
    inputs += [args.records] if args.records else []
    dest = check_destination(args.output, inputs + ([args.patient] if args.patient else []))  # exit 2, nothing written
    table = api.load_table(args.table, args.profile)
    rec = None
    if args.records:
        from pumpsim.io.records import read_records
        from pumpsim.telemetry.reconcile import reconcile

        rec = reconcile(table, read_records(args.records), args.records)
    result = api.validate(table)
    pathway = None
    if args.patient:  # the patient's care pathway, judged with this table (its device, dose, low alarm)
        from pumpsim.io.patient import read_patient
        from pumpsim.pathway.rules import check

        pathway = check(*read_patient(args.patient, args.profile), table, programmed=result.programmed)
    mc = None
    if args.simulate:  # the risks of the runs, added to the same result (no case simulated again)
        mc = api.simulate(result, runs=args.runs, seed=args.seed).montecarlo
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    figures = build_figures(result, mc)
    if pathway is not None:
        from pumpsim.render.html import pathway_figure

        figures += [f for f in (pathway_figure(pathway),) if f is not None]
    if rec is not None:
        from pumpsim.render.html import records_figure

        figures.append(records_figure(rec))
    report = result.report
    write_atomic(dest, render_html(report, figures, command_line(sys.argv, args), made))
    print(f"pumpsim: wrote {dest} ({report.verdict}" + (f"; pathway {pathway.verdict}" if pathway else "") + ")",
          file=sys.stderr)
    return max(report.exit_status, pathway.exit_status if pathway else 0)


def cmd_bench(args: argparse.Namespace) -> int:
    from pumpsim.dev import bench

    r = bench.run(runs=args.runs, reference_runs=args.reference_runs)
    sys.stdout.write(_dump(r) + "\n" if args.json else bench.render(r))
    return EXIT_OK


def cmd_regress(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pumpsim.dev import regress

    root, golden = Path(args.dir), Path(args.golden)
    if not root.is_dir():
        print(f"pumpsim: {root}: not a folder (fix: give the folder of tables, e.g. scenarios/)", file=sys.stderr)
        return EXIT_INPUT
    if not golden.is_dir() and not args.update:
        print(f"pumpsim: {golden}: no golden folder (fix: create it with --update)", file=sys.stderr)
        return EXIT_INPUT
    text, status = regress.render(regress.run(root, golden, args.update), args.update)
    sys.stdout.write(text)
    return status


def cmd_telemetry(args: argparse.Namespace) -> int:
    from pumpsim.io.output import check_destination, write_atomic
    from pumpsim.io.tables import read_table
    from pumpsim.model.results import Scenario
    from pumpsim.sim import simulation
    from pumpsim.telemetry.eventlog import to_csv

    inputs = [args.table] + ([args.profile] if args.profile and args.profile.endswith(".toml") else [])
    dest = check_destination(args.output, inputs)
    table, _ = read_table(args.table, args.profile)
    if args.records:
        from pumpsim.io.records import write_records
        from pumpsim.telemetry.synthetic import parse_faults, records

        rows = records(table, parse_faults(args.fault or [], table), args.seed or 0)
        write_atomic(dest, write_records(rows))
        print(f"pumpsim: wrote {len(rows)} records (seed {args.seed or 0}, {len(args.fault or [])} fault(s)) to {dest}",
              file=sys.stderr)
        return EXIT_OK
    if args.fault or args.seed is not None:
        print("pumpsim: --fault and --seed need --records (fix: add --records)", file=sys.stderr)
        return EXIT_INPUT
    scenario = Scenario.worst(float(table.device.accuracy.value)) if args.case == "worst" else Scenario.nominal()
    result = simulation.simulate(table, scenario)
    write_atomic(dest, to_csv(table, result))
    print(f"pumpsim: wrote {len(result.event_t)} events ({args.case} case) to {dest}", file=sys.stderr)
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    from pumpsim.io.records import read_records
    from pumpsim.io.tables import read_table
    from pumpsim.telemetry.reconcile import reconcile, render_text

    table, _ = read_table(args.table, args.profile)
    rec = reconcile(table, read_records(args.records), args.records)  # bad rows: exit 2 before any output
    if args.plot:
        from pathlib import Path

        from pumpsim.io.output import check_destination, write_atomic
        from pumpsim.render.telemetry_figure import figure_png, figure_svg

        folder = Path(args.plot)
        if folder.exists() and not folder.is_dir():
            print(f"pumpsim: {folder}: --plot must be a folder (fix: give a folder for the figure)", file=sys.stderr)
            return EXIT_INPUT
        folder.mkdir(parents=True, exist_ok=True)
        for ext, draw in (("png", figure_png), ("svg", figure_svg)):
            dest = check_destination(folder / f"reconcile.{ext}", [args.table, args.records], "--plot")
            write_atomic(dest, draw(rec))
            print(f"pumpsim: wrote {dest}", file=sys.stderr)
    sys.stdout.write(_dump(rec.as_json()) + "\n" if args.format == "json" else render_text(rec))
    return rec.exit_status


def cmd_devices(args: argparse.Namespace) -> int:
    from pumpsim.io.library import device_library

    devs = device_library()
    if args.format == "json":
        print(_dump(devs))
        return EXIT_OK
    for name, d in devs.items():
        print(f"{name}: {d['title']} ({d['kind']}; routes {', '.join(d['routes'])})")
        for key in ("reservoir", "low_alarm", "accuracy", "rate_min", "rate_max", "dead_volume", "pulse_volume"):
            if key in d:
                v = d[key]
                flag = "verified" if v["verified"] else "UNVERIFIED"
                print(f"    {key:<12} {v['value']:<14} [{flag}] {v['source']}")
            elif key in ("low_alarm", "rate_min", "rate_max", "dead_volume"):
                print(f"    {key:<12} {'(none)':<14} give pump.{key} in the table to check it")
        if d.get("notes"):
            print(f"    notes: {d['notes']}")
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace) -> int:
    from pumpsim.io.library import load_profile, shipped_profiles

    names = [args.name] if args.name else shipped_profiles()
    profs = [load_profile(n) for n in names]
    if args.format == "json":
        print(_dump({p.name: {"title": p.title,
                              "general": {k: {"value": s.text, "source": s.source, "verified": s.verified}
                                          for k, s in p.general.items()},
                              "drugs": {d: {k: {"value": s.text, "source": s.source, "verified": s.verified}
                                            for k, s in lim.items()} for d, lim in p.drugs.items()},
                              "pathway": None if p.pathway is None else {
                                  k: {"value": s.text, "source": s.source, "verified": s.verified} for k, s in p.pathway.items()}}
                     for p in profs}))
        return EXIT_OK
    for p in profs:
        print(f"{p.name}: {p.title}")
        for k, s in p.general.items():
            print(f"    {k:<28} {s.text:<14} [{'verified' if s.verified else 'UNVERIFIED'}] {s.source}")
        for d, lim in p.drugs.items():
            print(f"  {d}")
            for k, s in lim.items():
                print(f"    {k:<28} {s.text:<14} [{'verified' if s.verified else 'UNVERIFIED'}] {s.source}")
        print("  care pathway" + ("" if p.pathway is not None else ": no [pathway] section (pumpsim pathway judges no PATH rule)"))
        for k, s in (p.pathway or {}).items():
            print(f"    {k:<28} {s.text:<14} [{'verified' if s.verified else 'UNVERIFIED'}] {s.source}")
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from pumpsim.rules.kit import catalogue

    rules = catalogue()
    if args.format == "json":
        print(_dump([r.__dict__ for r in rules.values()]))
    elif args.format == "markdown":
        print(rules_markdown())
    else:
        for r in rules.values():
            print(f"{r.id:<22} {r.severity:<12} {r.checks}")
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    from pumpsim.io import bibliography

    if args.format == "json":
        print(_dump(bibliography.as_json()))
    elif args.format == "bibtex":
        sys.stdout.write(bibliography.as_bibtex())
    elif args.format == "markdown":
        sys.stdout.write(bibliography.as_markdown())
    else:
        sys.stdout.write(bibliography.as_text())
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    import shlex
    import tomllib
    from pathlib import Path

    from pumpsim import api
    from pumpsim.io.output import check_destination
    from pumpsim.planning.plan import describe, planned_toml

    inputs = [args.table] + ([args.profile] if args.profile and args.profile.endswith(".toml") else [])
    dest = check_destination(args.output, inputs) if args.output else None
    table = api.load_table(args.table, args.profile)
    res = api.plan(table, p_low_alarm=args.p_low_alarm, keep_concentration=args.keep_concentration,
                   runs=args.runs, seed=args.seed)
    if dest is not None and res.planned is not None:
        command = "pumpsim " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "pumpsim plan"
        raw = tomllib.loads(Path(args.table).read_text(encoding="utf-8"))
        if _write_if_valid(dest, planned_toml(raw, table, res, args.table, command), args.profile, "planned") != EXIT_OK:
            return EXIT_HARD
    elif dest is not None:
        print(f"pumpsim: no plan: {dest} was not written", file=sys.stderr)
    sys.stdout.write(_dump(res.as_json(args.calendar)) + "\n" if args.format == "json" else describe(res, args.calendar))
    return res.exit_status


def _write_if_valid(dest, text: str, profile_arg: str | None, what: str) -> int:
    """Write a generated table (plan -o, titrate -o) only if ``validate`` gives it exit 0: never
    a table the command promised would pass. Returns validate's exit status."""
    from pumpsim import api
    from pumpsim.io.output import write_atomic
    from pumpsim.io.tables import parse_table_bytes

    check, check_profile = parse_table_bytes(text.encode("utf-8"), str(dest), profile_arg)
    status = api.validate(check, check_profile).exit_status
    if status != EXIT_OK:
        print(f"pumpsim: the {what} table does not pass validate (exit {status}); nothing was written", file=sys.stderr)
        return status
    write_atomic(dest, text)
    print(f"pumpsim: wrote {dest} (pumpsim validate {dest}: exit {status})", file=sys.stderr)
    return status


def cmd_titrate(args: argparse.Namespace) -> int:
    import shlex
    import tomllib
    from pathlib import Path

    from pumpsim.io.output import check_destination
    from pumpsim.io.tables import read_table
    from pumpsim.planning.titrate import describe, parse_options, titrate, titrated_toml

    inputs = [args.table] + ([args.profile] if args.profile and args.profile.endswith(".toml") else [])
    dest = check_destination(args.output, inputs) if args.output else None
    target, clinic = parse_options(args.table, args.drug, args.target, args.clinic_days, args.clinic_hours)
    table, profile = read_table(args.table, args.profile)
    res = titrate(table, profile, args.drug, target, pace=args.pace, clinic=clinic)
    if dest is not None and res.titrated is not None:
        command = "pumpsim " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "pumpsim titrate"
        raw = tomllib.loads(Path(args.table).read_text(encoding="utf-8"))
        if _write_if_valid(dest, titrated_toml(raw, res, args.table, command), args.profile, "titrated") != EXIT_OK:
            return EXIT_HARD
    elif dest is not None:
        print(f"pumpsim: no schedule: {dest} was not written", file=sys.stderr)
    sys.stdout.write(_dump(res.as_json()) + "\n" if args.format == "json" else describe(res))
    return res.exit_status


def cmd_pathway(args: argparse.Namespace) -> int:
    from pumpsim.io.patient import read_patient
    from pumpsim.io.tables import read_table
    from pumpsim.model.errors import InputError
    from pumpsim.pathway.rules import check, render_text

    problems = []
    patient = profile = table = None
    try:
        patient, profile = read_patient(args.patient, args.profile)
    except InputError as e:
        problems += e.problems
    if args.table:
        try:
            table, _ = read_table(args.table, args.profile)
        except InputError as e:
            problems += e.problems
    if problems:  # every problem of both files at once
        raise InputError(problems)
    report = check(patient, profile, table)
    sys.stdout.write(_dump(report.as_json()) + "\n" if args.format == "json" else render_text(report))
    return report.exit_status


def cmd_program(args: argparse.Namespace) -> int:
    from pumpsim.io.programs import read_program
    from pumpsim.programs.report import judge, render_text

    report = judge(read_program(args.program, args.profile))
    sys.stdout.write(_dump(report.as_json()) + "\n" if args.format == "json" else render_text(report))
    return report.exit_status


def _probability(text: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= p < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a probability from 0 up to (not including) 1, e.g. 0.001")
    return p


def rules_markdown() -> str:
    """The rule table of the README, generated from ``data/rules.toml``."""
    from pumpsim.rules.kit import catalogue

    lines = ["| rule | severity | computed from | what it checks | basis |", "|---|---|---|---|---|"]
    for r in catalogue().values():
        lines.append(f"| {r.id} | {r.severity} | {r.needs} | {r.checks} | {r.basis} |")
    return "\n".join(lines)


def _whole(text: str, low: int, high: int, hint: str) -> int:
    """A whole number in [low, high] from the command line (argparse exits 2 with ``hint`` otherwise)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= n <= high:
        raise argparse.ArgumentTypeError(f"{text!r}: {hint}")
    return n


def _positive_int(text: str) -> int:
    return _whole(text, 1, 2**63 - 1, "give a number of at least 1")


def _count(text: str) -> int:
    return _whole(text, 0, 2**63 - 1, "give 0 or more")


def _seed(text: str) -> int:
    return _whole(text, 0, 2**63 - 1, "give a seed between 0 and 2**63 - 1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pumpsim", description="Check and simulate intrathecal pump programming "
                                "tables (decision support, not a medical device).")
    p.add_argument("--version", action="version", version=f"pumpsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    v = sub.add_parser("validate", help="static and worst-case checks of one table")
    v.add_argument("table", help="programming table (TOML)")
    v.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the table's)")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.add_argument("--plot", metavar="DIR", help="also write the figures (PNG and SVG) into DIR")
    v.set_defaults(func=cmd_validate)

    sm = sub.add_parser("simulate", help="Monte-Carlo runs over the [variability] section, with every check of validate")
    sm.add_argument("table", help="programming table (TOML)")
    sm.add_argument("--runs", type=_positive_int, help="number of runs (default: the table's, else 10000)")
    sm.add_argument("--seed", type=_seed, help="random seed (default: the table's, else 0)")
    sm.add_argument("--workers", type=_positive_int, help="threads (default: all cores)")
    sm.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the table's)")
    sm.add_argument("--format", choices=("text", "json"), default="text")
    sm.add_argument("--quiet", action="store_true", help="no progress bar")
    sm.add_argument("--plot", metavar="DIR", help="also write the figures, with the Monte-Carlo distributions, into DIR")
    sm.add_argument("--engine", choices=("numba", "reference"), default="numba",
                    help="reference: every run by the plain-Python reference engine (same numbers, much slower)")
    sm.add_argument("--dask", metavar="ADDRESS", help="run the chunks on a Dask cluster: 'local' (worker processes on "
                    "this machine) or a scheduler address such as tcp://host:8786 (pip install 'pumpsim[dask]')")
    sm.set_defaults(func=cmd_simulate)

    pl = sub.add_parser("plot", help="figures of a table: reservoir over time, rolling 24 h doses against the ceilings")
    pl.add_argument("table", help="programming table (TOML)")
    pl.add_argument("-o", "--output", required=True, help="folder for the PNG and SVG files")
    pl.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the table's)")
    pl.set_defaults(func=cmd_plot)

    rp = sub.add_parser("report", help="one self-contained HTML report: verdict, violations, figures, sources")
    rp.add_argument("table", help="programming table (TOML)")
    rp.add_argument("-o", "--output", required=True, help="HTML file to write (atomically; never the input)")
    rp.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the table's)")
    rp.add_argument("--simulate", action="store_true", help="also run the Monte-Carlo simulation (risks and their figure)")
    rp.add_argument("--patient", metavar="PATIENT.toml", help="also check this patient file's care pathway against the "
                    "table and add its timeline figure (exit 1 if either has a hard violation)")
    rp.add_argument("--runs", type=_positive_int, help="with --simulate: number of runs (default: the table's, else 10000)")
    rp.add_argument("--seed", type=_seed, help="with --simulate: random seed (default: the table's, else 0)")
    rp.add_argument("--records", metavar="RECORDS.csv", help="add the telemetry reconciliation figure of these records "
                    "(pumpsim reconcile)")
    rp.set_defaults(func=cmd_report)

    bn = sub.add_parser("bench", help="the Numba engine and the plain-Python reference on one workload: speeds and ratio")
    bn.add_argument("--runs", type=_positive_int, default=2000, help="scenarios for the Numba engine (default 2000)")
    bn.add_argument("--reference-runs", type=_positive_int, default=20, help="scenarios for the reference (default 20)")
    bn.add_argument("--json", action="store_true", help="JSON on stdout")
    bn.set_defaults(func=cmd_bench)

    rg = sub.add_parser("regress", help="run every table of a folder and compare the reports with stored goldens")
    rg.add_argument("dir", help="folder of tables (searched recursively)")
    rg.add_argument("--golden", required=True, help="folder of golden reports (JSON)")
    rg.add_argument("--update", action="store_true", help="rewrite the goldens after a reviewed change")
    rg.set_defaults(func=cmd_regress)

    tl = sub.add_parser("telemetry", help="write the telemetry log of a simulated run (CSV)")
    tl.add_argument("table", help="programming table (TOML)")
    tl.add_argument("-o", "--output", required=True, help="CSV file to write (atomically; never the input)")
    tl.add_argument("--case", choices=("nominal", "worst"), default="worst",
                    help="nominal: exact pump, no bolus; worst: fast pump, every bolus allowed (default)")
    tl.add_argument("--profile", help="guideline profile (a shipped name or a file)")
    tl.add_argument("--records", action="store_true", help="write the records a pump would report instead "
                    "(refill, interrogation, alarm rows; the CSV that `pumpsim reconcile` reads)")
    tl.add_argument("--seed", type=_seed, help="with --records: seed of the one run's draws (default 0)")
    tl.add_argument("--fault", action="append", metavar="SPEC", help="with --records: inject a fault, e.g. "
                    "over:1.3@2027-01-10, stall@2027-01-10T14:00/36h, occlusion@2027-01-10, pocket:2mL@2027-02-02, "
                    "program:1.25@2026-12-03 (repeatable; docs/TELEMETRY.md)")
    tl.set_defaults(func=cmd_telemetry)

    rc = sub.add_parser("reconcile", help="compare a pump's telemetry records (CSV) with its table: delivery per refill, "
                        "displayed estimates, bolus counts (rules TEL-*)")
    rc.add_argument("table", help="programming table (TOML) that was meant to run on the pump")
    rc.add_argument("records", help="records CSV: time,event,volume_mL,estimate_mL,boluses,note (docs/TELEMETRY.md)")
    rc.add_argument("--format", choices=("text", "json"), default="text")
    rc.add_argument("--plot", metavar="DIR", help="also write the figure (ratios per refill, drift statistic) into DIR")
    rc.add_argument("--profile", help="guideline profile (a shipped name or a file)")
    rc.set_defaults(func=cmd_reconcile)

    d = sub.add_parser("devices", help="list the device library")
    d.add_argument("--format", choices=("text", "json"), default="text")
    d.set_defaults(func=cmd_devices)

    pr = sub.add_parser("profiles", help="list the guideline profiles and their limits")
    pr.add_argument("name", nargs="?", help="one profile (a shipped name or a file)")
    pr.add_argument("--format", choices=("text", "json"), default="text")
    pr.set_defaults(func=cmd_profiles)

    r = sub.add_parser("rules", help="list the safety rules")
    r.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    r.set_defaults(func=cmd_rules)

    so = sub.add_parser("sources", help="the bibliography: every document the data cites, and the values citing each")
    so.add_argument("--format", choices=("text", "json", "bibtex", "markdown"), default="text")
    so.set_defaults(func=cmd_sources)

    pn = sub.add_parser("plan", help="plan the last session's refill: the longest safe interval and the mix that gives it")
    pn.add_argument("table", help="programming table (TOML) whose last session holds the refill to plan")
    pn.add_argument("--p-low-alarm", type=_probability, default=1e-3, metavar="P",
                    help="with [variability]: the largest allowed fraction of runs reaching the low alarm before the "
                    "next refill (default 0.001)")
    pn.add_argument("--keep-concentration", action="store_true", help="keep the concentrations and the rate; choose "
                    "only the volume and the date")
    pn.add_argument("--calendar", type=_count, default=0, metavar="N", help="also list the next N refill dates with volumes")
    pn.add_argument("--runs", type=_positive_int, help="Monte-Carlo runs with [variability] (default: the table's, else 10000)")
    pn.add_argument("--seed", type=_seed, help="random seed with [variability] (default: the table's, else 0)")
    pn.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the table's)")
    pn.add_argument("--format", choices=("text", "json"), default="text")
    pn.add_argument("-o", "--output", metavar="PLANNED.toml", help="write the table with the plan in it (atomically; "
                    "only if validate passes it)")
    pn.set_defaults(func=cmd_plan)

    tt = sub.add_parser("titrate", help="the fastest compliant titration schedule of one drug, with its refills")
    tt.add_argument("table", help="programming table (TOML); the schedule starts after its last session")
    tt.add_argument("--drug", required=True, help="the drug to titrate (its profile gives titration limits)")
    tt.add_argument("--target", required=True, metavar="DOSE", help='the programmed daily dose to reach, e.g. "9.6 mcg/day"')
    tt.add_argument("--pace", choices=("fast", "slow"), default="fast", help="the profile's start and steps (fast, "
                    "default) or its slow schedule")
    tt.add_argument("--clinic-days", default="Mon,Tue,Wed,Thu,Fri", metavar="Mon,Tue,...", help="days sessions can be "
                    "held (default Mon-Fri; no public holidays)")
    tt.add_argument("--clinic-hours", default="09:00-17:00", metavar="HH:MM-HH:MM", help="clinic hours, both ends "
                    "included (default 09:00-17:00)")
    tt.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the table's)")
    tt.add_argument("--format", choices=("text", "json"), default="text")
    tt.add_argument("-o", "--output", metavar="TITRATED.toml", help="write the table with the schedule appended "
                    "(atomically; only if validate passes it)")
    tt.set_defaults(func=cmd_titrate)

    pw = sub.add_parser("pathway", help="check a patient's file against the care pathway (indication, file, delays, "
                        "drug stops, device, first refill)")
    pw.add_argument("patient", help="patient file (TOML, schema pumpsim.patient/1)")
    pw.add_argument("--table", help="programming table: checks its device, first morphine dose and low-alarm date too")
    pw.add_argument("--profile", help="guideline profile: a shipped name or a profile file (overrides the file's)")
    pw.add_argument("--format", choices=("text", "json"), default="text")
    pw.set_defaults(func=cmd_pathway)

    pg = sub.add_parser("program", help="check a ketamine or esketamine program (sessions, co-analgesia, reviews, labs)")
    pg.add_argument("program", help="program file (TOML, schema pumpsim.program/1)")
    pg.add_argument("--profile", help="guideline profile: a shipped name or a profile file (its [ketamine] section "
                    "overrides the program data)")
    pg.add_argument("--format", choices=("text", "json"), default="text")
    pg.set_defaults(func=cmd_program)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from pumpsim.model.errors import InputError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as e:
        _print_problems(e)
        return EXIT_INPUT
    except BrokenPipeError:  # e.g. `pumpsim devices | head`
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("pumpsim: interrupted; nothing was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
