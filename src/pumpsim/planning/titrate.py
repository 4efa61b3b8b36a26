"""``pumpsim titrate``: the fastest compliant titration schedule of one drug, with its refills
(FORMAT.md §9; the method and the decisions where the contract is silent: docs/TITRATE.md).

From the table's last session, the sessions that raise the drug's programmed basal daily dose to
the target as soon as the profile allows:

1. The doses: the start (``start_hard``, or ``slow_start`` with ``--pace slow``) when the drug is
   not in the pump yet, then steps of ``step_max`` (``slow_step``) until the target; the last
   step is what is left.
2. The instants, one step after the other, each at the earliest instant the rules allow (the
   interval since the last change of the dose, the weekly count of increases, strictly after the
   previous session), moved to the next clinic opening when that instant is outside the clinic.
3. The refills: a step whose rate leaves the device range refills at a presentation of the drug
   that delivers it; a drug in a mix is raised by a refill with its new concentration (the
   rate, so the other drugs' doses, kept); then the worst case of ``validate`` is simulated and a
   refill is added at the latest clinic instant before the low-alarm volume, the stability limit
   or the 14-day first-fill limit would be passed, until none is.
4. The whole table, with the schedule appended and the horizon kept or extended to one day past
   ``reached_at``, is
   judged by ``validate``: any hard violation makes the exit status 1, naming that rule.

Scheduling is done in :mod:`datetime` (clinic days and hours are calendar notions); the model's
time is reached only through :func:`_instant`, :func:`_when`, :func:`_duration` and
:func:`_model_duration`, the one place that knows the model's time base.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pumpsim._version import __version__
from pumpsim.io.library import drug_library
from pumpsim.io.tables import clock_text, resolve_programs
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem, nearest
from pumpsim.model.results import Scenario
from pumpsim.model.table import Profile, Refill, Session, Sourced, Step, Table
from pumpsim.model.tolerances import RTOL, above, distinct
from pumpsim.planning.plan import _duration as _horizon_text
from pumpsim.planning.plan import _is_flex, _mean_rate, _volume_before
from pumpsim.rules.kit import Violation, violation
from pumpsim.rules.static import stability_limit
from pumpsim.sim import simulation

TITRATE_SCHEMA = "pumpsim.titrate/1"
PAST_REACHED = dt.timedelta(days=1)  # FORMAT.md §9: the horizon reaches at least one day past reached_at
WEEK = dt.timedelta(days=7)  # the window of max_increases_per_week (docs/RULES.md §4, ZIC-INTERVAL)
NEXT_MINUTE = dt.timedelta(minutes=1)  # "strictly after the previous session": sessions are on whole minutes
MAX_REFILLS = 400  # the refill search adds one refill per round; a titration needs a handful
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_CLINIC_DAYS = "Mon,Tue,Wed,Thu,Fri"
DEFAULT_CLINIC_HOURS = "09:00-17:00"
PACES = {"fast": ("start_hard", "step_max"), "slow": ("slow_start", "slow_step")}


# --------------------------------------------------------------------------- the model's time (only here)
def _instant(table: Table, when: dt.datetime) -> int:
    """The model time of a calendar instant (whole seconds since the table's first session)."""
    return (when - table.start) // dt.timedelta(seconds=1)


def _when(table: Table, t: float) -> dt.datetime:
    """The calendar instant of a model time."""
    return table.datetime_at(t)


def _duration(value: Sourced) -> dt.timedelta:
    """A profile duration (step_interval, stability; seconds in the model) as a timedelta."""
    return dt.timedelta(seconds=float(value.value))


def _model_duration(d: dt.timedelta) -> int:
    """A timedelta as a model duration (the horizon) [s]."""
    return d // dt.timedelta(seconds=1)


# --------------------------------------------------------------------------- the clinic
@dataclass(frozen=True)
class Clinic:
    """Clinic days (``weekday()`` numbers, Monday 0) and hours, both ends included; no public holidays."""

    days: frozenset[int]
    open: dt.time
    close: dt.time

    def describe(self) -> str:
        return f"{','.join(WEEKDAYS[d] for d in sorted(self.days))} {self.open:%H:%M}-{self.close:%H:%M}"

    def next_open(self, when: dt.datetime) -> dt.datetime:
        """The earliest clinic instant at or after ``when`` (on a whole minute)."""
        if when.second or when.microsecond:
            when = when.replace(second=0, microsecond=0) + NEXT_MINUTE
        for i in range(8):
            day = when.date() + dt.timedelta(days=i)
            if day.weekday() not in self.days:
                continue
            o, c = dt.datetime.combine(day, self.open), dt.datetime.combine(day, self.close)
            if when <= o:
                return o
            if when <= c:
                return when
        raise AssertionError("unreachable: a week holds a clinic day")

    def last_open(self, when: dt.datetime) -> dt.datetime:
        """The latest clinic instant at or before ``when`` (on a whole minute)."""
        when = when.replace(second=0, microsecond=0)
        for i in range(8):
            day = when.date() - dt.timedelta(days=i)
            if day.weekday() not in self.days:
                continue
            o, c = dt.datetime.combine(day, self.open), dt.datetime.combine(day, self.close)
            if when >= c:
                return c
            if when >= o:
                return when
        raise AssertionError("unreachable: a week holds a clinic day")

    def delay(self, allowed: dt.datetime, at: dt.datetime) -> str | None:
        """Why ``at`` is later than ``allowed``: "weekend", "closed day" or "clinic hours" (None: not later)."""
        if at <= allowed:
            return None
        skipped = [allowed.date() + dt.timedelta(days=i) for i in range((at.date() - allowed.date()).days)]
        closed = [d for d in skipped if d.weekday() not in self.days]
        if not closed:
            return "clinic hours"
        return "weekend" if all(d.weekday() >= 5 for d in closed) else "closed day"


def parse_options(file: str, drug: str, target: str, days: str, hours: str) -> tuple[float, Clinic]:
    """``--drug``, ``--target``, ``--clinic-days`` and ``--clinic-hours``: every problem at once (exit 2)."""
    probs: list[Problem] = []
    value, clinic = 0.0, None
    lib = drug_library().drugs
    if drug not in lib:
        probs.append(Problem(file, "--drug", f"unknown drug {drug!r}", nearest(drug, lib)))
    else:
        try:
            value = parse_target(target, drug, file)
        except InputError as e:
            probs.extend(e.problems)
    try:
        clinic = parse_clinic(days, hours)
    except InputError as e:
        probs.extend(e.problems)
    if probs:
        raise InputError(probs)
    assert clinic is not None
    return value, clinic


def parse_clinic(days: str, hours: str) -> Clinic:
    """``--clinic-days Mon,Tue,...`` and ``--clinic-hours HH:MM-HH:MM``; every problem at once (exit 2)."""
    probs: list[Problem] = []
    names = [d.strip() for d in days.split(",") if d.strip()]
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    found: set[int] = set()
    for n in names:
        key = n.lower()
        if key in full or key in (w.lower() for w in WEEKDAYS):
            found.add(WEEKDAYS.index(key[:1].upper() + key[1:3]))
        else:
            probs.append(Problem("command line", "--clinic-days", f"unknown day {n!r}", nearest(n, WEEKDAYS)))
    if not names:
        probs.append(Problem("command line", "--clinic-days", "no day given", f"write e.g. {DEFAULT_CLINIC_DAYS}"))
    o = c = None
    parts = hours.split("-")
    if len(parts) == 2:
        try:
            o, c = (dt.datetime.strptime(p.strip(), "%H:%M").time() for p in parts)
        except ValueError:
            o = c = None
    if o is None or c is None:
        probs.append(Problem("command line", "--clinic-hours", f"{hours!r} is not HH:MM-HH:MM",
                             f"write e.g. {DEFAULT_CLINIC_HOURS}"))
    elif c < o:
        probs.append(Problem("command line", "--clinic-hours", f"closes ({c:%H:%M}) before it opens ({o:%H:%M})",
                             "write the opening time first"))
    if probs:
        raise InputError(probs)
    assert o is not None and c is not None
    return Clinic(frozenset(found), o, c)


# --------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class Limits:
    """The titration limits of one drug in one profile, at one pace."""

    start: Sourced | None  # [dose/day] first dose, when the drug is not in the pump yet
    step: Sourced  # [dose/day]
    interval: Sourced  # [model duration]
    per_week: Sourced | None  # [count] increases in any 7 days
    ceiling: Sourced | None  # [dose/day] the hard daily ceiling (DOSE-MAX, programmed case)


def limits(profile: Profile, drug: str, pace: str, file: str) -> Limits:
    start_key, step_key = PACES[pace]
    step, interval = profile.limit(drug, step_key), profile.limit(drug, "step_interval")
    if step is None or interval is None:
        titratable = sorted(d for d, lim in profile.drugs.items() if step_key in lim and "step_interval" in lim)
        opt = "--pace" if pace == "slow" and profile.limit(drug, "step_max") is not None else "--drug"
        missing = " and ".join(k for k, v in ((step_key, step), ("step_interval", interval)) if v is None)
        fix = (f"drugs with {pace} titration limits in {profile.name}: {', '.join(titratable)}" if titratable
               else f"{profile.name} gives no {pace} titration limits; use a profile file that does")
        raise InputError([Problem(file, opt, f"profile {profile.name} gives no {missing} for {drug}: "
                                  f"no {pace} titration is defined", fix)])
    return Limits(profile.limit(drug, start_key), step, interval, profile.limit(drug, "max_increases_per_week"),
                  profile.limit(drug, "daily_hard"))


def parse_target(text: str, drug: str, file: str) -> float:
    """``--target`` as a daily dose in the drug's dose unit per day (exit 2 when it is not one)."""
    info = drug_library().drugs[drug]
    try:
        value = _tidy(units.parse_quantity(text, units.DOSE_RATE) * info.mass_factor)
    except units.QuantityError as e:
        raise InputError([Problem(file, "--target", str(e), f"write a daily dose such as \"9.6 {info.dose_unit}/day\"")]) from None
    if not value > 0:
        raise InputError([Problem(file, "--target", f"{text!r} is not a positive daily dose",
                                  f"write a daily dose such as \"9.6 {info.dose_unit}/day\"")])
    return value


# --------------------------------------------------------------------------- the schedule
@dataclass
class Row:
    """One appended session."""

    at: dt.datetime
    daily_dose: float  # [dose/day] of the titrated drug
    step: bool  # the dose changes here
    allowed_at: dt.datetime | None = None  # when the rules allowed the step (before the clinic)
    waited_for: str | None = None
    delayed_by: str | None = None  # "weekend", "closed day", "clinic hours"
    refill: bool = False
    refill_reason: str | None = None  # REFILL-LOW-ALARM, REFILL-STABILITY, RATE-RANGE, MIX (a drug of a mix raised)
    mix: dict[str, float] = field(default_factory=dict)  # [dose/mL] after the session
    steps: tuple[Step, ...] = ()

    @property
    def rate(self) -> float:
        return _mean_rate(self.steps)


@dataclass
class TitrateResult:
    table: Table
    drug: str
    target: float
    pace: str
    clinic: Clinic
    limits: Limits | None
    start_at: dt.datetime
    start_dose: float
    reached_at: dt.datetime | None = None
    rows: list[Row] = field(default_factory=list)
    rule: str | None = None  # the rule that prevents the schedule (exit 1)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)  # soft violations of the titrated table
    notes: list[str] = field(default_factory=list)
    titrated: Table | None = None

    @property
    def exit_status(self) -> int:
        return 0 if self.reached_at is not None else 1

    @property
    def unit(self) -> str:
        return f"{drug_library().drugs[self.drug].dose_unit}/day"

    def as_json(self) -> dict[str, Any]:
        iso = _iso
        lib = drug_library().drugs
        out: dict[str, Any] = {
            "schema": TITRATE_SCHEMA, "reached_at": iso(self.reached_at), "target": self.target, "unit": self.unit,
            "schedule": [{"at": iso(r.at), "daily_dose": r.daily_dose, "rate": _tidy(r.rate), "rate_unit": "mL/day",
                          "concentration": _tidy(r.mix[self.drug]) if self.drug in r.mix else None, "refill": r.refill, "waited_for": r.waited_for,
                          "allowed_at": iso(r.allowed_at), "delayed_by": r.delayed_by, "refill_reason": r.refill_reason,
                          "fill_volume": float(self.table.device.reservoir.value) if r.refill else None,
                          "mix": {d: _tidy(c) for d, c in r.mix.items()}} for r in self.rows],
        }
        if self.rule is not None:
            out["rule"] = self.rule
            out["violations"] = [v.as_json() for v in self.violations]
        out["drug"] = self.drug
        out["concentration_unit"] = f"{lib[self.drug].dose_unit}/mL"
        out["pace"] = self.pace
        out["clinic"] = {"days": [WEEKDAYS[d] for d in sorted(self.clinic.days)],
                         "hours": f"{self.clinic.open:%H:%M}-{self.clinic.close:%H:%M}"}
        out["start"] = {"at": iso(self.start_at), "daily_dose": self.start_dose}
        out["limits"] = [] if self.limits is None else [
            {"what": k, "value": s.text or s.value, "source": s.source, "verified": s.verified}
            for k, s in (("start", self.limits.start), ("step", self.limits.step), ("interval", self.limits.interval),
                         ("increases per 7 days", self.limits.per_week), ("daily ceiling", self.limits.ceiling))
            if s is not None]
        out["warnings"] = [v.as_json() for v in self.warnings]
        out["notes"] = list(self.notes)
        out["profile"] = None if self.titrated is None else self.titrated.profile_name
        out["table"] = self.table.path
        out["pumpsim_version"] = __version__
        return out


def _tidy(x: float) -> float:
    """``x`` to 12 significant digits: 2.4 + 2.4 + 2.4 is 7.2 (limits are compared to 1e-9, FORMAT.md §4)."""
    return float(f"{x:.12g}")


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="seconds")


