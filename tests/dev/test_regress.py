"""`pumpsim regress`: the shipped scenarios match their goldens; a threshold changed in the data
turns the run red with a readable difference; --update makes it green again."""
from __future__ import annotations

import shutil

from pumpsim.cli.main import main
from pumpsim.dev import regress
from pumpsim.io import library
from tests.conftest import REPO

SCEN = REPO / "scenarios"
GOLD = SCEN / "golden"


def test_shipped_scenarios_match_their_goldens(capsys):
    assert main(["regress", str(SCEN), "--golden", str(GOLD)]) == 0
    out = capsys.readouterr().out
    assert "all match their goldens" in out
    assert len(regress.tables_under(SCEN, GOLD)) >= 25


def _lower_ceilings(monkeypatch):
    real = library._data_text

    def patched(*parts):
        text = real(*parts)
        if parts[-1] == "fr-ait-2020.toml":
            text = text.replace('daily_soft = { value = "15 mg/day"', 'daily_soft = { value = "3 mg/day"', 1)
            text = text.replace('daily_hard = { value = "20 mg/day"', 'daily_hard = { value = "19 mg/day"', 1)
        return text

    monkeypatch.setattr(library, "_data_text", patched)
    library.shipped_profile.cache_clear()


def test_a_threshold_changed_in_the_data_is_reported(monkeypatch, tmp_path):
    _lower_ceilings(monkeypatch)
    try:
        outcomes = regress.run(SCEN, GOLD)
        text, status = regress.render(outcomes, update=False)
    finally:
        library.shipped_profile.cache_clear()
    assert status == 1
    by_table = {o.table: o for o in outcomes}
    # broken/dose-max already broke the 20 mg bupivacaine hard ceiling (20.5 mg as programmed): the limit moves
    dm = by_table["broken/dose-max.toml"].changes
    assert any(c.startswith("DOSE-MAX (hard) bupivacaine") and c.endswith(": limit 20 -> 19") for c in dm), dm
    # concentration-change gives 12 + 3 = 15 mg of morphine as programmed, now above 3 mg/day
    cc = by_table["concentration-change.toml"].changes
    assert any(c.startswith("rule added: DOSE-MAX (soft) morphine") for c in cc), cc
    # morphine-titration peaks at 3.8 mg as programmed: a soft DOSE-MAX appears and the verdict turns to warn
    mt = by_table["morphine-titration.toml"].changes
    assert "verdict pass -> warn" in mt and any(c.startswith("rule added: DOSE-MAX (soft) morphine") for c in mt), mt
    assert "CHANGED morphine-titration.toml:" in text


def test_update_rewrites_the_goldens(monkeypatch, tmp_path):
    gold = tmp_path / "golden"
    shutil.copytree(GOLD, gold)
    _lower_ceilings(monkeypatch)
    try:
        assert regress.render(regress.run(SCEN, gold, update=True), update=True)[1] == 0
        assert regress.render(regress.run(SCEN, gold), update=False)[1] == 0
    finally:
        library.shipped_profile.cache_clear()


def test_a_new_table_without_golden_is_a_change(tmp_path, capsys):
    (tmp_path / "t").mkdir()
    shutil.copy(SCEN / "late-refill.toml", tmp_path / "t" / "late-refill.toml")
    (tmp_path / "g").mkdir()
    assert main(["regress", str(tmp_path / "t"), "--golden", str(tmp_path / "g")]) == 1
    assert "no golden yet (run with --update)" in capsys.readouterr().out
    assert main(["regress", str(tmp_path / "t"), "--golden", str(tmp_path / "g"), "--update"]) == 0
    assert (tmp_path / "g" / "late-refill.json").exists()
    assert main(["regress", str(tmp_path / "t"), "--golden", str(tmp_path / "g")]) == 0


def test_a_moved_number_is_shown_with_the_digits_that_tell_it_apart():
    old = {"verdict": "pass", "violations": [], "drugs": {"morphine": {"max_24h_dose": 2.29}}}
    new = {"verdict": "pass", "violations": [], "drugs": {"morphine": {"max_24h_dose": 2.2900000000000063 + 1e-5}}}
    assert regress.differences(old, new) == ["report.drugs.morphine.max_24h_dose: 2.29 -> 2.29001"]
