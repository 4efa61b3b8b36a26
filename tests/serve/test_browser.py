"""pumpsim serve in a real browser: Playwright for Python driving the Chromium of the system
(Debian's ``chromium`` or ``chromium-headless-shell``, launched with ``executable_path``; nothing
is downloaded at run time). The server listens on 127.0.0.1 only, on a free port, for the
module's tests; every wait is bounded.

Skipped, with the reason, only when no Chromium can be found (``apt-get install chromium``, or
``PUMPSIM_CHROMIUM=/path/to/chromium``). Screenshots of each panel go to ``PUMPSIM_SCREENSHOTS``
(default: a temporary folder of the test run).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from pumpsim.serve import backend
from pumpsim.serve.app import create_app, example_table
from tests.conftest import REPO
from tests.serve.test_app import DANGEROUS, NEW


def find_chromium() -> str | None:
    """The Chromium to drive: ``PUMPSIM_CHROMIUM``, else the first of the Debian packages' commands on PATH."""
    given = os.environ.get("PUMPSIM_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium, or set "
                                "PUMPSIM_CHROMIUM): the browser tests of pumpsim serve are skipped")
TIMEOUT_MS = 90_000  # the first check loads the simulator and matplotlib
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    audit = tmp_path_factory.mktemp("serve") / "audit.jsonl"
    srv = make_server("127.0.0.1", 0, create_app(audit), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", audit
    srv.shutdown()
    thread.join(timeout=10)
    srv.server_close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PUMPSIM_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, timeout=TIMEOUT_MS)
        yield b
        b.close()


class Watched:
    """A page with every request, console message and page error it gave."""

    def __init__(self, browser, base: str) -> None:
        self.context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.base = base
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def check_clean(self) -> None:
        """No request left this server, no CSP violation or other error in the console."""
        outside = [u for u in self.requests if not (u.startswith(self.base + "/") or u.startswith("data:"))]
        assert not outside, f"requests that left localhost: {outside}"
        assert len(self.requests) > 1  # the page and its assets were watched
        bad = [(t, m) for t, m in self.console if t == "error" or "Content Security Policy" in m]
        assert not bad, f"console: {bad}"
        assert not self.errors, f"page errors: {self.errors}"


@pytest.fixture
def watched(browser, server):
    w = Watched(browser, server[0])
    yield w
    w.context.close()


def verdict_of(page, testid: str = "verdict") -> str:
    loc = page.locator(f'[data-testid="{testid}"][data-verdict]')
    loc.wait_for()
    return loc.get_attribute("data-verdict")


def figures_shown(page) -> None:
    """Wait until the table's two figures are loaded and decoded (they are drawn after the verdict)."""
    for fig in ("figure-reservoir", "figure-doses"):
        expect(page.get_by_test_id(fig)).to_be_visible()
        page.wait_for_function("id => { const i = document.querySelector(`[data-testid=\"${id}\"]`);"
                               " return i !== null && i.complete && i.naturalWidth > 100; }", arg=fig)


