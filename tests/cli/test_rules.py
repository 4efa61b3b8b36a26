"""`pumpsim rules`: every rule of every family (static, simulated, telemetry, pathway, program),
with its family, severity, inputs and source, from the one catalogue."""
from __future__ import annotations

import json

from pumpsim.cli.main import main
from pumpsim.rules.kit import FAMILIES, catalogue


def test_json_lists_every_rule_of_every_family(capsys):
    assert main(["rules", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    cat = catalogue()
    assert listed, "no rule listed"
    assert [r["id"] for r in listed] == list(cat)
    assert {r["family"] for r in listed} == set(FAMILIES) == {"static", "simulated", "telemetry", "pathway", "program"}
    for r in listed:
        assert set(r) >= {"id", "family", "severity", "inputs", "source"}, r
        assert r["severity"] and r["inputs"] and r["source"], r
        assert r == cat[r["id"]].as_json()
    by_id = {r["id"]: r for r in listed}
    # one rule of each family, as the catalogue's data files write them
    assert by_id["TEL-UNDER-INFUSION"]["family"] == "telemetry"
    assert by_id["DOSE-MAX"]["family"] == "simulated"
    assert by_id["CONC-MAX"]["family"] == "static"
    assert any(r["family"] == "program" and r["id"].startswith("KET-") for r in listed)
    assert any(r["family"] == "pathway" and r["id"].startswith("PATH-") for r in listed)


def test_text_is_grouped_by_family(capsys):
    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    headings = [i for i, line in enumerate(lines) if not line.startswith(" ")]
    assert [lines[i].split(" ")[0] for i in headings] == list(FAMILIES)
    cat = catalogue()
    for n, i in enumerate(headings):
        family = lines[i].split(" ")[0]
        end = headings[n + 1] if n + 1 < len(headings) else len(lines)
        ids = [line.split()[0] for line in lines[i + 1:end]]
        assert ids == [r.id for r in cat.values() if r.family == family], family
        assert lines[i] == f"{family} ({len(ids)} rules): {FAMILIES[family]}"
