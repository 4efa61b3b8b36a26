"""``devices``, ``profiles``, ``rules`` and ``sources``: what the data library holds."""
from __future__ import annotations

import argparse
import sys

from pumpsim.cli.options import EXIT_OK, add_format, dump

# the data library and the rule catalogue are read inside each command: importing them costs every
# other command's start-up (the typed model, units, TOML)


def cmd_devices(args: argparse.Namespace) -> int:
    from pumpsim.io.library import device_library

    devs = device_library()
    if args.format == "json":
        print(dump(devs))
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


def _sourced(values: dict) -> dict:
    return {k: {"value": s.text, "source": s.source, "verified": s.verified} for k, s in values.items()}


def cmd_profiles(args: argparse.Namespace) -> int:
    from pumpsim.io.library import load_profile, shipped_profiles

    names = [args.name] if args.name else shipped_profiles()
    profs = [load_profile(n) for n in names]
    if args.format == "json":
        print(dump({p.name: {"title": p.title, "general": _sourced(p.general),
                             "drugs": {d: _sourced(lim) for d, lim in p.drugs.items()},
                             "pathway": None if p.pathway is None else _sourced(p.pathway)} for p in profs}))
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


def by_family() -> dict[str, list]:
    """The catalogue's rules grouped by family, in :data:`pumpsim.rules.kit.FAMILIES` order."""
    from pumpsim.rules.kit import FAMILIES, catalogue

    rules = catalogue().values()
    return {f: [r for r in rules if r.family == f] for f in FAMILIES}


def rules_markdown() -> str:
    """The rule index of docs/RULE-INDEX.md, generated from the catalogue: one table per family."""
    from pumpsim.rules.kit import FAMILIES

    out = []
    for family, rules in by_family().items():
        out += [f"### {family}: {FAMILIES[family]}", "", "| rule | severity | inputs | what it checks | source |",
                "|---|---|---|---|---|"]
        out += [f"| {r.id} | {r.severity} | {r.needs} | {r.checks} | {r.basis} |" for r in rules]
        out.append("")
    return "\n".join(out).rstrip("\n")


def cmd_rules(args: argparse.Namespace) -> int:
    from pumpsim.rules.kit import FAMILIES, catalogue

    if args.format == "json":
        print(dump([r.as_json() for r in catalogue().values()]))
    elif args.format == "markdown":
        print(rules_markdown())
    else:
        for family, rules in by_family().items():
            print(f"{family} ({len(rules)} rules): {FAMILIES[family]}")
            for r in rules:
                print(f"  {r.id:<22} {r.severity:<12} {r.checks}")
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    from pumpsim.io import bibliography

    if args.format == "json":
        print(dump(bibliography.as_json()))
    elif args.format == "bibtex":
        sys.stdout.write(bibliography.as_bibtex())
    elif args.format == "markdown":
        sys.stdout.write(bibliography.as_markdown())
    else:
        sys.stdout.write(bibliography.as_text())
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("devices", help="list the device library")
    add_format(d)
    d.set_defaults(func=cmd_devices)

    pr = sub.add_parser("profiles", help="list the guideline profiles and their limits")
    pr.add_argument("name", nargs="?", help="one profile (a shipped name or a file)")
    add_format(pr)
    pr.set_defaults(func=cmd_profiles)

    r = sub.add_parser("rules", help="list the safety rules of every family (static, simulated, telemetry, pathway, "
                       "program) with their severity, inputs and source")
    add_format(r, "markdown")
    r.set_defaults(func=cmd_rules)

    so = sub.add_parser("sources", help="the bibliography: every document the data cites, and the values citing each")
    add_format(so, "bibtex", "markdown")
    so.set_defaults(func=cmd_sources)
