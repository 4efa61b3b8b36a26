"""The documentation in docs/ agrees with the code: rule identifiers, JSON keys, command status.

Directions compared:
- every rule the code knows (the catalogue ``data/rules.toml`` and any ``[[rule]]`` list in a data
  file) is documented in docs/RULES.md;
- every rule docs/RULES.md documents for an implemented command is known to the code, except the
  few in ``PENDING_RULES`` (contract rules another branch is adding right now);
- every JSON key the contract (docs/FORMAT.md §3, §5) shows is emitted, except ``PENDING_KEYS``;
  every key the code emits is named in docs/FORMAT.md (the contract or its §10 extensions);
- a section is marked "(command in development)" exactly when its command is not in the parser.

On merge (how to extend this test):
- when a branch adds a rule listed in ``PENDING_RULES`` or a key in ``PENDING_KEYS``, the test
  fails with "now implemented: remove it from PENDING_*": delete it there (and the "in
  development" words next to it in docs/RULES.md §4);
- when a branch adds `reconcile`, `pathway`, `program` or `titrate`, the test fails until the
  "*(command in development)*" marker is removed from the section's heading in docs/FORMAT.md
  (and docs/RULES.md); its rules must then be known to the code (a ``[[rule]]`` entry in a data
  file, or the identifier in the package source). Add its JSON example to ``JSON_EXAMPLES`` below
  with a function producing the command's real JSON.
"""
from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from pumpsim.cli.main import build_parser, main
from pumpsim.rules.kit import catalogue

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SRC = REPO / "src" / "pumpsim"

#: Contract rules documented for an implemented command whose code is on another branch.
PENDING_RULES: set[str] = set()
#: Contract JSON keys (paths as :func:`paths` writes them) whose code is on another branch.
PENDING_KEYS: set[str] = set()
#: docs/RULES.md section -> the command whose rules it lists.
RULE_SECTIONS = {4: "validate", 5: "pathway", 6: "program", 7: "reconcile"}
#: docs/FORMAT.md section -> the command it specifies.
FORMAT_SECTIONS = {2: "validate", 5: "plan", 6: "reconcile", 7: "pathway", 8: "program", 9: "titrate"}
#: keys whose own keys are drug names (or session numbers): compared as "*"
NAMED_BY_DATA = {"drugs", "p_over_hard_limit", "p_over_hard_limit_ci95", "concentrations", "concentration_unit",
                 "daily_doses", "max_24h_dose", "mix"}
RULE_ID = re.compile(r"\b[A-Z]{2,}(?:-[A-Z0-9]+)+\b")
NOT_RULES = {"UTF-8", "MM-HH"}  # an encoding; "HH:MM-HH:MM"
MARK = "(command in development)"


def commands() -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return set(sub.choices)


def sections(path: Path) -> dict[int, tuple[str, str]]:
    """Section number -> (heading, body) of a markdown file's '## N. ...' sections."""
    text = path.read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"^## (\d+)\.([^\n]*)\n(.*?)(?=^## \d+\.|\Z)", text, re.S | re.M):
        out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


