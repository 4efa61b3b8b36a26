"""pumpsim serve through Flask's test client: bad input as problems (never a server error), the
1 MB limit at the limit and one byte past, markup in every free-text field escaped, the CSP,
save (first line, SHA-256, audit log), change review, plan, refill check, pathway and program."""
from __future__ import annotations

import hashlib
import io
import json
import re
from html.parser import HTMLParser

import pytest

from pumpsim import api
from pumpsim.serve import backend
from pumpsim.serve.app import CSP, create_app, example_table
from tests.conftest import EXAMPLE, REPO

MARK = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
# The example with its second session's rate ten times higher: DOSE-MAX and ZIC-STEP, hard.
DANGEROUS = EXAMPLE.read_text(encoding="utf-8").replace('rate = "0.19 mL/day"', 'rate = "1.9 mL/day"')
# A new table from 20 Dec 2026: one refill of the same mix at 0.26 mL/day. The example's program
# in force then is its third session's flex steps: 0.15 mL/day for 8 h and 0.25 mL/day for 16 h,
# a mean of 0.15 * 8/24 + 0.25 * 16/24 = 0.216667 mL/day, so morphine 5 mg/mL x 0.216667 =
# 1.083333 mg/day becomes 5 x 0.26 = 1.3 mg/day: (1.3 - 1.083333) / 1.083333 = +20 %.
NEW = """schema = "pumpsim.table/1"
profile = "fr-ait-2020"
horizon = "30 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2026-12-20T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL", ziconotide = "25 mcg/mL" } }
rate = "RATE"
bolus = "off"
"""


@pytest.fixture
def audit(tmp_path):
    return tmp_path / "audit.jsonl"


@pytest.fixture
def client(audit):
    return create_app(audit).test_client()


def multipart(client, path: str, fields: dict[str, str], files: dict[str, tuple[bytes, str]]):
    """POST a multipart form built here as bytes (the test client's own encoder spools a large
    upload to a temporary file it leaves open when the server refuses the body unread)."""
    boundary = "pumpsim-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for k, (data, filename) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def verdict(html: bytes, testid: str = "verdict") -> str:
    m = re.search(rf'data-testid="{testid}" data-verdict="([a-z_]+)"', html.decode())
    assert m, f"no {testid} in the page"
    return m.group(1)


def rules(html: bytes) -> list[tuple[str, str]]:
    return re.findall(r'data-testid="violation" data-rule="([A-Z0-9-]+)" data-severity="(hard|soft)"', html.decode())


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def no_inline_code(html: str) -> None:
    """What the CSP would block, read by an HTML parser: an inline script, a style element or
    attribute, an event handler attribute, a javascript: URL."""
    parser = _Tags()
    parser.feed(html)
    assert parser.tags, "no element parsed"
    for tag, attrs in parser.tags:
        assert not (tag == "script" and not attrs.get("src")), "inline script"
        assert tag != "style", "style element"
        assert "style" not in attrs, f"style attribute on <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"event handler on <{tag}>: {attrs}"
        assert not any((v or "").strip().lower().startswith("javascript:") for v in attrs.values()), attrs


# --------------------------------------------------------------------------- every page
@pytest.mark.parametrize("path", ["/", "/review", "/plan", "/refill", "/pathway", "/summary"])
def test_every_panel_answers_with_the_csp_and_no_inline_code(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "script-src 'self'" in CSP
    no_inline_code(r.get_data(as_text=True))
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.get_data(as_text=True)):
        with client.get(asset) as got:
            assert got.status_code == 200 and got.data, asset


def test_the_shipped_example_is_the_contract_example():
    assert example_table() == EXAMPLE.read_text(encoding="utf-8")