def _changes(table: Table, drug: str) -> list[tuple[dt.datetime, float, float]]:
    """(instant, dose before, dose after) at each session where the drug's programmed daily dose changes."""
    out, prev = [], 0.0
    for p in table.programs:
        d = p.daily_dose(drug)
        if not math.isclose(d, prev, rel_tol=RTOL, abs_tol=0.0):
            out.append((p.session.at, prev, d))
        prev = d
    return out


def _doses(d0: float, target: float, lim: Limits) -> list[float]:
    """The doses to program, in order: the start if the drug is absent, then each step."""
    out: list[float] = []
    cur = d0
    if cur <= 0:
        cur = min(target, float(lim.start.value)) if lim.start is not None else min(target, float(lim.step.value))
        out.append(cur)
    while above(target, cur):
        nxt = _tidy(cur + float(lim.step.value))
        cur = target if not above(target, nxt) else nxt
        out.append(cur)
    return out


def _step_times(table: Table, drug: str, doses: list[float], d0: float, lim: Limits, clinic: Clinic,
                token: str) -> list[Row]:
    """Each dose at the earliest clinic instant the interval, the weekly count and the previous session allow."""
    changes = _changes(table, drug)
    last_change = changes[-1][0] if changes else None
    increases = [at for i, (at, a, b) in enumerate(changes) if i > 0 and b > a]
    prev = table.sessions[-1].at
    rows: list[Row] = []
    for i, dose in enumerate(doses):
        is_start = d0 <= 0 and i == 0 and not changes  # a restart after a stop is an increase (ZIC-INTERVAL)
        bounds = [(prev + NEXT_MINUTE, 0, "previous-session")]
        if not is_start and last_change is not None:
            bounds.append((last_change + _duration(lim.interval), 1, token))
        if not is_start and lim.per_week is not None and len(increases) >= int(lim.per_week.value):
            bounds.append((increases[-int(lim.per_week.value)] + WEEK, 2, "weekly-count"))
        allowed, _, why = max(bounds)
        at = clinic.next_open(allowed)
        delayed = clinic.delay(allowed, at)
        if delayed is not None:
            why = "clinic-hours" if delayed == "clinic hours" else "clinic-day"
        rows.append(Row(at, dose, True, allowed, why, delayed))
        prev = last_change = at
        if not is_start:
            increases.append(at)
    return rows


