"""Every source string of the data cites a document of the bibliography, and `pumpsim sources`
lists them with the values that cite each.

The scan covers every ``*.toml`` under ``src/pumpsim/data`` (recursively) and every ``source`` or
``basis`` key at any depth, so a data file added later is checked without touching this test.
"""
from __future__ import annotations

import json
import re
import tomllib
from importlib import resources

from pumpsim.cli.main import main
from pumpsim.io import bibliography


def _all_data_files() -> list[str]:
    root = resources.files("pumpsim.data")
    out = []

    def walk(folder, prefix):
        for e in folder.iterdir():
            if e.is_dir() and not e.name.startswith(("_", ".")):
                walk(e, prefix + e.name + "/")
            elif e.name.endswith(".toml"):
                out.append(prefix + e.name)
    walk(root, "")
    return sorted(out)


def test_the_scan_reaches_every_data_file_and_every_source():
    files = {u.file for u in bibliography.data_sources()}
    # every data file but the bibliography itself holds sources, and the scan found each
    assert files == set(_all_data_files()) - {"bibliography.toml"}
    # counted independently: every `source = "` / `basis = "` written in the files
    root = resources.files("pumpsim.data")
    written = 0
    for name in files:
        text = root.joinpath(*name.split("/")).read_text(encoding="utf-8")
        written += len(re.findall(r'\b(?:source|basis)\s*=\s*"', text))
    assert len(bibliography.data_sources()) == written


def test_every_source_cites_a_document_of_the_bibliography():
    bad = [f"{u.file}: {u.field} = {u.text!r}" for u in bibliography.uncited()]
    assert not bad, "sources citing no document of data/bibliography.toml (add the document there, or cite it):\n" \
        + "\n".join(bad)


def test_no_source_names_an_internal_file_or_seed():
    bad = [f"{u.file}: {u.field}: {bibliography.forbidden(u.text)}" for u in bibliography.data_sources()
           if bibliography.forbidden(u.text)]
    assert not bad, "\n".join(bad)


def test_matching_is_what_the_bibliography_says():
    # a source cites a document through one of its match strings, whatever the quotes and case
    ref = [d for d in bibliography.documents() if d.key == "rrc-hdf-ait"][0]
    assert bibliography.cites("Référentiel régional « Prise en charge de la douleur : ANALGÉSIE intrathécale "
                              "en cancérologie », §IX.1.c") == [ref]
    assert bibliography.cites("seed 004, §IV.1.c") == []
    assert bibliography.forbidden("seed 004, §IV.1.c; DOMAIN.md §2; FORMAT.md §1") == ["seed 004", "DOMAIN.md", "FORMAT.md"]
    assert bibliography.forbidden("the worst case of docs/FORMAT.md §1") == []


def test_bibliography_entries_are_complete_and_unique():
    raw = tomllib.loads(resources.files("pumpsim.data").joinpath("bibliography.toml").read_text(encoding="utf-8"))
    keys = [d["key"] for d in raw["document"]]
    assert len(keys) == len(set(keys))
    for d in raw["document"]:
        for field in ("authors", "title", "kind", "publisher", "year", "where"):
            assert isinstance(d.get(field), str) and d[field].strip(), (d["key"], field)
        # a match string of one document must not select another one as well
        for m in d.get("match", [d["title"]]):
            hits = [x.key for x in bibliography.cites(m)]
            assert d["key"] in hits and len(hits) == 1, (d["key"], m, hits)


def test_the_misattributions_are_corrected():
    from pumpsim.io.library import load_profile

    pacc, fr = load_profile("pacc-2017"), load_profile("fr-ait-2020")
    # 48 h between ziconotide increases is the EU SmPC's and the regional reference's, not the US label's
    for prof in (pacc, fr):
        s = prof.drugs["ziconotide"]["step_interval"]
        assert s.value == 48 * 3600 and "summary of product characteristics" in s.source  # 48 h in seconds
        assert "US prescribing information:" not in s.source.split("(the US label")[0]
    assert "2-3 times a week" in pacc.drugs["ziconotide"]["max_increases_per_week"].source
    # no source supports a single granuloma threshold: an engineering default, unverified, saying so
    for prof in (pacc, fr):
        for drug in ("morphine", "hydromorphone"):
            g = prof.drugs[drug]["granuloma_at"]
            assert not g.verified and "engineering default" in g.source and "no source supports" in g.source


def test_sources_command_text_json_bibtex(capsys):
    assert main(["sources"]) == 0
    text = capsys.readouterr().out
    assert "[pacc-2017] Deer TR" in text and "profiles/pacc-2017.toml: drugs.morphine.daily_hard" in text
    assert main(["sources", "--format", "json"]) == 0
    docs = {d["key"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(docs) == {d.key for d in bibliography.documents()}
    # the US ziconotide label is cited by the pacc-2017 ziconotide ceiling of 19.2 mcg/day
    assert "profiles/pacc-2017.toml: drugs.ziconotide.daily_hard.source" in docs["prialt-uspi"]["cited_by"]
    # every data value appears under at least one document
    cited = {c for d in docs.values() for c in d["cited_by"]}
    assert len(cited) == len({f"{u.file}: {u.field}" for u in bibliography.data_sources()})
    assert main(["sources", "--format", "bibtex"]) == 0
    bib = capsys.readouterr().out
    assert bib.count("@misc{") == len(docs)
    assert "@misc{wesemann-2014," in bib and "year = {2014}" in bib


def test_docs_bibliography_is_the_generated_one():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "BIBLIOGRAPHY.md"
    assert doc.read_text(encoding="utf-8") == bibliography.as_markdown(), \
        "regenerate with: pumpsim sources --format markdown > docs/BIBLIOGRAPHY.md"
