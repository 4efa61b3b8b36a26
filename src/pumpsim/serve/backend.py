"""Every call the page makes into pumpsim, in one module, so that a change of the API is adapted here.

Each function takes the text (or bytes) the user typed or uploaded and returns a plain view
object the templates render: numbers already in the units shown, instants as date-times, and
the problems of bad input (the same :class:`pumpsim.model.errors.Problem` list ``validate``
prints at exit 2). Nothing here formats HTML or knows about Flask.

The table functions go through :mod:`pumpsim.api` (``load_table``, ``validate``, ``plan``).
Telemetry records, patient files, programs and titration have no function in the API yet; they
are called in their own packages, from here only.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import io
import math
import threading
import tomllib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pumpsim import api
from pumpsim._version import __version__
from pumpsim.model.errors import InputError, Problem
from pumpsim.model.table import Sourced
from pumpsim.rules.kit import verdict_of

#: The largest upload or typed text accepted [bytes] (1 MB = 2**20 bytes).
MAX_BYTES = 2**20
DAY = 86400
SAVED_HEADER = "# pumpsim {version} sha256 {digest}"


# --------------------------------------------------------------------------- shared helpers
def refill_window() -> tuple[Sourced, Sourced]:
    """The refill window's bounds before the programmed low alarm [s], early then late, with their
    source (``data/serve.toml``)."""
    from importlib import resources

    from pumpsim.model import units

    raw = tomllib.loads(resources.files("pumpsim.data").joinpath("serve.toml").read_text(encoding="utf-8"))
    early, late = (Sourced(units.parse_duration(raw[k]["value"]), raw[k]["source"], bool(raw[k]["verified"]),
                           raw[k]["value"]) for k in ("refill_window_early", "refill_window_late"))
    return early, late


def too_large(name: str, size: int, what: str) -> Problem | None:
    """The problem of an input above :data:`MAX_BYTES`, or None."""
    if size <= MAX_BYTES:
        return None
    return Problem(name, "", f"{what} is {size} bytes, above the limit of {MAX_BYTES} bytes (1 MB)",
                   "give a smaller file: a programming table is a few kilobytes")


def _named(problems: list[Problem], placeholder: str, name: str) -> list[Problem]:
    """The problems with the parser's placeholder file name replaced by the name the user gave."""
    return [dataclasses.replace(p, file=name) if p.file == placeholder else p for p in problems]


def strip_saved_header(text: str) -> tuple[str, str | None]:
    """A saved table's text without its ``# pumpsim VERSION sha256 HEX`` first line, and whether that
    line matches the rest: ``"matches"``, ``"differs"`` or None (no such line)."""
    first, sep, rest = text.partition("\n")
    parts = first.split()
    if len(parts) == 5 and parts[:2] == ["#", "pumpsim"] and parts[3] == "sha256":
        digest = hashlib.sha256(rest.replace("\r\n", "\n").encode("utf-8")).hexdigest()  # a browser posts CRLF
        return rest, ("matches" if digest == parts[4].lower() else "differs")
    return text, None


def _png_bytes(data: bytes | None) -> str | None:
    return None if data is None else "data:image/png;base64," + base64.b64encode(data).decode("ascii")


@dataclass
class Finding:
    """A violation as a panel lists it."""

    rule: str
    severity: str
    at: str | None
    drug: str | None
    value: float | None
    limit: float | None
    unit: str
    message: str
    source: str
    verified: bool


def _finding(v) -> Finding:
    at = v.at if isinstance(v.at, str) or v.at is None else v.at.isoformat(timespec="seconds")
    return Finding(v.rule, v.severity, at, v.drug, v.value, v.limit, v.unit or "", v.message, v.source, v.verified)