class _Builder:
    """Turns the step rows and the forced refills into sessions, choosing concentrations."""

    def __init__(self, table: Table, profile: Profile, drug: str, target: float) -> None:
        self.table, self.profile, self.drug, self.target = table, profile, drug, target
        dev = table.device
        self.rmin = None if dev.rate_min is None else float(dev.rate_min.value)
        self.rmax = None if dev.rate_max is None else float(dev.rate_max.value)
        self.volume = float(dev.reservoir.value)
        lim = profile.limit(drug, "max_concentration")
        self.cmax = None if lim is None else float(lim.value)
        self.presentations = sorted(p for p in drug_library().drugs[drug].presentations
                                    if self.cmax is None or not above(p, self.cmax))

    def in_range(self, steps: tuple[Step, ...]) -> bool:
        return all((self.rmin is None or not above(self.rmin, s.rate)) and (self.rmax is None or not above(s.rate, self.rmax))
                   for s in steps)

    def at_conc(self, steps: tuple[Step, ...], dose: float, c: float) -> tuple[Step, ...]:
        """Flex steps (their shape kept) delivering ``dose`` per day at concentration ``c``."""
        f = dose / (c * _mean_rate(steps))
        return tuple(Step(s.start, s.rate * f) for s in steps)

    def covering(self, steps: tuple[Step, ...], doses: list[float], current: float) -> list[float]:
        """The concentrations (the current one, the presentations) at which the drug alone delivers every dose
        of ``doses`` within the device range."""
        return [c for c in sorted({current, *self.presentations})
                if all(self.in_range(self.at_conc(steps, d, c)) for d in doses)]

    def build(self, step_rows: list[Row], forced: dict[dt.datetime, str],
              boost: frozenset[dt.datetime] = frozenset()) -> list[Row] | tuple[str, str]:
        """The appended sessions, or (rule, message) when a dose cannot be delivered."""
        drug, lib = self.drug, drug_library().drugs
        prog = self.table.programs[-1]
        mix, steps = dict(prog.mix), prog.steps
        dose = prog.daily_dose(drug)
        by_time: dict[dt.datetime, Row] = {}
        for r in step_rows:
            by_time[r.at] = dataclasses.replace(r)
        for at, why in forced.items():
            if at in by_time:
                by_time[at].refill, by_time[at].refill_reason = True, why
            else:
                by_time[at] = Row(at, 0.0, False, refill=True, refill_reason=why)
        rows = []
        for at in sorted(by_time):
            r = by_time[at]
            new = r.daily_dose if r.step else dose
            alone = set(mix) <= {drug}
            if r.step and not alone:  # a drug of a mix: its concentration changes, the rate (other doses) kept
                c = new / _mean_rate(steps)
                if self.cmax is not None and above(c, self.cmax):
                    u = f"{lib[drug].dose_unit}/mL"
                    cs, cmax = distinct(c, self.cmax)
                    return ("CONC-MAX", f"{drug} at {new:g} {self.unit}/day in this mix needs {cs} {u} at the rate "
                            f"kept for the other drugs, above the maximum {cmax} {u}")
                mix[drug] = c
                r.refill, r.refill_reason = True, r.refill_reason or "MIX"
            elif drug in mix:
                c0 = c = mix[drug]
                if not self.in_range(self.at_conc(steps, new, c0)):  # a refill at a concentration that delivers it
                    opts = self.covering(steps, [new, self.target], c0) or self.covering(steps, [new], c0)
                    if not opts:
                        return ("RATE-RANGE", f"{new:g} {self.unit}/day of {drug} cannot be delivered within the device "
                                f"range ({self._range()}) at {c0:g} {self.unit}/mL or any presentation "
                                f"({', '.join(f'{p:g}' for p in self.presentations)} {self.unit}/mL)")
                    c = min(opts)
                elif r.refill and at in boost:  # the reservoir runs out between clinic times: the most concentrated
                    c = max(self.covering(steps, [new, self.target], c0) or self.covering(steps, [new], c0))
                elif r.refill and not self.in_range(self.at_conc(steps, self.target, c0)):
                    opts = self.covering(steps, [new, self.target], c0)  # a refill anyway: move to one that reaches the target
                    c = min(opts) if opts else c0
                if not math.isclose(c, c0, rel_tol=RTOL):
                    r.refill, r.refill_reason = True, r.refill_reason or "RATE-RANGE"
                steps = self.at_conc(steps, new, c)
                mix[drug] = c
            r.mix, r.steps, r.daily_dose = dict(mix), steps, new
            dose = new
            rows.append(r)
        return rows

    @property
    def unit(self) -> str:
        return drug_library().drugs[self.drug].dose_unit

    def _range(self) -> str:
        lo = "no minimum" if self.rmin is None else f"{self.rmin:g}"
        hi = "no maximum" if self.rmax is None else f"{self.rmax:g}"
        return f"{lo} to {hi} mL/day"


