"""The shared HTML report's verdict, title, banner and exit status are the worst of every part it
holds (the table's checks, the telemetry records, the care pathway), ranked fail > warn >
not_checked > pass: a failing part is never hidden under the table's WARN."""
from __future__ import annotations

import re
from html import unescape

import pytest

import pumpsim
from pumpsim.cli.main import main
from pumpsim.render.html import banner
from pumpsim.rules.report import VERDICT_WORDS
from tests.conftest import REPO

YEAR = REPO / "benchmarks" / "tables" / "telemetry-year.toml"
STALL = REPO / "scenarios" / "records" / "year-stall.csv"
CC = REPO / "scenarios" / "concentration-change.toml"
ANTIPLATELET = REPO / "scenarios" / "patients" / "antiplatelet.toml"


def page(path) -> tuple[str, str, str]:
    """(title, banner text, class of the banner) of a written report."""
    html = path.read_text(encoding="utf-8")
    title = unescape(re.search(r"<title>(.*?)</title>", html).group(1))
    m = re.search(r'<div class="verdict verdict-([a-z_]+)" id="verdict" role="status" data-testid="verdict" '
                  r'data-verdict="([a-z_]+)">(.*?)</div>', html)
    assert m.group(1) == m.group(2)  # the browser tests' hook (data-verdict) says what the banner's class says
    return title, unescape(m.group(3)), m.group(1)


def test_records_that_fail_reconcile_make_the_report_fail(tmp_path, capsys):
    # the table alone: one soft REFILL-EMPTY-WORST, so validate says WARN (exit 0) ...
    assert main(["validate", str(YEAR)]) == 0
    assert capsys.readouterr().out.startswith(VERDICT_WORDS["warn"])
    # ... and the records of a 5-day motor stall: TEL-UNDER-INFUSION, hard, so reconcile says FAIL (exit 1)
    assert main(["reconcile", str(YEAR), str(STALL)]) == 1
    capsys.readouterr()
    out = tmp_path / "r.html"
    assert main(["report", str(YEAR), "-o", str(out), "--records", str(STALL)]) == 1
    err = capsys.readouterr().err
    assert "(fail: table warn; telemetry records fail)" in err
    title, words, css = page(out)
    assert title.startswith("pumpsim report: FAIL - telemetry-year.toml")
    assert css == "fail" and words.startswith("FAIL:") and "telemetry records: FAIL" in words and "table: WARN" in words
    assert "no hard rule is violated" not in words


def test_a_failing_care_pathway_makes_the_report_fail(tmp_path, capsys):
    # aspirin stopped 4 days before surgery where the reference asks 5: PATH-ANTIPLATELET, hard
    out = tmp_path / "r.html"
    assert main(["report", str(CC), "-o", str(out), "--patient", str(ANTIPLATELET)]) == 1
    assert "(fail: table warn; care pathway fail)" in capsys.readouterr().err
    title, words, css = page(out)
    assert title.startswith("pumpsim report: FAIL") and css == "fail" and "care pathway: FAIL" in words


def test_the_table_alone_keeps_validates_words(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(CC), "-o", str(out)]) == 0
    assert capsys.readouterr().err.rstrip().endswith("(warn)")
    title, words, css = page(out)
    assert (title.split(" [")[0], words, css) == ("pumpsim report: WARN - concentration-change.toml",
                                                  VERDICT_WORDS["warn"], "warn")


@pytest.mark.parametrize(("parts", "verdict"), [
    ([("table", "pass"), ("care pathway", "not_checked")], "not_checked"),   # nothing checked is not a pass
    ([("table", "warn"), ("care pathway", "not_checked")], "warn"),
    ([("table", "pass"), ("telemetry records", "pass")], "pass"),
    ([("table", "pass"), ("telemetry records", "warn"), ("care pathway", "fail")], "fail"),
    ([("table", "fail"), ("telemetry records", "pass")], "fail"),
])
def test_the_banner_is_the_worst_part(parts, verdict):
    report = pumpsim.validate(pumpsim.load_table(CC)).report
    got, words = banner(report, parts)
    assert got == verdict
    assert words.startswith(verdict.replace("_", " ").upper() + ":")
    for name, v in parts:
        assert f"{name}: {v.replace('_', ' ').upper()}" in words


def test_the_api_report_holds_its_parts_and_their_worst(tmp_path):
    rep = pumpsim.report(pumpsim.load_table(YEAR), records=STALL)
    assert rep.parts == [("table", "warn"), ("telemetry records", "fail")]
    assert (rep.verdict, rep.exit_status) == ("fail", 1)
    assert rep.as_json()["verdict"] == "fail" and rep.as_json()["reconcile"]["verdict"] == "fail"
    assert "<!DOCTYPE html>" in rep.text()


def test_a_page_whose_pathway_checked_nothing_is_not_a_pass():
    from pumpsim.render.html import render_html

    report = pumpsim.validate(pumpsim.load_table(REPO / "scenarios" / "bolus-lockout.toml")).report
    assert report.verdict == "pass"
    html = render_html(report, [], "pumpsim report", parts=[("table", "pass"), ("care pathway", "not_checked")])
    title = unescape(re.search(r"<title>(.*?)</title>", html).group(1))
    assert title == "pumpsim report: NOT CHECKED - bolus-lockout.toml"
    assert 'class="verdict verdict-not_checked"' in html and "care pathway: NOT CHECKED" in html
    assert 'data-verdict="not_checked"' in html
    words = unescape(re.search(r'data-verdict="[a-z_]+">(.*?)</div>', html).group(1))
    assert words == ("NOT CHECKED: no rule is violated, but a part could check nothing (table: PASS; "
                     "care pathway: NOT CHECKED).")