# --------------------------------------------------------------------------- tables
def load(text: str, name: str):
    """(table, profile) of a typed table, or an :class:`InputError` naming ``name``.

    The one place the page loads a table (the API will return the profile with the table)."""
    problem = too_large(name, len(text.encode("utf-8")), "the table")
    if problem:
        raise InputError([problem])
    body, _ = strip_saved_header(text)
    try:
        loaded = api.load_table_text(body)
        result = api.validate(loaded)
    except InputError as e:
        raise InputError(_named(e.problems, "<table>", name)) from None
    return loaded.table, result


@dataclass
class DoseRow:
    drug: str
    unit: str
    programmed_daily: float  # [unit/day] of the last session's program
    concentration: float  # [unit/mL] in the reservoir at the last session
    max_24h_programmed: float
    max_24h_worst: float
    total_nominal: float


@dataclass
class ReservoirRow:
    case: str
    low_alarm_at: dt.datetime | None
    empty_at: dt.datetime | None
    remaining: float


@dataclass
class TableView:
    name: str
    text: str
    verdict: str  # pass | warn | fail | not_checked | invalid
    problems: list[Problem] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    doses: list[DoseRow] = field(default_factory=list)
    reservoir: list[ReservoirRow] = field(default_factory=list)
    key: str = ""  # names the checked table in the figure URLs (/figure/KEY/NAME.png)
    result: Any = field(default=None, repr=False)  # what api.validate returned
    pngs: dict[str, bytes] = field(default_factory=dict, repr=False)  # figures drawn so far
    profile: str = ""
    horizon_end: dt.datetime | None = None
    mode: str = ""
    saved_check: str | None = None  # "matches" | "differs" | None
    refill_sessions: list[tuple[int, dt.datetime]] = field(default_factory=list)
    reservoir_mL: float | None = None
    next_appointment: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.verdict != "invalid"


#: The tables checked last, by key: the page asks for their figures right after their result.
_CACHE: OrderedDict[str, TableView] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32
FIGURES = ("reservoir", "doses")


