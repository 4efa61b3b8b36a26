"""``plan`` and ``titrate``: the next refill, and a titration schedule, each written as a table
only if ``validate`` passes it."""
from __future__ import annotations

import argparse
import contextlib

from pumpsim import api
from pumpsim.cli.options import (
    EXIT_HARD,
    EXIT_OK,
    SlowNotice,
    add_format,
    add_profile,
    add_runs_seed,
    command_text,
    count,
    destination,
    emit,
    inputs,
    note,
    probability,
    write_generated,
)


def cmd_plan(args: argparse.Namespace) -> int:
    dest = destination(args.output, inputs(args)) if args.output else None
    loaded = api.load_table(args.table, args.profile)
    with SlowNotice("plan with [variability]") if loaded.table.variability else contextlib.nullcontext():
        res = api.plan(loaded, p_low_alarm=args.p_low_alarm, keep_concentration=args.keep_concentration,
                       runs=args.runs, seed=args.seed, calendar=args.calendar)
    text = res.table_toml(command_text("plan")) if dest is not None else None
    if dest is not None and text is not None:
        if write_generated(dest, text, args.profile, "planned") != EXIT_OK:
            return EXIT_HARD
    elif dest is not None:
        note(f"no plan: {dest} was not written")
    return emit(res, args.format)


def cmd_titrate(args: argparse.Namespace) -> int:
    dest = destination(args.output, inputs(args)) if args.output else None
    res = api.titrate(args.table, args.drug, args.target, args.profile, pace=args.pace, clinic_days=args.clinic_days,
                      clinic_hours=args.clinic_hours)
    text = res.table_toml(command_text("titrate")) if dest is not None else None
    if dest is not None and text is not None:
        if write_generated(dest, text, args.profile, "titrated") != EXIT_OK:
            return EXIT_HARD
    elif dest is not None:
        note(f"no schedule: {dest} was not written")
    return emit(res, args.format)


def register(sub: argparse._SubParsersAction) -> None:
    pn = sub.add_parser("plan", help="plan the last session's refill: the longest safe interval and the mix that gives it")
    pn.add_argument("table", help="programming table (TOML) whose last session holds the refill to plan")
    pn.add_argument("--p-low-alarm", type=probability, default=1e-3, metavar="P",
                    help="with [variability]: the largest allowed fraction of runs reaching the low alarm before the "
                    "next refill (default 0.001)")
    pn.add_argument("--keep-concentration", action="store_true", help="keep the concentrations and the rate; choose "
                    "only the volume and the date")
    pn.add_argument("--calendar", type=count, default=0, metavar="N", help="also list the next N refill dates with volumes")
    add_runs_seed(pn, prefix="with [variability]: ", runs_what="Monte-Carlo runs")
    add_profile(pn)
    add_format(pn)
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
    add_profile(tt)
    add_format(tt)
    tt.add_argument("-o", "--output", metavar="TITRATED.toml", help="write the table with the schedule appended "
                    "(atomically; only if validate passes it)")
    tt.set_defaults(func=cmd_titrate)
