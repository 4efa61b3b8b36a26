"""`pumpsim report`: one self-contained HTML file that can travel to the pharmacist and the physician.

:func:`render_html` is pure: it arranges a :class:`pumpsim.rules.report.Report` (what
:func:`pumpsim.rules.validate.validate` found, and the Monte-Carlo risks if any) and the figures
into one HTML page, verdict first, in the order of :func:`pumpsim.rules.report.render_text`. The
page needs no network: figures are embedded as ``data:`` URIs, the CSS and the one small
script are inline, and a Content-Security-Policy forbids loading anything else. The policy
allows that one script by the SHA-256 hash of its exact text (:func:`csp`), computed when the
page is rendered, and no other inline script: markup that escaped :func:`html.escape` could not
run. Every piece of text that comes from the table or the data is escaped with :func:`html.escape`.

The inline script counts the figures the browser could decode and writes the count into
``data-figures-loaded`` / ``data-figures-total`` on ``<html>`` (and the document title), so a
headless browser test can read back that every figure loaded.
"""
from __future__ import annotations

import base64
import hashlib
import shlex
from html import escape
from pathlib import Path

from pumpsim._version import __version__
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY
from pumpsim.rules.kit import Violation, worst
from pumpsim.rules.report import VERDICT_WORDS, Report, sources_used

DISCLAIMER = "decision support for professionals, not a medical device"

# caption of each figure of pumpsim.render.figures.FIGURES (a figure unknown here gets its name)
CAPTIONS = {
    "reservoir": "Reservoir volume over time: the true volume in the nominal and the worst case (fast pump, every "
                 "bolus allowed), the pump's own estimate, the low-alarm volume, the refills, and the periods "
                 "when the worst-case pump is empty (shaded).",
    "doses": "Worst-case dose of each drug in every rolling 24 h window, against the profile's soft and hard daily "
             "ceilings; a bump after a change of mix is the old mix flushed from the catheter at the new rate.",
    "ziconotide": "Ziconotide titration: the programmed daily dose as a staircase inside the fastest titration the "
                  "profile allows (start, step, interval, ceiling); violations are marked.",
    "trumpet": "Trumpet curve of the pulsed pump at the first session's mean rate, in the manner of IEC 60601-2-24: "
               "the largest and smallest flow error over observation windows of 2 to 31 min, and the mean error.",
    "montecarlo": "Monte-Carlo runs: the volume left in the reservoir before each refill, and the first time the "
                  "reservoir is empty, as shares of all runs.",
}
FAN_CAPTION = ("With the Monte-Carlo runs: the bands that hold 90 % and 50 % of the runs' true volume, "
               "and their median.")

Figure = tuple[str, bytes | str]  # (caption, PNG bytes or SVG text)

CSS = """
:root { --fail: #b00020; --warn: #8a5a00; --pass: #1b5e20; --line: #d0d4da; --muted: #5f6670; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d232a;
       background: #fff; margin: 0 auto; max-width: 1120px; padding: 24px 28px 40px; font-size: 15px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 14px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.verdict { border-radius: 6px; padding: 14px 18px; font-size: 18px; font-weight: 700; border-left: 10px solid; }
.verdict .word { letter-spacing: .04em; margin-right: .4em; }
.verdict-pass { background: #e8f5e9; border-color: var(--pass); color: var(--pass); }
.verdict-warn { background: #fff4d6; border-color: #e69f00; color: var(--warn); }
.verdict-fail { background: #fde7ea; border-color: var(--fail); color: var(--fail); }
.verdict-not_checked { background: #eef0f3; border-color: var(--muted); color: #333; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 14px 0 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 5px 7px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
td.msg { min-width: 210px; }
td.source { min-width: 170px; }
table.violations { font-size: 13px; }
table.violations td, table.violations th { padding: 4px 6px; }
table.compact { width: auto; min-width: 60%; }
.sev-hard { color: var(--fail); font-weight: 700; }
.sev-soft { color: var(--warn); font-weight: 700; }
.unverified { display: inline-block; background: #e69f00; color: #000; font-weight: 700; font-size: 11.5px;
              padding: 1px 6px; border-radius: 3px; letter-spacing: .03em; }
.verified { color: var(--pass); font-size: 12.5px; }
.source { color: #333; font-size: 12.5px; }
figure { margin: 18px 0 26px; page-break-inside: avoid; break-inside: avoid; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: #333; font-size: 13.5px; margin-top: 6px; }
ul.plain { margin: 4px 0; padding-left: 20px; }
pre.risk { background: #f6f8fa; border: 1px solid var(--line); padding: 10px 12px; font-size: 13px; white-space: pre-wrap; }
footer { margin-top: 34px; padding-top: 10px; border-top: 2px solid var(--line); font-size: 13px; color: #333; }
footer code { background: #f1f3f5; padding: 2px 5px; border-radius: 3px; word-break: break-all; }
.disclaimer { font-weight: 700; }
.none { color: var(--muted); font-style: italic; }
.muted { color: var(--muted); font-size: 12.5px; }
@media print { body { max-width: none; padding: 0; } h2 { page-break-after: avoid; } }
"""