def check_table(text: str, name: str = "table.toml") -> TableView:
    """The table panel: verdict, violations, doses and reservoir dates of a typed table; its figures
    are drawn when asked (:func:`figure_png`), so that the verdict shows at once."""
    key = hashlib.sha256(f"{name}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    view = _check_table(text, name)
    view.key = key
    with _CACHE_LOCK:
        _CACHE[key] = view
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return view


def figure_png(key: str, name: str) -> bytes | None:
    """A figure of a table checked lately (``name`` in :data:`FIGURES`) as PNG bytes; None if unknown."""
    with _CACHE_LOCK:
        view = _CACHE.get(key)
    if view is None or view.result is None or name not in FIGURES:
        return None
    if name not in view.pngs:
        from pumpsim.render.figures import doses_figure, reservoir_figure

        fig = (reservoir_figure if name == "reservoir" else doses_figure)(view.result)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        view.pngs[name] = buf.getvalue()
    return view.pngs[name]


def _check_table(text: str, name: str) -> TableView:
    _, saved = strip_saved_header(text)
    try:
        table, result = load(text, name)
    except InputError as e:
        return TableView(name, text, "invalid", problems=e.problems, saved_check=saved)
    last = table.programs[-1]
    doses = [DoseRow(d, s.unit, last.daily_dose(d), dict(last.mix).get(d, 0.0), s.max_24h_programmed, s.max_24h_worst,
                     s.total_nominal) for d, s in result.doses.items()]
    reservoir = [ReservoirRow(case, r.low_alarm_at, r.empty_at, r.remaining) for case, r in result.reservoir.items()]
    view = TableView(name, text, result.verdict, violations=[_finding(v) for v in result.violations],
                     skipped=result.skipped, doses=doses, reservoir=reservoir, profile=result.profile.name,
                     horizon_end=table.datetime_at(table.horizon), mode="flex" if last.session.flex or len(last.steps) > 1
                     else "simple continuous", saved_check=saved,
                     refill_sessions=[(s.index, s.at) for s in table.sessions if s.refill is not None and s.index > 1],
                     reservoir_mL=float(table.device.reservoir.value))
    prog = result.reservoir["programmed"]
    if prog.low_alarm_at is not None:
        view.next_appointment = prog.low_alarm_at - dt.timedelta(seconds=refill_window()[1].value)
    view.result = result
    return view


# --------------------------------------------------------------------------- change review
@dataclass
class ChangeRow:
    drug: str
    unit: str
    old: float  # programmed daily dose before the change [unit/day]
    new: float  # after [unit/day]

    @property
    def percent(self) -> float | None:
        """(new - old) / old [%]; None for a drug that was not in the current table."""
        return None if self.old == 0 else 100.0 * (self.new - self.old) / self.old


@dataclass
class ReviewView:
    verdict: str
    problems: list[Problem] = field(default_factory=list)
    rows: list[ChangeRow] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    change_at: dt.datetime | None = None
    old_settings: list[tuple[str, str]] = field(default_factory=list)
    new_settings: list[tuple[str, str]] = field(default_factory=list)


def _settings(table, prog) -> list[tuple[str, str]]:
    """The settings of a program as the programmer's final screen lists them (label, value)."""
    out = [("from", prog.session.at.isoformat(sep=" ", timespec="minutes"))]
    out += [(f"{d} concentration", f"{c:.4g} {_unit(d)}/mL") for d, c in prog.mix]
    if len(prog.steps) == 1:
        out.append(("rate", f"{prog.steps[0].rate:.4g} mL/day"))
    else:
        for s in prog.steps:
            out.append((f"rate from {s.start // 3600:02d}:{s.start % 3600 // 60:02d}", f"{s.rate:.4g} mL/day"))
    out.append(("mean rate", f"{prog.mean_rate:.4g} mL/day"))
    if prog.bolus is None:
        out.append(("bolus", "off"))
    else:
        b = prog.bolus
        out.append(("bolus", f"{b.volume * 1000:.4g} uL, lockout {b.lockout / 3600:.4g} h, at most {b.max_per_24h} per 24 h"))
    return out


def _unit(drug: str) -> str:
    from pumpsim.io.library import drug_library

    info = drug_library().drugs.get(drug)
    return info.dose_unit if info else ""


def review(old_text: str, new_text: str, old_name: str = "current.toml", new_name: str = "new.toml") -> ReviewView:
    """The change review: per drug the programmed daily dose before and after and the change per
    24 h, and every rule the new table breaks when it is appended to the current one at its first
    session (the rules judge the joined table; the findings from that session on are listed)."""
    problems: list[Problem] = []
    tables = []
    for text, name in ((old_text, old_name), (new_text, new_name)):
        try:
            tables.append(load(text, name)[0])
        except InputError as e:
            problems += e.problems
    if problems:
        return ReviewView("invalid", problems)
    old, new = tables
    if new.start <= old.start:
        return ReviewView("invalid", [Problem(new_name, "session[1].at", f"the new table starts at {new.start.isoformat()}, "
                                              f"not after the current table's first session ({old.start.isoformat()})",
                                              "start the new table at the session where the change is made")])
    before = [p for p in old.programs if p.session.at <= new.start][-1]
    after = new.programs[0]
    drugs = sorted({d for d, _ in before.mix} | {d for d, _ in after.mix})
    rows = [ChangeRow(d, _unit(d), before.daily_dose(d), after.daily_dose(d)) for d in drugs]
    raw_old = tomllib.loads(strip_saved_header(old_text)[0])
    raw_new = tomllib.loads(strip_saved_header(new_text)[0])
    kept = sum(1 for s in old.sessions if s.at < new.start)
    joined = dict(raw_new)
    joined["session"] = list(raw_old["session"][:kept]) + list(raw_new["session"])
    offset = int((new.start - old.start).total_seconds())
    joined["horizon"] = _duration_text(offset + new.horizon)
    from pumpsim.io import tomlwrite

    joined_text = tomlwrite.dumps(joined)
    try:
        _, result = load(joined_text, f"{new_name} after {old_name}")
    except InputError as e:
        return ReviewView("invalid", e.problems, rows)
    found = [_finding(v) for v in result.violations if v.t is None or v.t >= offset]
    return ReviewView(verdict_of(found), [], rows, found, new.start, _settings(old, before), _settings(new, after))


def _duration_text(seconds: float) -> str:
    from pumpsim.model.units import format_duration

    return format_duration(int(seconds) if float(seconds).is_integer() else seconds)


# --------------------------------------------------------------------------- plan and titrate
@dataclass
class PlanView:
    verdict: str  # pass (a plan) | fail (no plan) | invalid
    problems: list[Problem] = field(default_factory=list)
    interval_days: int | None = None
    refill_at: dt.datetime | None = None
    fill_volume: float | None = None
    rate: float | None = None
    binding: str = ""
    concentrations: list[tuple[str, float, str]] = field(default_factory=list)
    daily_doses: list[tuple[str, float, str]] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)
    stability: dict[str, Any] | None = None
    residual_worst: float | None = None
    residual_nominal: float | None = None
    low_alarm_at: dt.datetime | None = None
    window: tuple[dt.datetime, dt.datetime] | None = None
    window_bounds: tuple[Sourced, Sourced] | None = None  # (early, late) before the low alarm, with their source
    notes: list[str] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    words: str = ""