def titrated_table(table: Table, rows: list[Row], end: dt.datetime) -> Table:
    """The table with the schedule appended and the horizon ending at ``end``."""
    sessions = list(table.sessions)
    vol = float(table.device.reservoir.value)
    for r in rows:
        refill = Refill(vol, tuple(sorted(r.mix.items()))) if r.refill else None
        sessions.append(Session(len(sessions) + 1, r.at, _instant(table, r.at), refill, r.steps, None, _is_flex(r.steps)))
    sessions_t = tuple(sessions)
    return dataclasses.replace(table, sessions=sessions_t, programs=resolve_programs(sessions_t),
                               horizon=_model_duration(end - table.start))


def _crossing(t: np.ndarray, v: np.ndarray, level: float, t0: float, t1: float) -> float | None:
    """The first model time in [t0, t1) at which the volume record is at or under ``level``."""
    i = max(int(np.searchsorted(t, t0, side="right")) - 1, 0)
    if v[i] <= level * (1 + RTOL) and t[i] >= t0:
        return float(t[i])
    for j in range(i + 1, len(t)):
        if t[j - 1] >= t1:
            break
        if v[j] <= level * (1 + RTOL):  # crossed on the segment (j - 1, j): the record is linear there
            a, b, va, vb = t[j - 1], t[j], v[j - 1], v[j]
            x = float(a + (b - a) * (va - level) / (va - vb)) if va > vb and b > a else float(b)
            return max(x, t0) if x < t1 else None
    return None