def test_an_unknown_page_is_a_page_with_the_csp_not_a_server_error(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.headers["Content-Security-Policy"] == CSP


# --------------------------------------------------------------------------- table panel
def test_the_example_gives_the_verdict_of_validate_with_its_violations_doses_and_figures(client):
    r = client.post("/table", data={"table": example_table(), "table_name": "example.toml"})
    expected = api.validate(api.load_table(EXAMPLE))
    assert verdict(r.data) == expected.verdict == "warn"
    assert rules(r.data) == [(v.rule, v.severity) for v in expected.violations] == [("ZIC-START", "soft")]
    html = r.get_data(as_text=True)
    for name in ("reservoir", "doses"):  # drawn when the page asks for them, from the same result
        src = re.search(rf'data-testid="figure-{name}" src="(/figure/[0-9a-f]{{32}}/{name}.png)"', html).group(1)
        with client.get(src) as fig:
            assert fig.status_code == 200 and fig.mimetype == "image/png" and fig.data.startswith(b"\x89PNG")
    with client.get("/figure/" + "0" * 32 + "/reservoir.png") as unknown:
        assert unknown.status_code == 404
    # worst-case 24 h morphine maximum, as validate computes it, to 4 significant digits
    assert f"{expected.doses['morphine'].max_24h_worst:.4g} mg" in html


def test_a_dangerous_table_shows_its_hard_violations(client):
    r = client.post("/table", data={"table": DANGEROUS})
    assert verdict(r.data) == "fail"
    assert ("DOSE-MAX", "hard") in rules(r.data) and ("ZIC-STEP", "hard") in rules(r.data)


def test_the_live_check_answers_the_result_alone(client):
    r = client.post("/table", data={"table": example_table()}, headers={"X-Pumpsim-Fragment": "1"})
    assert verdict(r.data) == "warn" and b"<html" not in r.data and b"<textarea" not in r.data


@pytest.mark.parametrize(("text", "field", "words"), [
    ("schema = \"pumpsim.table/1\"\n[pump\n", "", "TOML syntax error"),
    ("", "", "the file is empty"),
    ("/etc/passwd", "", "TOML syntax error"),  # a path typed in is text, never a file read on the server
    (EXAMPLE.read_text(encoding="utf-8").replace('rate   = "0.096 mL/day"', 'rate   = "0.096 furlong/day"'),
     "session[1].rate", "furlong"),
])
def test_bad_input_shows_the_problems_validate_gives_at_exit_2(client, text, field, words):
    r = client.post("/table", data={"table": text, "table_name": "mine.toml"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert verdict(r.data) == "invalid" and 'data-testid="problems"' in html
    problems = re.findall(r'<li><span class="file">([^<]*)</span>(?:: <code class="field">([^<]*)</code>)?: (.*?)</li>',
                          html, re.S)
    assert problems and all(p[0] == "mine.toml" for p in problems)
    assert any(p[1] == field and words in p[2] and "(fix: " in p[2] for p in problems), problems


def test_a_file_that_is_not_utf8_is_a_problem_not_a_server_error(client):
    r = client.post("/table", data={"table_file": (io.BytesIO(b"schema = \"\xff\"\n"), "latin.toml")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and verdict(r.data) == "invalid"
    assert b"latin.toml" in r.data and b"not UTF-8 text (byte 0xff at offset 10)" in r.data


# --------------------------------------------------------------------------- the 1 MB limit
def padded(size: int) -> bytes:
    """The example, padded with a comment to exactly ``size`` bytes."""
    body = EXAMPLE.read_bytes()
    return body + b"#" + b"x" * (size - len(body) - 2) + b"\n"


def test_an_upload_of_exactly_1_mb_is_judged(client):
    data = padded(2**20)
    assert len(data) == 2**20
    r = multipart(client, "/table", {}, {"table_file": (data, "big.toml")})
    assert r.status_code == 200 and verdict(r.data) == "warn"


@pytest.mark.parametrize("size", [2**20 + 1, 2 * 2**20])
def test_an_upload_above_1_mb_is_refused_with_a_message(client, size):
    r = multipart(client, "/table", {}, {"table_file": (padded(size), "big.toml")})
    assert r.status_code == 413 and verdict(r.data) == "invalid"
    assert f"the upload is {size} bytes, above the limit of 1048576 bytes (1 MB)".encode() in r.data


def test_typed_text_above_1_mb_is_refused_too(client):
    r = client.post("/table", data={"table": padded(2**20 + 1).decode()})
    assert r.status_code == 413 and b"above the limit of 1048576 bytes" in r.data


def test_a_request_far_above_the_limit_is_refused_before_it_is_read(client):
    r = multipart(client, "/table", {}, {"table_file": (b"#" * (3 * 2**20), "huge.toml")})
    assert r.status_code == 413 and b"Upload refused" in r.data and r.headers["Content-Security-Policy"] == CSP


def test_a_records_file_above_1_mb_is_refused(client):
    r = multipart(client, "/refill", {"table": example_table(), "action": "records"},
                  {"records_file": (b"t" * (2**20 + 1), "r.csv")})
    assert r.status_code == 413 and verdict(r.data, "verdict-refill") == "invalid"


# --------------------------------------------------------------------------- escaping
@pytest.mark.parametrize(("path", "form"), [
    ("/table", {"table": MARK, "table_name": MARK}),
    ("/table", {"table": example_table() + "\n# " + MARK + "\n", "table_name": MARK}),
    ("/review", {"table": MARK, "new": MARK, "table_name": MARK, "new_name": MARK, "action": "review"}),
    ("/plan", {"table": MARK, "action": "plan"}),
    ("/plan", {"table": example_table(), "action": "titrate", "drug": MARK, "target": MARK, "pace": MARK}),
    ("/refill", {"table": example_table(), "action": "aspirated", "session": MARK, "volume": MARK}),
    ("/refill", {"table": example_table(), "action": "records", "records": f"time,event\n{MARK},refill\n",
                 "records_name": MARK}),
    ("/pathway", {"patient": MARK, "patient_name": MARK, "table": MARK, "action": "pathway"}),
    ("/pathway", {"program": MARK, "program_name": MARK, "action": "program"}),
    ("/summary", {"table": MARK, "table_name": MARK}),
    ("/save", {"table": MARK, "table_name": MARK}),
])
def test_markup_in_every_free_text_field_is_shown_escaped(client, path, form):
    r = client.post(path, data=form)
    assert r.status_code == 200, r.status_code
    html = r.get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    no_inline_code(html)
    assert ESCAPED in html  # echoed back, as text


def test_markup_in_an_uploaded_file_name_is_neither_echoed_nor_kept(client):
    r = client.post("/table", data={"table_file": (io.BytesIO(EXAMPLE.read_bytes()), MARK + ".toml")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert "<script>" not in html and "onerror=alert" not in html.replace("onerror=alert(1)-.toml", "")
    assert re.search(r'name="table_name" value="([A-Za-z0-9._-]+)"', html)


# --------------------------------------------------------------------------- save
def test_save_downloads_the_table_with_its_version_and_sha256_and_logs_it(client, audit):
    text = example_table()
    r = client.post("/save", data={"table": text, "table_name": "mine.toml"})
    assert r.status_code == 200 and r.headers["Content-Disposition"] == 'attachment; filename="mine.toml"'
    first, _, rest = r.get_data(as_text=True).partition("\n")
    assert rest == text
    assert first == f"# pumpsim {backend.__version__} sha256 " \
                    + hashlib.sha256(text.encode()).hexdigest()
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert set(entry) == {"time", "file", "sha256", "verdict"}
    assert (entry["file"], entry["sha256"], entry["verdict"]) == ("mine.toml", hashlib.sha256(text.encode()).hexdigest(), "warn")
    # the saved file opens again, its first line checked
    again = client.post("/table", data={"table": r.get_data(as_text=True)})
    assert verdict(again.data) == "warn" and b"The first line's SHA-256 matches" in again.data
    as_a_browser_posts_it = r.get_data(as_text=True).replace("\n", "\r\n")
    assert b"SHA-256 matches" in client.post("/table", data={"table": as_a_browser_posts_it}).data
    changed = client.post("/table", data={"table": r.get_data(as_text=True).replace("60 day", "59 day")})
    assert b"does not match: the table was changed after it was saved" in changed.data


def test_resaving_a_saved_table_keeps_one_header_line(client):
    saved = client.post("/save", data={"table": example_table()}).get_data(as_text=True)
    twice = client.post("/save", data={"table": saved}).get_data(as_text=True)
    assert twice == saved


@pytest.mark.parametrize(("text", "why"), [(DANGEROUS, b"breaks a hard rule"), ("[pump\n", b"has problems")])
def test_save_refuses_a_table_that_breaks_a_hard_rule_or_is_invalid(client, audit, text, why):
    r = client.post("/save", data={"table": text})
    assert "Content-Disposition" not in r.headers and why in r.data
    assert b'data-testid="save-refused"' in r.data
    assert not audit.exists()


def test_save_strips_carriage_returns_and_ends_with_a_newline():
    saved = backend.save(example_table().replace("\n", "\r\n").rstrip("\r\n"), "t.toml")
    first, _, rest = saved.content.partition("\n")
    assert "\r" not in saved.content and rest.endswith("\n")
    assert first.endswith(hashlib.sha256(rest.encode()).hexdigest())


# --------------------------------------------------------------------------- change review
def test_the_change_review_gives_the_change_per_24_h_and_no_rule_for_a_safe_change(client):
    r = client.post("/review", data={"table": example_table(), "new": NEW.replace("RATE", "0.26 mL/day"), "action": "review"})
    html = r.get_data(as_text=True)
    assert verdict(r.data, "verdict-review") == "pass"
    assert 'data-drug="morphine" data-percent="20"' in html and 'data-drug="ziconotide" data-percent="20"' in html
    assert "1.083 mg/day" in html and "1.3 mg/day" in html and "+20.0 %" in html
    assert "mean rate</th><td>0.2167 mL/day" in html and "mean rate</th><td>0.26 mL/day" in html


def test_the_change_review_lists_the_rules_a_dangerous_change_breaks_from_the_change_on(client):
    r = client.post("/review", data={"table": example_table(), "new": NEW.replace("RATE", "2.6 mL/day"), "action": "review"})
    assert verdict(r.data, "verdict-review") == "fail"
    found = rules(r.data)
    assert ("DOSE-MAX", "hard") in found and ("ZIC-STEP", "hard") in found
    assert ("ZIC-START", "soft") not in found  # broken by the current table at its start, not by the change
    assert 'data-percent="1100"' in r.get_data(as_text=True)  # 5 x 2.6 = 13 mg/day against 1.083333


def test_a_new_table_that_does_not_start_after_the_current_one_is_a_problem(client):
    r = client.post("/review", data={"table": example_table(), "new": example_table(), "action": "review"})
    assert verdict(r.data, "verdict-review") == "invalid" and b"session[1].at" in r.data


# --------------------------------------------------------------------------- plan and titrate
def test_the_plan_is_the_one_the_api_computes_with_its_refill_window(client):
    text = (REPO / "scenarios" / "late-refill.toml").read_text(encoding="utf-8")
    expected = api.plan(api.load_table(text))
    r = client.post("/plan", data={"table": text, "action": "plan"})
    html = r.get_data(as_text=True)
    assert verdict(r.data, "verdict-plan") == "pass"
    assert f'data-testid="plan-result" data-interval-days="{expected.interval_days}"' in html
    # the stability cap puts the refill (8 Apr 2027) before the programmed low alarm - 3 days:
    # the window ends at the planned refill and keeps its width of 5 - 3 = 2 days
    assert expected.refill_at.isoformat() == "2027-04-08T09:00:00"
    view = backend.plan(text)
    assert view.low_alarm_at is not None and view.low_alarm_at.isoformat() > "2027-04-11"
    assert "2027-04-06 09:00 to 2027-04-08 09:00" in html


def test_the_window_is_3_to_5_days_before_the_programmed_low_alarm_when_the_alarm_comes_first():
    early, late_by = backend.refill_window()  # data/serve.toml, with its source
    assert (early.value, late_by.value, early.verified) == (5 * 86400, 3 * 86400, False) and "docs/SERVE.md" in early.source
    view = backend.plan(example_table())
    assert view.interval_days is not None and view.low_alarm_at is not None
    late = min(view.low_alarm_at - backend.dt.timedelta(days=3), view.refill_at)
    assert view.window == (late - backend.dt.timedelta(days=2), late)


def test_without_a_plan_the_result_says_why_and_has_an_empty_interval(client):
    text = example_table().rsplit("[[session]]", 1)[0]  # the last session now holds no refill
    r = client.post("/plan", data={"table": text, "action": "plan"})
    html = r.get_data(as_text=True)
    assert 'data-testid="plan-result" data-interval-days=""' in html and "No plan" in html
    assert "session[3].refill" in html and "(fix: end the table with the session of the refill to plan)" in html


def test_titrate_gives_the_schedule_of_the_command(client):
    text = (REPO / "docs" / "examples" / "ziconotide-start.toml").read_text(encoding="utf-8")
    r = client.post("/plan", data={"table": text, "action": "titrate", "drug": "ziconotide", "target": "9.6 mcg/day"})
    assert verdict(r.data, "verdict-titrate") == "pass"
    assert b'data-testid="titrate-result"' in r.data and b"2026-12-04T09:00:00" in r.data
    bad = client.post("/plan", data={"table": text, "action": "titrate", "drug": "zic", "target": "9.6 mcg/day"})
    assert verdict(bad.data, "verdict-titrate") == "invalid"
    assert b'<code class="field">drug</code>: unknown drug &#39;zic&#39;' in bad.data and b"ziconotide" in bad.data


# --------------------------------------------------------------------------- refill check
def test_a_typed_aspirated_volume_far_below_the_range_is_a_hard_over_infusion(client):
    r = client.post("/refill", data={"table": example_table(), "action": "aspirated", "session": "4", "volume": "3"})
    assert verdict(r.data, "verdict-refill") == "fail" and ("TEL-OVER-INFUSION", "hard") in rules(r.data)
    view = backend.refill_aspirated(example_table(), "t.toml", "4", "3")
    low, high = view.expected
    assert 0 < low < high < 20
    mid = backend.refill_aspirated(example_table(), "t.toml", "4", f"{(low + high) / 2:.3f}")
    assert mid.verdict == "pass" and mid.violations == []


@pytest.mark.parametrize(("session", "volume", "field"), [("9", "3", "refill session"), ("4", "-1", "aspirated volume"),
                                                          ("4", "21", "aspirated volume"), ("4", "nan", "aspirated volume")])
def test_a_bad_refill_session_or_volume_is_a_problem(client, session, volume, field):
    r = client.post("/refill", data={"table": example_table(), "action": "aspirated", "session": session, "volume": volume})
    assert verdict(r.data, "verdict-refill") == "invalid" and f'<code class="field">{field}</code>'.encode() in r.data


def test_uploaded_records_give_the_reconcile_verdict_and_figure(client):
    table = (REPO / "benchmarks" / "tables" / "telemetry-year.toml").read_text(encoding="utf-8")
    records = (REPO / "scenarios" / "records" / "year-stall.csv").read_bytes()
    r = client.post("/refill", data={"table": table, "action": "records", "records_file": (io.BytesIO(records), "year-stall.csv")},
                    content_type="multipart/form-data")
    from pumpsim.io.records import parse_records
    from pumpsim.telemetry.reconcile import reconcile

    expected = reconcile(api.load_table(table), parse_records(records.decode(), "year-stall.csv"), "year-stall.csv")
    assert verdict(r.data, "verdict-refill") == expected.verdict
    assert rules(r.data) == [(v.rule, v.severity) for v in expected.violations]
    assert b'data-testid="figure-reconcile" src="data:image/png;base64,' in r.data


# --------------------------------------------------------------------------- pathway, program, summary
def test_a_patient_file_and_a_program_give_their_verdicts(client):
    patient = (REPO / "scenarios" / "patients" / "complete-pass.toml").read_text(encoding="utf-8")
    r = client.post("/pathway", data={"patient": patient, "action": "pathway"})
    assert verdict(r.data, "verdict-pathway") == "pass" and b'data-testid="figure-pathway"' in r.data
    bad = (REPO / "scenarios" / "patients" / "lab-value.toml").read_text(encoding="utf-8")
    r = client.post("/pathway", data={"patient": bad, "action": "pathway"})
    assert verdict(r.data, "verdict-pathway") == "fail" and ("PATH-LAB-VALUE", "hard") in rules(r.data)
    program = (REPO / "scenarios" / "programs" / "esketamine-induction.toml").read_text(encoding="utf-8")
    r = client.post("/pathway", data={"program": program, "action": "program"})
    assert verdict(r.data, "verdict-program") == "pass" and b"day 0: administration 1: esketamine 56 mg nasal" in r.data


def test_the_summary_gives_the_doses_mode_and_dates(client):
    r = client.post("/summary", data={"table": example_table()})
    html = r.get_data(as_text=True)
    # the last program: flex steps at 0.15 and 0.25 mL/day (mean 0.216667), morphine 5 mg/mL
    assert "1.083 mg/day at 5 mg/mL" in html and "5.417 mcg/day at 25 mcg/mL" in html and "<td>flex</td>" in html
    assert 'data-testid="summary-low-alarm">not before 2027-01-30 09:00' in html  # 60 days after 1 Dec 2026 09:00


def test_a_fault_of_pumpsim_is_a_page_that_says_so_with_the_csp(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(backend, "check_table", broken)
    r = client.post("/table", data={"table": example_table()})
    assert r.status_code == 500 and r.headers["Content-Security-Policy"] == CSP
    assert b"a fault of pumpsim, not of the input" in r.data and b"a bug" not in r.data


def test_a_form_posted_from_another_site_is_refused(client, audit):
    r = client.post("/save", data={"table": example_table()}, headers={"Origin": "http://elsewhere.example"})
    assert r.status_code == 403 and not audit.exists()
    r = client.post("/save", data={"table": example_table()}, headers={"Origin": "null"})  # a sandboxed frame
    assert r.status_code == 403 and not audit.exists()
    r = client.post("/save", data={"table": example_table()}, headers={"Origin": "http://localhost"})  # its own page
    assert r.status_code == 200 and audit.exists()


@pytest.mark.parametrize(("host", "status"), [("localhost:8765", 200), ("127.0.0.1:8765", 200), ("[::1]:8765", 200),
                                              ("rebound.example:8765", 403), ("127.0.0.1.example", 403)])
def test_only_requests_addressed_to_this_computer_are_answered(client, host, status):
    assert client.get("/", headers={"Host": host}).status_code == status


def test_a_host_given_to_serve_is_answered_too(audit):
    client = create_app(audit, ("192.0.2.7",)).test_client()
    assert client.get("/", headers={"Host": "192.0.2.7:8765"}).status_code == 200
    assert client.get("/", headers={"Host": "rebound.example"}).status_code == 403