def plan(text: str, name: str = "table.toml", keep_concentration: bool = False) -> PlanView:
    """The refill plan of ``pumpsim plan`` and its refill window."""
    from pumpsim.planning.plan_result import describe

    try:
        table, _ = load(text, name)
        res = api.plan(table, keep_concentration=keep_concentration)
    except InputError as e:
        return PlanView("invalid", _named(e.problems, "<table>", name))
    j = res.as_json()
    view = PlanView("pass" if res.interval_days is not None else "fail", interval_days=res.interval_days,
                    refill_at=res.refill_at, fill_volume=res.fill_volume, rate=res.rate, binding=res.binding,
                    concentrations=[(d, c, j["concentration_unit"][d]) for d, c in res.concentrations.items()],
                    daily_doses=[(d, v["value"], v["unit"]) for d, v in j["daily_doses"].items()],
                    limits=j["limits"], stability=j.get("stability"), residual_worst=res.residual_worst,
                    residual_nominal=res.residual_nominal, notes=list(res.notes),
                    violations=[_finding(v) for v in res.violations], words=describe(res))
    if res.interval_days is not None and res.refill_at is not None:
        early, late_by = refill_window()
        view.window_bounds = (early, late_by)
        view.low_alarm_at = _programmed_low_alarm(res)
        late = res.refill_at if view.low_alarm_at is None else min(
            view.low_alarm_at - dt.timedelta(seconds=late_by.value), res.refill_at)
        view.window = (late - dt.timedelta(seconds=early.value - late_by.value), late)
    return view


def _programmed_low_alarm(res) -> dt.datetime | None:
    """The programmed case's low alarm (exact pump, every bolus) after the planned refill, with no
    refill after it; None when the pump has no low-alarm volume."""
    from pumpsim.model.results import Scenario
    from pumpsim.planning.plan import one_session_table
    from pumpsim.sim import simulation

    table = res.table
    if table.device.low_alarm is None or res.k is None or not res.rate:
        return None
    days = math.ceil(res.fill_volume / res.rate) + 2
    sub = one_session_table(table, res.k, days * DAY)
    hit = simulation.simulate(sub, Scenario.programmed()).low_alarm_at
    return None if hit is None else table.sessions[-1].at + dt.timedelta(seconds=round(hit))


@dataclass
class TitrateView:
    verdict: str
    problems: list[Problem] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    words: str = ""
    unit: str = ""