def _refill_need(cand: Table, profile: Profile, since: dt.datetime,
                 first_kept: int) -> tuple[dt.datetime, str, dt.datetime, Sourced] | None:
    """The earliest instant after ``since`` by which a refill is needed: (deadline, rule, the refill it follows,
    the limit that sets it)."""
    refills = [s for s in cand.sessions if s.refill is not None]
    first_zic = next((s.index for s in refills if "ziconotide" in s.refill.mix_dict), None)
    worst = simulation.simulate(cand, Scenario.worst(float(cand.device.accuracy.value)))
    alarm = cand.device.low_alarm
    level = 0.0 if alarm is None else float(alarm.value)
    end = _when(cand, cand.horizon)
    best: tuple[dt.datetime, str, dt.datetime, Sourced] | None = None
    for k, s in enumerate(refills):
        if s.index < first_kept:
            continue
        nxt = refills[k + 1].at if k + 1 < len(refills) else end
        lim, _, _ = stability_limit(cand, profile, s.index, s.refill.mix_dict, first_zic)
        if lim is not None and nxt - s.at > _duration(lim):
            need = (s.at + _duration(lim), "REFILL-STABILITY", s.at, lim)
            best = need if best is None or need[0] < best[0] else best
        t0, t1 = _instant(cand, max(s.at, since)), _instant(cand, nxt)
        if t0 < t1 and _volume_before(worst.t, worst.volume_true, t1) < level * (1 - RTOL) + (RTOL if alarm is None else 0.0):
            x = _crossing(worst.t, worst.volume_true, level, t0, t1)
            if x is not None:
                need = (_when(cand, x), "REFILL-LOW-ALARM" if alarm is not None else "REFILL-EMPTY-WORST", s.at,
                        alarm if alarm is not None else cand.device.accuracy)
                best = need if best is None or need[0] < best[0] else best
    return best


