"""The documentation in docs/ agrees with the code: rule identifiers, JSON keys, command status.

Directions compared:
- every rule the code knows (the catalogue ``data/rules.toml`` and any ``[[rule]]`` list in a data
  file) is documented in docs/RULES.md;
- every rule docs/RULES.md documents for an implemented command is known to the code, except the
  few in ``PENDING_RULES`` (contract rules another branch is adding right now);
- every JSON key the contract (docs/FORMAT.md §3, §5) shows is emitted, except ``PENDING_KEYS``;
  every key the code emits is named in docs/FORMAT.md (the contract or its §13 extensions);
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
import os
import re
import shlex
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
FORMAT_SECTIONS = {2: "validate", 5: "plan", 6: "reconcile", 7: "pathway", 8: "program", 9: "titrate", 10: "fleet",
                   11: "serve"}
#: keys whose own keys are drug names (or session numbers): compared as "*"
NAMED_BY_DATA = {"drugs", "p_over_hard_limit", "p_over_hard_limit_ci95", "concentrations", "concentration_unit",
                 "daily_doses", "max_24h_dose", "mix"}
RULE_ID = re.compile(r"\b[A-Z]{2,}(?:-[A-Z0-9]+)+\b")
NOT_RULES = {"UTF-8", "MM-HH", "SHA-256"}  # an encoding; "HH:MM-HH:MM"; a hash
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


# --------------------------------------------------------------------------- the README, a front door
def readme_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def test_the_readme_is_a_front_door_with_the_two_set_up_commands_of_ci():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert "not a medical device" in readme
    setup = readme_blocks("sh")[:2]
    assert len(setup) == 2
    install, tests = (block.strip() for block in setup)
    # both activate the venv, so that the bare `pumpsim` of every later example is the one installed
    for cmd in (install, tests):
        assert cmd.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install ")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert install.endswith("pip install . && pumpsim validate scenarios/example.toml")
    assert "validate scenarios/example.toml" in ci and '".[test]"' in ci
    assert tests.endswith("pip install '.[test]' && python -m pytest") and "-m pytest" in ci
    # no later example calls the venv's pumpsim by its path while others call it bare
    assert ".venv/bin/pumpsim validate" not in readme


def test_every_command_the_readme_runs_parses():
    from pumpsim.cli.main import build_parser

    lines = [line.split("#")[0].strip() for block in readme_blocks("sh") for line in block.splitlines()]
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("pumpsim ")]
    assert len(commands) >= 7
    parser = build_parser()
    for argv in commands:
        args, extra = parser.parse_known_args(argv)
        assert not extra, argv
        assert all(Path(REPO, a).exists() for a in argv if a.endswith((".toml", ".csv")) and a != "report.html"), argv


def test_the_readme_python_example_runs_and_says_what_it_prints(tmp_path, monkeypatch):
    (code,) = readme_blocks("python")
    monkeypatch.chdir(REPO)
    code = code.replace('savefig("reservoir.png")', f'savefig({str(tmp_path / "reservoir.png")!r})')
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    assert (scope["result"].verdict, scope["result"].exit_status) == ("warn", 0)
    assert "# ('warn', 0)" in code
    table, profile = scope["loaded"]
    assert (table.path, profile.name) == ("scenarios/late-refill.toml", "fr-ait-2020")
    assert (tmp_path / "reservoir.png").stat().st_size > 0


def test_the_api_doc_example_says_what_it_gives(monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", (DOCS / "API.md").read_text(encoding="utf-8"), re.S)
    monkeypatch.chdir(REPO)
    code = code.replace('.savefig("reservoir.png")', "")
    scope: dict = {}
    exec(compile(code, "API.md", "exec"), scope)  # noqa: S102 - the doc's own example
    assert scope["result"].verdict == "warn" and scope["plan"].interval_days == 31
    v = scope["v"]
    assert (v.at.isoformat(), round(v.value, 4), v.unit) == ("2027-01-05T07:25:41", 3.0655, "day")
    rec = scope["rec"]
    assert (rec.verdict, {x.rule for x in rec.violations if x.severity == "hard"}) == ("fail", {"TEL-UNDER-INFUSION"})
    assert 0 < scope["sim"].p_empty < 1


# --------------------------------------------------------------------------- outputs shown in the docs
SHOWN_IN = tuple(str(p.relative_to(REPO)) for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
                 if re.search(r"^\$ pumpsim ", p.read_text(encoding="utf-8"), re.M))


def test_the_docs_that_show_outputs_are_all_checked():
    assert {"README.md", "docs/GUIDE.md", "docs/PROGRAMS.md"} <= set(SHOWN_IN), SHOWN_IN


def shown_runs(md: str) -> list[tuple[str, int | None, list[str]]]:
    """(command, exit status shown or None, lines shown) of every ``$ pumpsim ...`` in a text block."""
    runs: list[list] = []
    text = (REPO / md).read_text(encoding="utf-8")
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        for line in block.splitlines():
            if line.startswith("$ echo $?"):
                runs[-1].append("echo")
            elif line.startswith("$ "):
                cmd, _, comment = line[2:].partition("#")
                m = re.search(r"exit (\d)", comment)
                runs.append([cmd.strip(), int(m.group(1)) if m else None, []])
            elif runs and runs[-1][-1] == "echo":
                runs[-1] = [runs[-1][0], int(line), runs[-1][2]]
            elif runs:
                runs[-1][2].append(line)
    return [tuple(r) for r in runs]


def matches(shown: str, actual: str) -> bool:
    if "(...)" in shown:
        return re.fullmatch(".*".join(re.escape(p) for p in shown.split("(...)")), actual) is not None
    return shown.rstrip() == actual.rstrip()


def follows(shown: list[str], actual: list[str]) -> str | None:
    """None when every shown line is printed, in order, '...' standing for lines left out; else why not."""
    i, skip = 0, False
    for line in shown:
        if line.strip() == "...":
            skip = True
            continue
        while i < len(actual) and not matches(line, actual[i]):
            if not skip:
                return f"shown {line!r}, printed {actual[i]!r}"
            i += 1
        if i == len(actual):
            return f"shown {line!r}, never printed (in this order)"
        i, skip = i + 1, False
    return None


@pytest.mark.parametrize("md", SHOWN_IN)
def test_every_output_the_docs_show_is_what_the_command_prints(md, tmp_path):
    import subprocess
    import sys

    for name in ("scenarios", "docs", "benchmarks", "tests"):
        (tmp_path / name).symlink_to(REPO / name)
    runs = shown_runs(md)
    assert runs, f"{md}: no command output shown"
    for cmd, status, shown in runs:
        cmd, _, cat = cmd.partition(" && cat ")
        argv = shlex.split(cmd)
        assert argv[0] == "pumpsim", cmd
        out = subprocess.run([sys.executable, "-m", "pumpsim.cli", *argv[1:]], cwd=tmp_path, capture_output=True,
                             text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
        printed = out.stdout.splitlines() + out.stderr.splitlines()
        if cat:
            printed += (tmp_path / cat.strip()).read_text(encoding="utf-8").splitlines()
        if status is not None:
            assert out.returncode == status, f"{md}: {cmd}: exit {out.returncode}, the doc says {status}"
        why = follows(shown, printed)
        assert why is None, f"{md}: {cmd}: {why}"