def titrate(text: str, name: str, drug: str, target: str, pace: str = "fast") -> TitrateView:
    """The titration schedule of ``pumpsim titrate`` (clinic Monday to Friday, 09:00-17:00)."""
    from pumpsim.planning.titrate import describe, parse_options
    from pumpsim.planning.titrate import titrate as _titrate

    try:
        table, result = load(text, name)
        value, clinic = parse_options(name, drug, target, "Mon,Tue,Wed,Thu,Fri", "09:00-17:00")
        res = _titrate(table, result.profile, drug, value, pace="slow" if pace == "slow" else "fast", clinic=clinic)
    except InputError as e:
        fields = {"--drug": "drug", "--target": "target daily dose"}  # the command's options are the panel's fields
        return TitrateView("invalid", [dataclasses.replace(p, field=fields.get(p.field, p.field))
                                       for p in _named(e.problems, "<table>", name)])
    j = res.as_json()
    rows = j.get("schedule") or j.get("rows") or []
    return TitrateView("pass" if res.exit_status == 0 else "fail", rows=rows, words=describe(res), unit=res.unit)


# --------------------------------------------------------------------------- refill check
@dataclass
class RefillView:
    verdict: str
    problems: list[Problem] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)
    intervals: list[dict[str, Any]] = field(default_factory=list)
    figure: str | None = None
    expected: tuple[float, float] | None = None  # residual range [mL] for a typed volume
    aspirated: float | None = None
    session_at: dt.datetime | None = None


def refill_records(text: str, name: str, records: bytes, records_name: str) -> RefillView:
    """``pumpsim reconcile`` of an uploaded records CSV: the verdict, the intervals and the figure."""
    from pumpsim.io.records import parse_records
    from pumpsim.render.telemetry_figure import figure_png
    from pumpsim.telemetry.reconcile import reconcile

    problems: list[Problem] = []
    table = None
    try:
        table, _ = load(text, name)
    except InputError as e:
        problems += e.problems
    big = too_large(records_name, len(records), "the records file")
    if big:
        return RefillView("invalid", problems + [big])
    try:
        csv_text = records.decode("utf-8")
    except UnicodeDecodeError as e:
        return RefillView("invalid", problems + [Problem(records_name, "", f"not UTF-8 text (byte 0x{records[e.start]:02x} at "
                                                                          f"offset {e.start})", "save the file as UTF-8")])
    try:
        rows = parse_records(csv_text, records_name)
    except InputError as e:
        problems += e.problems
    if problems:
        return RefillView("invalid", problems)
    try:
        rec = reconcile(table, rows, records_name)
    except InputError as e:
        return RefillView("invalid", e.problems)
    return RefillView(rec.verdict, [], [_finding(v) for v in rec.violations],
                      [(s.rule, s.reason) for s in rec.not_checked], rec.as_json()["intervals"],
                      _png_bytes(figure_png(rec)))


def refill_aspirated(text: str, name: str, session: str, volume: str) -> RefillView:
    """One aspirated volume typed at a refill session: the expected residual range and the verdict of
    ``pumpsim reconcile`` on that one refill row."""
    from pumpsim.io.records import parse_records
    from pumpsim.telemetry.reconcile import reconcile

    try:
        table, _ = load(text, name)
    except InputError as e:
        return RefillView("invalid", e.problems)
    problems = []
    refills = {str(s.index): s for s in table.sessions if s.refill is not None and s.index > 1}
    chosen = refills.get(session.strip())
    if chosen is None:
        problems.append(Problem(name, "refill session", f"{session!r} is not a refill session after the first"
                                + ("" if refills else " (the table has none)"),
                                "choose one of the sessions listed" if refills else "add the refill session to the table"))
    try:
        v = float(volume)
        if not math.isfinite(v) or v < 0 or v > float(table.device.reservoir.value):
            raise ValueError
    except ValueError:
        v = None
        problems.append(Problem(name, "aspirated volume", f"{volume!r} is not a volume from 0 to the reservoir's "
                                f"{float(table.device.reservoir.value):g} mL", "type the volume aspirated in mL, e.g. 3.2"))
    if problems:
        return RefillView("invalid", problems)
    csv_text = f"time,event,volume_mL\n{chosen.at.isoformat(timespec='seconds')},refill,{v!r}\n"
    try:
        rec = reconcile(table, parse_records(csv_text, "<aspirated>"), "<aspirated>")
    except InputError as e:
        return RefillView("invalid", _named(e.problems, "<aspirated>", "aspirated volume"))
    expected = None
    for iv in rec.intervals:
        if iv.end.at == chosen.at:
            lo, hi = rec.band
            residual = iv.observed + v  # what was in the reservoir after the previous fill
            expected = (max(0.0, residual - iv.expected_high * hi), max(0.0, residual - iv.expected_low * lo))
    return RefillView(rec.verdict, [], [_finding(x) for x in rec.violations], [(s.rule, s.reason) for s in rec.not_checked],
                      rec.as_json()["intervals"], None, expected, v, chosen.at)


