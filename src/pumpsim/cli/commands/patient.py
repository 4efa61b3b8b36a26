"""``pathway`` and ``program``: a patient's care pathway, and a ketamine or esketamine program."""
from __future__ import annotations

import argparse

from pumpsim import api
from pumpsim.cli.options import add_format, add_profile, emit


def cmd_pathway(args: argparse.Namespace) -> int:
    return emit(api.check_pathway(args.patient, args.table, args.profile), args.format)


def cmd_program(args: argparse.Namespace) -> int:
    return emit(api.check_program(args.program, args.profile), args.format)


def register(sub: argparse._SubParsersAction) -> None:
    pw = sub.add_parser("pathway", help="check a patient's file against the care pathway (indication, file, delays, "
                        "drug stops, device, first refill)")
    pw.add_argument("patient", help="patient file (TOML, schema pumpsim.patient/1)")
    pw.add_argument("--table", help="programming table: checks its device, first morphine dose and low-alarm date too")
    add_profile(pw, whose="file's")
    add_format(pw)
    pw.set_defaults(func=cmd_pathway)

    pg = sub.add_parser("program", help="check a ketamine or esketamine program (sessions, co-analgesia, reviews, labs)")
    pg.add_argument("program", help="program file (TOML, schema pumpsim.program/1)")
    add_profile(pg, help="guideline profile: a shipped name or a profile file (its [ketamine] section overrides the "
                "program data)")
    add_format(pg)
    pg.set_defaults(func=cmd_program)