def test_type_a_table_make_it_dangerous_see_why_and_save_it(watched, server, shots):
    page, (base, audit) = watched.page, server
    page.goto(base + "/")
    expect(page.locator('[data-testid="verdict"]')).to_have_attribute("data-verdict", "warn")  # the example, checked on load
    box = page.get_by_test_id("table-input")
    box.fill('schema = "pumpsim.table/1"\n[pump\n')  # typing: the page checks as the text changes
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "invalid")
    expect(page.get_by_test_id("problems")).to_contain_text("TOML syntax error")
    expect(page.get_by_test_id("problems")).to_contain_text("fix:")
    page.screenshot(path=str(shots / "table-invalid.png"), full_page=True)

    box.fill(example_table())
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "warn")
    expect(page.locator('[data-testid="violation"][data-rule="ZIC-START"]')).to_have_attribute("data-severity", "soft")
    figures_shown(page)
    page.screenshot(path=str(shots / "table.png"), full_page=True)

    box.fill(DANGEROUS)
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "fail")
    hard = page.locator('[data-testid="violation"][data-rule="DOSE-MAX"][data-severity="hard"]')
    expect(hard.first).to_be_visible()
    figures_shown(page)
    expect(hard.first).to_contain_text(re.compile(r"\[(verified|UNVERIFIED)\]"))  # its source's flag
    page.screenshot(path=str(shots / "table-dangerous.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(shots / "readme-table.png"))  # the view docs/figures/serve-table.png shows
    page.set_viewport_size({"width": 1400, "height": 1000})

    page.get_by_test_id("save").click()  # refused: a hard rule is broken
    expect(page.get_by_test_id("save-refused")).to_contain_text("breaks a hard rule")
    assert not audit.exists()

    page.get_by_test_id("table-input").fill(example_table())
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "warn")
    with page.expect_download() as info:
        page.get_by_test_id("save").click()
    saved = Path(info.value.path()).read_text(encoding="utf-8")
    assert info.value.suggested_filename == "example.toml"
    first, _, rest = saved.partition("\n")
    assert rest == example_table()
    assert first == f"# pumpsim {backend.__version__} sha256 {hashlib.sha256(rest.encode()).hexdigest()}"
    entry = json.loads(audit.read_text(encoding="utf-8").splitlines()[-1])
    assert (entry["file"], entry["sha256"], entry["verdict"]) == ("example.toml", first.split()[-1], "warn")
    watched.check_clean()


def test_every_other_panel_in_the_browser(watched, server, shots):
    page, base = watched.page, server[0]
    page.goto(base + "/review")
    page.get_by_test_id("review-new").fill(NEW.replace("RATE", "2.6 mL/day"))
    page.get_by_role("button", name="Review the change").click()
    assert verdict_of(page, "verdict-review") == "fail"
    expect(page.locator('[data-testid="violation"][data-rule="DOSE-MAX"][data-severity="hard"]').first).to_be_visible()
    expect(page.locator('[data-testid="change"][data-drug="morphine"]')).to_have_attribute("data-percent", "1100")
    page.screenshot(path=str(shots / "review.png"), full_page=True)

    page.goto(base + "/plan")
    page.get_by_test_id("table-input").fill((REPO / "scenarios" / "late-refill.toml").read_text(encoding="utf-8"))
    page.get_by_test_id("plan").click()
    expect(page.get_by_test_id("plan-result")).to_have_attribute("data-interval-days", "90")
    expect(page.get_by_test_id("refill-window")).to_contain_text("2027-04-06 09:00 to 2027-04-08 09:00")
    page.screenshot(path=str(shots / "plan.png"), full_page=True)
    page.get_by_test_id("table-input").fill((REPO / "docs" / "examples" / "ziconotide-start.toml").read_text(encoding="utf-8"))
    page.locator('input[name="drug"]').fill("ziconotide")
    page.locator('input[name="target"]').fill("9.6 mcg/day")
    page.get_by_test_id("titrate").click()
    assert verdict_of(page, "verdict-titrate") == "pass"
    page.screenshot(path=str(shots / "titrate.png"), full_page=True)

    page.goto(base + "/refill")
    page.get_by_test_id("aspirated").fill("3")
    page.get_by_role("button", name="Check the refill").click()
    assert verdict_of(page, "verdict-refill") == "fail"
    expect(page.locator('[data-testid="violation"][data-rule="TEL-OVER-INFUSION"]')).to_be_visible()
    page.screenshot(path=str(shots / "refill.png"), full_page=True)

    page.goto(base + "/pathway")
    page.get_by_test_id("patient-input").fill((REPO / "scenarios" / "patients" / "lab-value.toml").read_text(encoding="utf-8"))
    page.get_by_role("button", name="Check the pathway").click()
    assert verdict_of(page, "verdict-pathway") == "fail"
    page.screenshot(path=str(shots / "pathway.png"), full_page=True)
    page.get_by_test_id("program-input").fill(
        (REPO / "scenarios" / "programs" / "esketamine-induction.toml").read_text(encoding="utf-8"))
    page.get_by_role("button", name="Check the program").click()
    assert verdict_of(page, "verdict-program") == "pass"
    page.screenshot(path=str(shots / "program.png"), full_page=True)

    page.goto(base + "/summary")
    assert verdict_of(page, "verdict-summary") == "warn"
    expect(page.get_by_test_id("summary-low-alarm")).to_contain_text("not before 2027-01-30 09:00")
    page.emulate_media(media="print")
    page.screenshot(path=str(shots / "summary-print.png"), full_page=True)
    expect(page.locator("header.top")).to_be_hidden()
    watched.check_clean()


def test_opening_a_file_puts_its_text_in_the_box_and_checks_it(watched, server, tmp_path):
    page = watched.page
    page.goto(server[0] + "/")
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "warn")
    mine = tmp_path / "dangerous <b>.toml"
    mine.write_text(DANGEROUS, encoding="utf-8")
    page.locator('input[name="table_file"]').set_input_files(str(mine))  # the page submits it
    expect(page.get_by_test_id("verdict")).to_have_attribute("data-verdict", "fail")
    assert page.get_by_test_id("table-input").input_value() == DANGEROUS
    assert page.locator('input[name="table_name"]').input_value() == "dangerous-b-.toml"  # a safe name
    watched.check_clean()


def test_the_console_watch_does_see_a_csp_violation(watched, server):
    """The control of :meth:`Watched.check_clean`: an inline style set by a script is blocked by the
    page's policy, and the console says so."""
    page = watched.page
    page.goto(server[0] + "/summary")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_timeout(500)
    with pytest.raises(AssertionError, match="Content Security Policy"):
        watched.check_clean()