# --------------------------------------------------------------------------- pathway and program
@dataclass
class FileView:
    verdict: str
    problems: list[Problem] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)
    timeline: list[tuple[str, str, str]] = field(default_factory=list)  # (date, what, words)
    figure: str | None = None


def pathway(data: bytes, name: str, table_text: str = "", table_name: str = "table.toml") -> FileView:
    """``pumpsim pathway`` of a patient file (with the table when one is given)."""
    from pumpsim.io.patient import parse_patient_bytes
    from pumpsim.pathway.context import iso
    from pumpsim.pathway.report import check
    from pumpsim.pathway.timeline import timeline_lines
    from pumpsim.render.pathway_figure import timeline_png

    big = too_large(name, len(data), "the patient file")
    if big:
        return FileView("invalid", [big])
    problems: list[Problem] = []
    patient = profile = table = result = None
    try:
        patient, profile = parse_patient_bytes(data, name)
    except InputError as e:
        problems += e.problems
    if table_text.strip():
        try:
            table, result = load(table_text, table_name)
        except InputError as e:
            problems += e.problems
    if problems:
        return FileView("invalid", problems)
    rep = check(patient, profile, table, programmed=None if result is None else result.programmed,
                worst=None if result is None else result.worst)
    steps = [(iso(s.at) or "", s.what, line.strip()) for s, line in zip(rep.steps, timeline_lines(rep.steps))]
    return FileView(rep.verdict, [], [_finding(v) for v in rep.violations], [(s.rule, s.reason) for s in rep.not_checked],
                    steps, _png_bytes(timeline_png(rep.steps, f"Care pathway of {name} ({rep.verdict.upper()})")))


def program(data: bytes, name: str) -> FileView:
    """``pumpsim program`` of a ketamine or esketamine program file."""
    from pumpsim.io.programs import parse_program_bytes
    from pumpsim.programs.report import judge, timeline

    big = too_large(name, len(data), "the program file")
    if big:
        return FileView("invalid", [big])
    try:
        rep = judge(parse_program_bytes(data, name))
    except InputError as e:
        return FileView("invalid", e.problems)
    return FileView(rep.verdict, [], [_finding(v) for v in rep.violations], [(s.rule, s.reason) for s in rep.skipped],
                    [(at, kind, words) for at, kind, words in timeline(rep.program)])


# --------------------------------------------------------------------------- save
@dataclass
class Saved:
    """A table ready to download, or why it is refused."""

    view: TableView
    content: str | None = None
    sha256: str | None = None
    refused: str | None = None


def save(text: str, name: str) -> Saved:
    """The validated table with its first line ``# pumpsim VERSION sha256 HEX`` (the SHA-256 of the
    UTF-8 bytes after that line), refused when the table is invalid or breaks a hard rule."""
    view = check_table(text, name)
    if view.verdict == "invalid":
        return Saved(view, refused="the table has problems: fix them first")
    if view.verdict == "fail":
        return Saved(view, refused="the table breaks a hard rule: it cannot be saved")
    body, _ = strip_saved_header(text)
    body = body.replace("\r\n", "\n")
    if not body.endswith("\n"):
        body += "\n"
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return Saved(view, SAVED_HEADER.format(version=__version__, digest=digest) + "\n" + body, digest)
