"""`pumpsim report`: the self-contained HTML report, its file handling, and the page in a real browser."""
from __future__ import annotations

import base64
import dataclasses
import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
from html import escape, unescape
from pathlib import Path
from types import SimpleNamespace

import pytest

from pumpsim._version import __version__
from pumpsim.cli.main import main
from pumpsim.io.tables import read_table
from pumpsim.render import html as htmlreport
from pumpsim.rules.kit import Violation
from pumpsim.rules.report import VERDICT_WORDS, sources_used
from pumpsim.rules.validate import validate
from tests.conftest import REPO

CC = REPO / "scenarios" / "concentration-change.toml"
ZIC = REPO / "scenarios" / "ziconotide-has-titration.toml"
REFILL_EMPTY = REPO / "scenarios" / "broken" / "refill-empty.toml"
LATE_MC = REPO / "scenarios" / "variability-late-refills.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_SRC = re.compile(r'<img class="figure" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def make(table: Path, out: Path, *extra: str) -> tuple[int, str]:
    rc = main(["report", str(table), "-o", str(out), *extra])
    return rc, out.read_text(encoding="utf-8")


def violation_rows(html: str) -> list[str]:
    return re.findall(r'<tr class="violation".*?</tr>', html)


def test_hard_violation_exits_1_writes_the_report_verdict_first_with_every_rule_and_source(tmp_path, capsys):
    rc, html = make(REFILL_EMPTY, tmp_path / "r.html")
    assert rc == 1
    table, profile = read_table(REFILL_EMPTY)
    report = validate(table, profile)
    assert report.verdict == "fail" and {v.rule for v in report.violations} == {
        "REFILL-EMPTY", "REFILL-EMPTY-WORST", "REFILL-LOW-ALARM"}
    # the verdict, in the words of the text report, comes before anything else of the body
    body = html[html.index("<body>"):]
    assert body.index(escape(VERDICT_WORDS["fail"])) < body.index("<dl") < body.index("Violations")
    assert 'class="verdict verdict-fail"' in html
    for w in (VERDICT_WORDS["pass"], VERDICT_WORDS["warn"]):
        assert escape(w) not in html
    # table, device, profile, horizon
    assert escape(table.path) in html and "synchromed-ii-20 (intrathecal)" in html
    assert ">fr-ait-2020" in html and "45 days, 2 session(s)" in html
    # one row per violation, with its rule, message, source and verified flag
    rows = violation_rows(html)
    assert len(rows) == len(report.violations)
    for v in report.violations:
        (row,) = [r for r in rows if f'data-rule="{v.rule}"' in r]
        assert escape(v.message) in row and escape(v.source) in row and v.severity in row
        assert ("UNVERIFIED" in row) is (not v.verified)
    # REFILL-LOW-ALARM's limit (the 2 mL alarm) is unverified, the others are verified
    assert [("UNVERIFIED" in r) for r in rows] == [not v.verified for v in sorted(
        report.violations, key=lambda v: (v.session is None, v.session or 0))]
    assert "OPIOID-CONVERSION" in html.split("Checks not made")[1].split("<h2>")[0]
    assert "2027-01-10T09:00:00" in html.split("<h2>Reservoir</h2>")[1].split("</table>")[0]
    assert "wrote" in capsys.readouterr().err


def test_values_used_command_version_and_disclaimer(tmp_path):
    out = tmp_path / "report.html"
    rc, html = make(CC, out, "--profile", "pacc-2017")
    # pacc-2017's morphine ceiling of 15 mg/day is hard (fr-ait-2020's is soft): the profile given is the
    # one used. As programmed the change of mix gives 12 + 0.2 x (20 - 5) = 15 mg, at the ceiling; the
    # pump 14.5 % fast gives 12 x 1.145 + 3 = 16.74 mg: a warning (DOSE-MAX-WORST)
    assert rc == 0 and "verdict-warn" in html and "DOSE-MAX-WORST" in html
    assert "16.74 mg: above the 15 mg/day ceiling" in html
    table, profile = read_table(CC, "pacc-2017")
    used = sources_used(table, profile)
    assert len(used) > 5
    values = html.split("Device and profile values used")[1]
    for what, value, s in used:
        row = re.search(rf"<tr><td>{re.escape(escape(what))}</td>.*?</tr>", values).group(0)
        assert escape(value) in row and escape(s.source) in row
        assert ("UNVERIFIED" in row) is (not s.verified)
    assert "pacc-2017" in html.split("<dt>profile</dt>")[1].split("</dd>")[0]
    footer = html.split("<footer>")[1]
    assert f"pumpsim report {CC} -o {out} --profile pacc-2017" in footer
    assert f"pumpsim {__version__}" in footer and htmlreport.DISCLAIMER in footer