_SCHEDULE_FIXES = {"REFILL-STABILITY", "REFILL-EMPTY"}  # judged to the horizon: the appended refills may cure them


def titrate(table: Table, profile: Profile, drug: str, target: float, *, pace: str = "fast",
            clinic: Clinic | None = None) -> TitrateResult:
    """The fastest compliant schedule raising ``drug`` to ``target`` [dose/day] (FORMAT.md §9)."""
    from pumpsim.rules.validate import validate

    clinic = clinic or parse_clinic(DEFAULT_CLINIC_DAYS, DEFAULT_CLINIC_HOURS)
    lib = drug_library().drugs
    if drug not in lib:
        raise InputError([Problem(table.path, "--drug", f"unknown drug {drug!r}", nearest(drug, lib))])
    lim = limits(profile, drug, pace, table.path)
    last = table.sessions[-1]
    d0 = table.programs[-1].daily_dose(drug)
    res = TitrateResult(table, drug, target, pace, clinic, lim, last.at, d0)
    unit = f"{lib[drug].dose_unit}/day"
    if above(d0, target):  # beyond the 1e-9 tolerance: printed with the digits that tell the two apart
        now, asked = distinct(d0, target)
        raise InputError([Problem(table.path, "--target", f"{drug} is already programmed at {now} {unit}, above the "
                                  f"target {asked} {unit}: titrate raises a dose", f"give a target of at least {now} {unit}")])
    if lim.ceiling is not None and above(target, float(lim.ceiling.value)):
        res.rule = "DOSE-MAX"
        asked, ceiling = distinct(target, float(lim.ceiling.value))
        res.violations = [violation(table, "DOSE-MAX", "hard", None, drug, target, lim.ceiling, unit,
                                    f"the target {asked} {unit} is above the hard daily ceiling "
                                    f"{ceiling} {unit} of {profile.name}", None)]
        return res
    token = "ZIC-INTERVAL" if drug == "ziconotide" else "step-interval"
    step_rows = _step_times(table, drug, _doses(d0, target, lim), d0, lim, clinic, token)
    reached = step_rows[-1].at if step_rows else (_changes(table, drug) or [(last.at, 0, 0)])[-1][0]
    end = max(max(reached, last.at) + PAST_REACHED, _when(table, table.horizon))  # the table's horizon, or further
    builder = _Builder(table, profile, drug, target)
    forced: dict[dt.datetime, str] = {}
    boost: set[dt.datetime] = set()
    first_kept = max(s.index for s in table.sessions if s.refill is not None)
    for _ in range(MAX_REFILLS):
        rows = builder.build(step_rows, forced, frozenset(boost))
        if isinstance(rows, tuple):
            res.rule = rows[0]
            basis = profile.limit(drug, "max_concentration") if rows[0] == "CONC-MAX" else \
                (table.device.rate_min or table.device.rate_max)
            res.violations = [violation(table, rows[0], "hard", None, drug, None, basis,
                                        f"{lib[drug].dose_unit}/mL" if rows[0] == "CONC-MAX" else "mL/day", rows[1], None)]
            return res
        cand = titrated_table(table, rows, end)
        need = _refill_need(cand, profile, last.at, first_kept)
        if need is None:
            break
        deadline, why, after, basis = need
        at = clinic.last_open(deadline)
        refilled = next((r for r in rows if r.at == after and r.refill), None)
        if (at <= max(after, last.at) or at in forced) and refilled is not None and after not in boost \
                and why == "REFILL-LOW-ALARM" and set(refilled.mix) == {drug}:
            boost.add(after)  # the refill before it takes the most concentrated mix that delivers the doses, and retry
            continue
        if at <= max(after, last.at) or at in forced:
            res.rule = why
            stab = why == "REFILL-STABILITY"
            res.violations = [violation(table, why, "hard", None, None, None, basis, "day" if stab else "mL",
                                        f"a refill is needed by {_iso(deadline)} ({why}) but no clinic time after "
                                        f"{_iso(max(after, last.at))} comes before it ({clinic.describe()})", None,
                                        limit_value=_duration(basis) / dt.timedelta(days=1) if stab else None)]
            return res
        forced[at] = why
    else:
        raise AssertionError("the refill search did not settle")
    report = validate(cand, profile)
    hard = [v for v in report.violations if v.severity == "hard"]
    if hard:
        res.rule, res.violations = hard[0].rule, hard
        own = [v for v in hard if v.session is not None and v.session <= last.index and v.rule not in _SCHEDULE_FIXES]
        res.notes.append("the table breaks a hard rule before the schedule: correct it first" if own else
                         "the fastest schedule breaks a hard rule of validate; pumpsim titrate does not avoid it")
        return res
    res.rows, res.titrated, res.reached_at = rows, cand, reached
    res.warnings = [v for v in report.violations if v.severity == "soft"]
    if not step_rows:
        res.notes.append(f"{drug} is already programmed at the target")
    return res