# counts the figures the browser decoded; a headless test reads the attributes back (--dump-dom)
SCRIPT = """
(function () {
  function count() {
    var imgs = document.querySelectorAll("img.figure"), ok = 0;
    for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } }
    var root = document.documentElement;
    root.setAttribute("data-figures-loaded", String(ok));
    root.setAttribute("data-figures-total", String(imgs.length));
    document.title = document.title.replace(/ \\[figures .*\\]$/, "") + " [figures " + ok + "/" + imgs.length + "]";
  }
  if (document.readyState === "complete") { count(); } else { window.addEventListener("load", count); }
})();
"""



def script_hash(script: str) -> str:
    """The CSP source that allows one inline script: ``'sha256-...'`` of its exact text (UTF-8)."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def csp(script: str) -> str:
    """The page's Content-Security-Policy: nothing loaded but ``data:`` images, the inline CSS, and
    only the inline script whose text is ``script`` (by its hash; no ``'unsafe-inline'`` for scripts)."""
    return f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {script_hash(script)}"


def _e(x: object) -> str:
    return escape(str(x), quote=True)


def _num(x: float | None) -> str:
    return "&ndash;" if x is None else _e(f"{x:.6g}")


def _flag(verified: bool) -> str:
    return '<span class="verified">verified</span>' if verified else '<span class="unverified">UNVERIFIED</span>'


def _data_uri(image: bytes | str) -> str:
    if isinstance(image, str):  # SVG text
        return "data:image/svg+xml;base64," + base64.b64encode(image.encode("utf-8")).decode("ascii")
    if image[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("a figure must be PNG bytes or SVG text")
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def _when(table: Table, v: Violation) -> str:
    """The session and instant of a violation, as escaped HTML."""
    if v.session is not None:
        at = table.iso(table.sessions[v.session - 1].t)
        out = f"session[{v.session}]<br>{_e(at)}"
        if v.at and v.at != at:
            out += f'<br><span class="muted">instant {_e(v.at)}</span>'
        return out
    return "over the horizon" + (f"<br>{_e(v.at)}" if v.at else "")


def _violations(report: Report) -> list[str]:
    t = report.table
    if not report.violations:
        return ['<p class="none">No rule is violated.</p>']
    rows = ['<table class="violations">', "<thead><tr><th>rule</th><th>severity</th><th>session / instant</th><th>drug</th>"
            "<th>value</th><th>limit</th><th>unit</th><th>message</th><th>source</th><th>verified</th></tr></thead>", "<tbody>"]
    order = sorted(range(len(report.violations)),
                   key=lambda i: (report.violations[i].session is None, report.violations[i].session or 0, i))
    for i in order:
        v = report.violations[i]
        rows.append(
            f'<tr class="violation" data-rule="{_e(v.rule)}"><td><b>{_e(v.rule)}</b></td>'
            f'<td class="sev-{_e(v.severity)}">{_e(v.severity)}</td><td class="nowrap">{_when(t, v)}</td>'
            f"<td>{_e(v.drug or '')}</td><td class=\"num\">{_num(v.value)}</td><td class=\"num\">{_num(v.limit)}</td>"
            f"<td>{_e(v.unit)}</td><td class=\"msg\">{_e(v.message)}</td><td class=\"source\">{_e(v.source)}</td>"
            f"<td>{_flag(v.verified)}</td></tr>")
    rows += ["</tbody>", "</table>"]
    if any(not v.verified for v in report.violations):
        rows.append('<p><span class="unverified">UNVERIFIED</span> the limit comes from a value not yet checked '
                    "against its source: confirm it before acting on this report.</p>")
    return rows


#: The banner of a report holding several parts, by its verdict (the worst of the parts'); {parts}
#: lists each part's verdict.
PARTS_WORDS = {
    "pass": "PASS: no rule is violated ({parts}).",
    "not_checked": "NOT CHECKED: no rule is violated, but a part could check nothing ({parts}).",
    "warn": "WARN: no hard rule is violated, but there are warnings to review ({parts}).",
    "fail": "FAIL: at least one hard rule is violated ({parts}); do not act on this report as it is.",
}


def _word(verdict: str) -> str:
    """A verdict as the banner writes it: ``not_checked`` -> ``NOT CHECKED``."""
    return verdict.replace("_", " ").upper()


def banner(report: Report, parts: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    """The verdict of a report page and its banner: with only the table's checks, the words of
    ``pumpsim validate``; with other parts (telemetry records, care pathway), the worst verdict of
    all (fail > warn > not_checked > pass) and every part's own."""
    if not parts or [v for _, v in parts] == [report.verdict] and len(parts) == 1:
        return report.verdict, VERDICT_WORDS[report.verdict]
    verdict = worst(*(v for _, v in parts))
    listed = "; ".join(f"{name}: {_word(v)}" for name, v in parts)
    return verdict, PARTS_WORDS[verdict].format(parts=listed)