def test_command_line_is_the_process_argv_shell_quoted():
    args = SimpleNamespace(table="x.toml", output="r.html", profile=None, simulate=False, runs=None, seed=None)
    argv = ["/opt/venv/bin/pumpsim", "report", "my table.toml", "-o", "a<b>.html", "--simulate"]
    assert htmlreport.command_line(argv, args) == "pumpsim report 'my table.toml' -o 'a<b>.html' --simulate"
    # called as main([...]) from Python (sys.argv is someone else's): rebuilt from the arguments
    args = SimpleNamespace(table="t 1.toml", output="r.html", profile="h.toml", simulate=True, runs=50, seed=3)
    assert htmlreport.command_line(["pytest", "-q"], args) == (
        "pumpsim report 't 1.toml' -o r.html --profile h.toml --simulate --runs 50 --seed 3")


def test_self_contained_every_figure_embedded_as_png_no_network_reference(tmp_path):
    _, html = make(ZIC, tmp_path / "r.html")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and not re.search(r"<script[^>]*\bsrc", html) and "@import" not in html
    assert "default-src 'none'; img-src data:" in html  # the browser may not fetch anything else
    images = IMG_SRC.findall(html)
    assert len(images) == html.count("<img") == 3  # reservoir, doses, ziconotide titration
    for b64 in images:
        assert base64.b64decode(b64)[:8] == PNG_MAGIC
    captions = re.findall(r"<figcaption><b>Figure (\d)\.</b> (.*?)</figcaption>", html)
    assert [c[0] for c in captions] == ["1", "2", "3"]
    assert [c[1] for c in captions] == [escape(htmlreport.CAPTIONS[k]) for k in ("reservoir", "doses", "ziconotide")]


def test_text_from_the_table_or_data_is_escaped(tmp_path):
    folder = tmp_path / "<b>x&y"
    folder.mkdir()
    table_path = folder / "cc.toml"
    shutil.copy(CC, table_path)
    rc, html = make(table_path, tmp_path / "r.html")
    assert rc == 0
    assert str(folder) not in html and escape(str(table_path)) in html
    assert "<b>x" not in html
    # a message, source, drug and unit with markup: shown as text, never as markup
    table, profile = read_table(CC)
    report = validate(table, profile)
    evil = "<script>alert(1)</script>"
    report.violations.append(Violation("DOSE-MAX", "hard", None, f"morphine{evil}", 1.0, 2.0, "mg<i>",
                                       f"message {evil}", f"source {evil}", False))
    report.violations[0] = dataclasses.replace(report.violations[0], message='a "quoted" <img src=x onerror=alert(2)>')
    page = htmlreport.render_html(report, [(f"caption {evil}", b"\x89PNG\r\n\x1a\nnot really")], f"pumpsim report {evil}")
    assert "<script>alert" not in page and "<img src=x" not in page and "<i>" not in page
    assert page.count(escape(evil)) == 6  # drug, message, source, caption, the figure's alt text, command
    assert "&lt;img src=x onerror=alert(2)&gt;" in page and "verdict-fail" in page
    assert page.count("<script>") == 1  # only the page's own figure counter


def test_render_html_refuses_a_figure_that_is_neither_png_nor_svg():
    table, profile = read_table(CC)
    report = validate(table, profile)
    with pytest.raises(ValueError):
        htmlreport.render_html(report, [("x", b"GIF89a")], "pumpsim report")
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    page = htmlreport.render_html(report, [("an SVG", svg)], "pumpsim report")
    assert 'src="data:image/svg+xml;base64,' + base64.b64encode(svg.encode()).decode() in page