# --------------------------------------------------------------------------- words
_WAIT_WORDS = {"ZIC-INTERVAL": "the minimum interval", "step-interval": "the minimum interval",
               "weekly-count": "the weekly count of increases", "previous-session": "the previous session",
               "clinic-day": "a clinic day", "clinic-hours": "clinic hours"}
_REFILL_WORDS = {"REFILL-LOW-ALARM": "before the low alarm", "REFILL-EMPTY-WORST": "before the reservoir empties",
                 "REFILL-STABILITY": "stability limit",
                 "RATE-RANGE": "new concentration (rate range)", "MIX": "mix: new concentration"}


def describe(res: TitrateResult) -> str:
    """The schedule as a table a nurse can follow."""
    lib = drug_library().drugs
    du = lib[res.drug].dose_unit
    unit = res.unit
    lines: list[str] = []
    if res.reached_at is None:
        lines.append(f"NO SCHEDULE: {res.drug} cannot be raised to {res.target:.12g} {unit} ({res.rule}).")
        for n in res.notes:
            lines.append(f"  - {n}")
        for v in res.violations:
            lines.append(f"  - {v.rule} ({v.severity}){' ' + v.at if v.at else ''}: {v.message}")
            if v.source:
                lines.append(f"    source: {v.source}")
    else:
        refills = sum(r.refill for r in res.rows)
        start, target = distinct(res.start_dose, res.target)
        lines.append(f"SCHEDULE: {res.drug} from {start} to {target} {unit}, reached "
                     f"{res.reached_at:%a %Y-%m-%d %H:%M}; {len(res.rows)} session(s), {refills} with a refill.")
        lim = res.limits
        assert lim is not None
        per_week = f", at most {lim.per_week.value} increases in 7 days" if lim.per_week is not None else ""
        lines.append(f"  Pace {res.pace}: steps of at most {float(lim.step.value):g} {unit}, at least "
                     f"{_duration(lim.interval) / dt.timedelta(hours=1):g} h apart{per_week}; clinic {res.clinic.describe()}.")
        lines.append("")
        lines.append(f"  {'when':<20} {'dose ' + unit:>14} {'rate mL/day':>12} {'conc ' + du + '/mL':>13}  refill / waited for")
        lines.append(f"  {res.start_at:%a %Y-%m-%d %H:%M}  {res.start_dose:>14.4g} {res.table.programs[-1].mean_rate:>12.4g} "
                     f"{dict(res.table.programs[-1].mix).get(res.drug, 0.0):>13.4g}  (the table's last session)")
        for r in res.rows:
            what = []
            if r.refill:
                what.append(f"REFILL {float(res.table.device.reservoir.value):g} mL ({_REFILL_WORDS.get(r.refill_reason or '', r.refill_reason)})")
            if r.step and r.waited_for:
                w = _WAIT_WORDS.get(r.waited_for, r.waited_for)
                if r.delayed_by and r.allowed_at is not None:
                    w += f": allowed {r.allowed_at:%a %H:%M}, delayed by the {r.delayed_by}" if r.delayed_by == "weekend" \
                        else f": allowed {r.allowed_at:%a %H:%M}, delayed ({r.delayed_by})"
                what.append(f"waited for {w}")
            if len(r.mix) > 1:
                what.append("mix " + ", ".join(f"{d} {c:.4g}" for d, c in sorted(r.mix.items())))
            lines.append(f"  {r.at:%a %Y-%m-%d %H:%M}  {r.daily_dose:>14.4g} {r.rate:>12.4g} {r.mix.get(res.drug, 0.0):>13.4g}  "
                         + "; ".join(what))
        if res.warnings:
            lines.append("")
            lines.append("Warnings of validate on the titrated table (soft, not avoided):")
            for v in res.warnings:
                lines.append(f"  - {v.rule}{' ' + v.at if v.at else ''}: {v.message}")
        for n in res.notes:
            lines.append(f"  Note: {n}.")
    lines.append("")
    lines.append(f"pumpsim {__version__}: decision support for professionals, not a medical device.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the titrated table file
def titrated_toml(raw: dict, res: TitrateResult, source_name: str, command: str) -> str:
    """The table file with the schedule appended and the horizon one day past ``reached_at``."""
    from pumpsim.io import tomlwrite

    assert res.titrated is not None and res.reached_at is not None
    lib = drug_library().drugs
    out = dict(raw)
    sessions = [dict(s) for s in raw["session"]]
    vol = float(res.table.device.reservoir.value)
    for r in res.rows:
        s: dict[str, Any] = {"at": r.at}
        if r.refill:
            s["refill"] = {"volume": f"{_q(vol)} mL",
                           "mix": {d: f"{_q(c)} {lib[d].dose_unit}/mL" for d, c in sorted(r.mix.items())}}
        if _is_flex(r.steps):
            s["steps"] = [{"from": clock_text(x.start), "rate": f"{_q(x.rate)} mL/day"} for x in r.steps]
        else:
            s["rate"] = f"{_q(r.steps[0].rate)} mL/day"
        sessions.append(s)
    out["session"] = sessions
    t = res.titrated
    out["horizon"] = _horizon_text(_when(t, t.horizon) - t.start)
    header = [f"Titrated by pumpsim {__version__} from {source_name}: {command}",
              f"{res.drug} to {res.target:.12g} {res.unit}, reached {_iso(res.reached_at)}; {len(res.rows)} session(s) appended, "
              "horizon at least one day past it.",
              "Decision support for professionals, not a medical device: check before entering it into the pump."]
    return tomlwrite.dumps(out, header)


def _q(x: float) -> str:
    """A number for the written table: 12 significant digits, so that a step written as two rounded numbers
    (a concentration and a rate) stays within the 1e-9 tolerance of the limits (FORMAT.md §4)."""
    return f"{x:.12g}"