def render_html(report: Report, figures: list[Figure], command: str, made: str | None = None,
                parts: list[tuple[str, str]] | None = None) -> str:
    """The report as one self-contained HTML page (figures: (caption, PNG bytes or SVG text)).
    ``parts``: (part, verdict) of every part the page holds (the table's checks first, then the
    telemetry records, the care pathway); the page's verdict, title and banner are the worst."""
    t, p = report.table, report.profile
    verdict, words = banner(report, parts)
    hard = sum(v.severity == "hard" for v in report.violations)
    soft = len(report.violations) - hard
    title = f"pumpsim report: {_word(verdict)} - {Path(t.path).name}"
    script = SCRIPT  # the policy allows this text, by its hash, and nothing else
    h: list[str] = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp(script)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        "<h1>pumpsim report on a pump programming table</h1>",
        f'<div class="verdict verdict-{verdict}" id="verdict" role="status" data-testid="verdict" '
        f'data-verdict="{verdict}">{_e(words)}</div>',
        '<dl class="facts">',
        f"<dt>table</dt><dd><code>{_e(t.path)}</code></dd>",
        f"<dt>device</dt><dd>{_e(t.device.model)} ({_e(t.device.route)})</dd>",
        f"<dt>profile</dt><dd>{_e(p.name)}" + (f": {_e(p.title)}" if p.title else "") + "</dd>",
        f"<dt>horizon</dt><dd>{_e(f'{t.horizon / DAY:g}')} days, {len(t.sessions)} session(s)</dd>",
        f"<dt>findings</dt><dd>{hard} hard violation(s), {soft} warning(s)"
        + (" in the table's checks" if parts and len(parts) > 1 else "") + "</dd>",
        *([f"<dt>verdicts</dt><dd>{'; '.join(f'{_e(n)}: {_e(_word(v))}' for n, v in parts)}</dd>"]
          if parts and len(parts) > 1 else []),
        "</dl>",
        "<h2>Violations</h2>", *_violations(report),
    ]
    if report.skipped:
        h += ["<h2>Checks not made</h2>", '<ul class="plain">']
        h += [f"<li><b>{_e(s.rule)}</b>: {_e(s.reason)}</li>" for s in report.skipped]
        h.append("</ul>")
    if report.drugs:
        h += ["<h2>Doses</h2>", "<p>Maximum in any 24 h as programmed and in the worst case; nominal total over the horizon.</p>",
              "<table class=\"compact\"><thead><tr><th>drug</th><th>max 24 h (programmed)</th><th>max 24 h (worst case)</th>"
              "<th>total (nominal)</th><th>unit</th></tr></thead><tbody>"]
        for d, info in report.drugs.items():
            h.append(f"<tr><td>{_e(d)}</td><td class=\"num\">{_num(info.get('max_24h_dose_programmed'))}</td>"
                     f"<td class=\"num\">{_num(info['max_24h_dose'])}</td>"
                     f"<td class=\"num\">{_num(info['total_delivered'])}</td><td>{_e(info['unit'])}</td></tr>")
        h.append("</tbody></table>")
    if report.reservoir:
        h += ["<h2>Reservoir</h2>", "<table class=\"compact\"><thead><tr><th>case</th><th>low alarm at</th><th>empty at</th></tr></thead><tbody>"]
        for case in ("nominal", "worst", "programmed"):
            if case not in report.reservoir:
                continue
            r = report.reservoir[case]
            h.append(f"<tr><td>{case}</td><td>{_e(r.get('low_alarm_at') or 'never')}</td>"
                     f"<td>{_e(r.get('empty_at') or 'never')}</td></tr>")
        h.append("</tbody></table>")
    if report.risk_text:
        h += ["<h2>Monte-Carlo risk</h2>", f'<pre class="risk">{_e(chr(10).join(report.risk_text))}</pre>']
    if figures:
        h.append("<h2>Figures</h2>")
        for i, (caption, image) in enumerate(figures, 1):
            h.append(f'<figure><img class="figure" src="{_data_uri(image)}" alt="Figure {i}: {_e(caption)}">'
                     f"<figcaption><b>Figure {i}.</b> {_e(caption)}</figcaption></figure>")
    h += ["<h2>Device and profile values used</h2>",
          "<table><thead><tr><th>what</th><th>value</th><th>flag</th><th>source</th></tr></thead><tbody>"]
    for what, value, s in sources_used(t, p):
        h.append(f"<tr><td>{_e(what)}</td><td class=\"nowrap\">{_e(value)}</td><td>{_flag(s.verified)}</td>"
                 f"<td class=\"source\">{_e(s.source)}</td></tr>")
    h.append("</tbody></table>")
    h += ["<footer>", f"<p>Made by <code>{_e(command)}</code> with pumpsim {_e(__version__)}"
          + (f" on {_e(made)}" if made else "") + ".</p>",
          f'<p class="disclaimer">pumpsim is {DISCLAIMER}. It never replaces the device manufacturer\'s '
          "instructions, the hospital's drug library, the pharmacist's double check or clinical judgement.</p>",
          "</footer>", f"<script>{script}</script>", "</body>", "</html>"]
    return "\n".join(h) + "\n"