def test_never_overwrites_the_input(capsys):
    before = CC.read_bytes()
    assert main(["report", str(CC), "-o", str(CC)]) == 2
    assert CC.read_bytes() == before
    assert "overwrite" in capsys.readouterr().err


def test_written_atomically_an_interrupted_write_leaves_the_old_report(tmp_path, monkeypatch, capsys):
    out = tmp_path / "r.html"
    out.write_text("old report")

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    assert main(["report", str(CC), "-o", str(out)]) == 3  # the environment failed: exit 3, no traceback
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing was written" in err and "Traceback" not in err
    assert out.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary file left


def test_bad_input_exits_2_names_file_and_field_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(CC.read_text().replace("mL/day", "mg/day"))
    before = set(tmp_path.iterdir())
    assert main(["report", str(bad), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "rate" in err and "nothing was written" in err and "Traceback" not in err
    assert set(tmp_path.iterdir()) == before
    # an unknown profile, and a folder that does not exist: exit 2 too, nothing written
    assert main(["report", str(CC), "-o", str(tmp_path / "r.html"), "--profile", "fr-ait-2021"]) == 2
    assert main(["report", str(CC), "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert set(tmp_path.iterdir()) == before


def test_simulate_adds_the_risk_and_the_monte_carlo_figure(tmp_path):
    rc, html = make(LATE_MC, tmp_path / "r.html", "--simulate", "--runs", "2000", "--seed", "11")
    assert rc in (0, 1)
    risk = html.split("<h2>Monte-Carlo risk</h2>")[1].split("</pre>")[0]
    assert "Risk over 2,000 Monte-Carlo runs (seed 11)" in risk and "ran dry" in risk
    assert escape(htmlreport.CAPTIONS["montecarlo"]) in html
    assert escape(htmlreport.FAN_CAPTION) in html  # the reservoir figure's caption names the Monte-Carlo bands
    assert len(IMG_SRC.findall(html)) == 3  # reservoir, doses, Monte-Carlo
    _, plain = make(LATE_MC, tmp_path / "plain.html")
    assert "Monte-Carlo risk" not in plain and len(IMG_SRC.findall(plain)) == 2
    assert escape(htmlreport.FAN_CAPTION) not in plain


# --------------------------------------------------------------------------- in a real browser
def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run headless Chromium in its own process group; the whole group is killed afterwards,
    so no renderer or zygote process is left behind, even on a timeout."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed: apt-get install chromium (the browser test of the HTML report is skipped)")
    proc = subprocess.Popen([exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                             "--disable-extensions", "--hide-scrollbars", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {timeout} s")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def figures_loaded(page: Path, profile_dir: Path) -> tuple[int, int]:
    r = chromium(f"--user-data-dir={profile_dir}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r'<html[^>]*data-figures-loaded="(\d+)" data-figures-total="(\d+)"', r.stdout)
    assert m, "the page's figure counter did not run: " + r.stdout[:500]
    return int(m.group(1)), int(m.group(2))


def test_in_headless_chromium_the_page_is_not_blank_and_every_figure_loaded(tmp_path):
    import matplotlib.image as mpimg
    import numpy as np

    page = tmp_path / "report.html"
    assert main(["report", str(ZIC), "-o", str(page)]) == 0
    shot = tmp_path / "shot.png"
    r = chromium(f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    img = mpimg.imread(shot)
    assert img.shape[:2] == (3000, 1200)
    grey = img[..., :3].mean(axis=2)
    assert (grey < 0.9).mean() > 0.03  # text, tables and figures: a fair share of the page is not white
    assert grey.std() > 0.08 and len(np.unique(np.round(grey * 255))) > 50  # not one flat colour
    # the verdict banner (warn: amber) is drawn near the top
    top = img[:200, :, :3]
    amber = (top[..., 0] > 0.95) & (top[..., 1] > 0.9) & (top[..., 2] < 0.9)
    assert amber.mean() > 0.05
    assert figures_loaded(page, tmp_path / "profile") == (3, 3)


def test_in_headless_chromium_a_figure_that_cannot_be_decoded_is_counted_as_not_loaded(tmp_path):
    """The figure counter the browser test relies on does see a broken image."""
    table, profile = read_table(CC)
    report = validate(table, profile)
    good = htmlreport.build_figures(report)
    page = tmp_path / "broken.html"
    page.write_text(htmlreport.render_html(report, good + [("broken", PNG_MAGIC + b"garbage")], "pumpsim report"))
    assert figures_loaded(page, tmp_path / "profile") == (len(good), len(good) + 1) == (2, 3)


# --------------------------------------------------------------------------- the page's CSP
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
SCRIPTS = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


def policy(html: str) -> dict[str, list[str]]:
    """The page's Content-Security-Policy, directive by directive."""
    metas = CSP_META.findall(html)
    assert len(metas) == 1
    out = {}
    for part in unescape(metas[0]).split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def test_the_csp_allows_the_pages_one_script_by_the_hash_of_its_text_and_no_other_inline_script(tmp_path):
    rc, html = make(CC, tmp_path / "r.html")
    assert rc == 0
    csp = policy(html)
    scripts = SCRIPTS.findall(html)
    assert len(scripts) == 1 and scripts[0][0] == ""  # one inline script, no src
    assert csp["script-src"] == [sha256_source(scripts[0][1])]  # that text, and only it
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert not {"script-src-elem", "script-src-attr"} & set(csp)  # nothing widens script-src
    assert csp["default-src"] == ["'none'"] and csp["img-src"] == ["data:"]


def test_the_hash_is_computed_from_the_script_rendered(monkeypatch):
    table, profile = read_table(CC)
    report = validate(table, profile)
    monkeypatch.setattr(htmlreport, "SCRIPT", htmlreport.SCRIPT + "/* another text */\n")
    html = htmlreport.render_html(report, [], "pumpsim report")
    (attrs, text), = SCRIPTS.findall(html)
    assert text.endswith("/* another text */\n")
    assert policy(html)["script-src"] == [sha256_source(text)] != [sha256_source(text.replace("another", "other"))]


def test_in_a_browser_the_pages_script_runs_and_an_injected_inline_script_is_refused(tmp_path):
    """Playwright drives the system's Chromium on the file: the report's own script runs with no CSP
    message in the console; a script slipped into the same page (what escaping keeps out) is blocked,
    and the console says so (the watch sees a violation when there is one)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    exe = next((p for p in (shutil.which(n) for n in ("chromium-headless-shell", "chromium", "chromium-browser")) if p),
               None)
    if exe is None:
        pytest.skip("chromium not installed: apt-get install chromium (the browser test of the report's CSP is skipped)")
    table, profile = read_table(CC)
    html = htmlreport.render_html(validate(table, profile), htmlreport.build_figures(validate(table, profile)),
                                  "pumpsim report")
    page_ok = tmp_path / "report.html"
    page_ok.write_text(html, encoding="utf-8")
    injected = '<script>document.documentElement.setAttribute("data-injected", "ran");</script>'
    page_bad = tmp_path / "injected.html"
    page_bad.write_text(html.replace("</footer>", "</footer>" + injected, 1), encoding="utf-8")

    def load(page_path: Path) -> tuple[dict[str, str | None], list[str]]:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, timeout=90_000)
            try:
                page = browser.new_page()
                console: list[str] = []
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                page.goto(page_path.as_uri(), wait_until="load", timeout=90_000)
                page.wait_for_function("document.documentElement.hasAttribute('data-figures-total')", timeout=30_000)
                attrs = page.evaluate("() => ({loaded: document.documentElement.getAttribute('data-figures-loaded'),"
                                      " total: document.documentElement.getAttribute('data-figures-total'),"
                                      " injected: document.documentElement.getAttribute('data-injected')})")
            finally:
                browser.close()
        return attrs, console

    attrs, console = load(page_ok)
    assert attrs == {"loaded": "2", "total": "2", "injected": None}  # the page's own script ran
    assert console == [], console  # no CSP violation, no error
    attrs, console = load(page_bad)
    assert attrs["loaded"] == "2" and attrs["injected"] is None  # the injected script did not run
    assert any("Content Security Policy" in m for m in console), console