def table_rules(body: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^\| ([A-Z][A-Z0-9]+(?:-[A-Z0-9]+)*) \|", body, re.M)}


def code_rules() -> set[str]:
    """Rule identifiers the code knows: the catalogue, and every [[rule]] id in any data file."""
    ids = set(catalogue())
    root = resources.files("pumpsim.data")

    def walk(folder):
        for e in folder.iterdir():
            if e.is_dir() and not e.name.startswith(("_", ".")):
                walk(e)
            elif e.name.endswith(".toml"):
                raw = tomllib.loads(e.read_text(encoding="utf-8"))
                for r in raw.get("rule", []) if isinstance(raw.get("rule"), list) else []:
                    ids.add(r["id"])
    walk(root)
    return ids


def source_mentions(rule: str) -> bool:
    """The identifier is written as a string literal in the package source."""
    return any(f'"{rule}"' in p.read_text(encoding="utf-8") for p in SRC.rglob("*.py"))


def paths(obj, prefix: str = "") -> set[str]:
    """Every key path of a JSON object: 'a.b', lists as 'a[]', data-named keys as '*'."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = "*" if prefix.rsplit(".", 1)[-1] in NAMED_BY_DATA else k
            p = f"{prefix}.{key}" if prefix else key
            out.add(p)
            out |= paths(v, p)
    elif isinstance(obj, list):
        for v in obj:
            out |= paths(v, prefix + "[]")
    return out


def json_block(section_body: str) -> dict:
    m = re.search(r"```json\n(.*?)```", section_body, re.S)
    assert m, "no ```json block in the section"
    return json.loads(m.group(1))


# --------------------------------------------------------------------------- rule identifiers
def test_every_rule_of_the_code_is_documented():
    documented = set().union(*(table_rules(body) for _, body in sections(DOCS / "RULES.md").values()))
    missing = code_rules() - documented
    assert not missing, f"rules in the code but not in a table of docs/RULES.md: {sorted(missing)}"


def test_every_documented_rule_of_an_implemented_command_is_in_the_code():
    known = code_rules()
    secs = sections(DOCS / "RULES.md")
    have = commands()
    for n, cmd in RULE_SECTIONS.items():
        heading, body = secs[n]
        ids = table_rules(body)
        assert ids, f"docs/RULES.md §{n} lists no rule"
        if cmd not in have:
            assert MARK in heading, f"docs/RULES.md §{n}: `pumpsim {cmd}` does not exist: mark the heading {MARK}"
            continue
        assert MARK not in heading, f"docs/RULES.md §{n}: `pumpsim {cmd}` exists now: remove {MARK!r} from the heading"
        missing = {r for r in ids - known - PENDING_RULES if not source_mentions(r)}
        assert not missing, f"docs/RULES.md §{n} documents rules the code does not know: {sorted(missing)}"
    done = PENDING_RULES & known
    assert not done, f"now implemented: remove {sorted(done)} from PENDING_RULES (and 'in development' in RULES.md)"


def test_rules_named_in_the_contract_are_documented():
    documented = set().union(*(table_rules(body) for _, body in sections(DOCS / "RULES.md").values()))
    text = (DOCS / "FORMAT.md").read_text(encoding="utf-8").replace("-\n", "-")
    named = set(RULE_ID.findall(text)) - NOT_RULES
    assert named, "no rule identifier found in docs/FORMAT.md"
    assert named <= documented, f"docs/FORMAT.md names rules docs/RULES.md does not list: {sorted(named - documented)}"


def test_command_sections_are_marked_in_development_exactly_when_absent():
    secs = sections(DOCS / "FORMAT.md")
    have = commands()
    for n, cmd in FORMAT_SECTIONS.items():
        heading = secs[n][0]
        if cmd in have:
            assert MARK not in heading, f"docs/FORMAT.md §{n}: `pumpsim {cmd}` exists: remove {MARK!r}"
        else:
            assert MARK in heading, f"docs/FORMAT.md §{n}: `pumpsim {cmd}` is not in this version: mark it {MARK}"


def test_docs_link_only_to_files_in_the_repository():
    for md in [REPO / "README.md", *DOCS.glob("*.md")]:
        text = md.read_text(encoding="utf-8")
        assert "../shared" not in text and not re.search(r"\bseed 0\d\d\b", text) and "DOMAIN.md" not in text, md
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            assert (md.parent / target).exists(), f"{md.name}: link to {target}, which is not in the repository"


# --------------------------------------------------------------------------- JSON keys
def report_json(capsys) -> dict:
    # a table with variability (the risk object), two drugs and a violation
    status = main(["simulate", str(REPO / "scenarios" / "variability-late-refills.toml"), "--runs", "200",
                   "--format", "json", "--quiet"])
    assert status == 0
    return json.loads(capsys.readouterr().out)


def plan_json(capsys) -> dict:
    assert main(["plan", str(REPO / "scenarios" / "late-refill.toml"), "--format", "json", "--calendar", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def reconcile_json(capsys) -> dict:
    # a year of records with a 5-day motor stall: intervals, interrogations, a violation, an alarm row
    assert main(["reconcile", str(REPO / "benchmarks" / "tables" / "telemetry-year.toml"),
                 str(REPO / "scenarios" / "records" / "year-stall.csv"), "--format", "json"]) == 1
    return json.loads(capsys.readouterr().out)


def titrate_json(capsys) -> dict:
    # a weekend delays a step; the 14-day first fill of a naive pump forces a refill
    assert main(["titrate", str(REPO / "docs" / "examples" / "ziconotide-start.toml"), "--drug", "ziconotide",
                 "--target", "14.4 mcg/day", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


#: docs/FORMAT.md section -> the function giving the real JSON of that section's example.
JSON_EXAMPLES = {3: report_json, 5: plan_json, 6: reconcile_json, 9: titrate_json}


@pytest.mark.parametrize("section", sorted(JSON_EXAMPLES))
def test_contract_json_keys_are_emitted_and_emitted_keys_documented(section, capsys):
    fmt = sections(DOCS / "FORMAT.md")
    documented = paths(json_block(fmt[section][1]))
    actual = paths(JSON_EXAMPLES[section](capsys))
    missing = documented - actual - PENDING_KEYS
    assert not missing, f"docs/FORMAT.md §{section} shows keys the code does not emit: {sorted(missing)}"
    done = PENDING_KEYS & actual
    assert not done, f"now implemented: remove {sorted(done)} from PENDING_KEYS"
    text = (DOCS / "FORMAT.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Za-z_0-9]+)`", text)) | set(re.findall(r'"([A-Za-z_0-9]+)":', text))
    undocumented = sorted({p for p in actual if p.rsplit(".", 1)[-1].rstrip("[]") not in named | {"*"}})
    assert not undocumented, f"keys emitted but named nowhere in docs/FORMAT.md: {undocumented}"


def test_not_checked_is_in_the_report(capsys):
    # the contract's name for the checks not made (docs/FORMAT.md §3), alongside the older "skipped":
    # a constant-flow pump has no low alarm and no rate range in the library
    assert main(["validate", str(REPO / "scenarios" / "constant-flow-fever.toml"), "--format", "json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["not_checked"] == rep["skipped"]
    assert {"REFILL-LOW-ALARM", "RATE-RANGE"} <= {x["rule"] for x in rep["not_checked"]}
    assert all(set(x) == {"rule", "reason"} for x in rep["not_checked"])