def build_figures(result, mc=None) -> list[Figure]:
    """The figures of :func:`pumpsim.render.figures.figures` as PNG bytes, each with its caption, in
    :data:`pumpsim.render.figures.FIGURES` order. ``result`` is what :func:`pumpsim.rules.validate.validate`
    returned: the figures draw its simulations, nothing is simulated again."""
    import io

    from pumpsim.render.figures import figures

    out = []
    for name, fig in figures(result, mc).items():
        caption = CAPTIONS.get(name, name)
        if name == "reservoir" and getattr(mc, "fan", None) is not None:
            caption += " " + FAN_CAPTION
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        out.append((caption, buf.getvalue()))
    return out


def records_figure(rec) -> Figure:
    """The reconciliation figure (``report --records``) with its caption."""
    from pumpsim.render.telemetry_figure import figure_png

    hard = sum(v.severity == "hard" for v in rec.violations)
    caption = (f"Telemetry records {Path(rec.records_path).name} against this table: delivered / programmed volume per "
               f"refill interval against the band of the pump's accuracy, and the drift statistic (two-sided CUSUM) "
               f"against its threshold; pumpsim reconcile: {rec.verdict.upper()}, {hard} hard finding(s), "
               f"{len(rec.violations) - hard} warning(s).")
    return (caption, figure_png(rec))


PATHWAY_CAPTION = ("Care pathway of {patient} (pumpsim pathway: {verdict}{violations}): each date of the pathway "
                   "as a row, the delay to the date it is counted from as a bar, and the dates its limit allows "
                   "shaded (calendar days).")


def pathway_figure(report) -> Figure | None:
    """The timeline of a :class:`pumpsim.pathway.report.PathwayReport` as a captioned PNG (None without dates)."""
    from pumpsim.render.pathway_figure import timeline_png

    name = Path(report.patient.path).name
    png = timeline_png(report.steps, f"Care pathway of {name} ({report.verdict.upper()})")
    if png is None:
        return None
    found = ", ".join(f"{v.rule} ({v.severity})" for v in report.violations)
    return (PATHWAY_CAPTION.format(patient=name, verdict=report.verdict.upper(),
                                   violations=f"; {found}" if found else ""), png)


def command_line(argv: list[str], args) -> str:
    """The command that made the report, shell-quoted: ``argv`` (the process's ``sys.argv``) when the
    process ran ``pumpsim report``, else (``main([...])`` called from Python) the equivalent command
    rebuilt from the parsed ``args``."""
    if argv[1:2] == ["report"]:
        return shlex.join(["pumpsim" if Path(argv[0]).name == "pumpsim" else argv[0], *argv[1:]])
    out = ["pumpsim", "report", str(args.table), "-o", str(args.output)]
    if args.profile:
        out += ["--profile", args.profile]
    if getattr(args, "patient", None):
        out += ["--patient", args.patient]
    if args.simulate:
        out.append("--simulate")
        if args.runs is not None:
            out += ["--runs", str(args.runs)]
        if args.seed is not None:
            out += ["--seed", str(args.seed)]
    return shlex.join(out)
