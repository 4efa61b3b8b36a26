"""Read a programming table (FORMAT.md §1, §4) into a :class:`pumpsim.model.table.Table`.

Every problem of a file is collected and reported at once (:class:`pumpsim.model.errors.InputError`),
each naming the file, the field (``session[2].rate``) and the fix. This module is the only one
that reads table files; below it nothing sees a string with a unit.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

from pumpsim.io import bounds, library
from pumpsim.io.tomlread import load_toml  # noqa: F401  (the readers of this package use it from here too)
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem, Problems, nearest
from pumpsim.model.table import (
    BOLUS_OFF,
    Bolus,
    Device,
    Distribution,
    Patient,
    Program,
    Refill,
    Session,
    Sourced,
    Step,
    Table,
    Variability,
)
from pumpsim.model.timebase import DAY, HOUR, MINUTE

TABLE_SCHEMA = "pumpsim.table/1"
DEFAULT_HORIZON = 90 * DAY  # [s]

#: Values beyond these are not a clinical choice but a typing slip (they would also overflow
#: arithmetic). They are input errors (exit 2), not safety limits: the rules judge the rest.
PLAUSIBLE_MAX = {
    "volume_mL": 10_000.0,
    "rate_mL_per_day": 10_000.0,
    "concentration_mg_per_mL": 1_000.0,
    "duration_s": 3650 * DAY,
    "bolus_count": 1440,
    "runs": 100_000_000,
}
#: A bolus spread over less than this is a bolus given at once written oddly (and a rate of
#: volume / duration that overflows): an input error.
BOLUS_DURATION_MIN = MINUTE  # [s]

TOP_KEYS = ("schema", "profile", "horizon", "pump", "patient", "session", "variability")
PUMP_KEYS = ("model", "reservoir", "low_alarm", "accuracy", "dead_volume", "rate_min", "rate_max",
             "route", "ziconotide_naive")
PATIENT_KEYS = ("prior_oral_morphine", "life_expectancy", "psychosis")
SESSION_KEYS = ("at", "refill", "rate", "steps", "bolus")
REFILL_KEYS = ("volume", "mix")
STEP_KEYS = ("from", "rate")
BOLUS_KEYS = ("volume", "lockout", "max_per_24h", "duration")
VARIABILITY_KEYS = ("runs", "seed", "pump_accuracy", "bolus_requests", "refill_delay", "mri_stalls", "fever",
                    "missed_refill")
ROUTES = ("intrathecal", "subcutaneous", "intravenous", "epidural", "intramuscular")
_CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def read_table(path: str | Path, profile_override: str | None = None) -> tuple[Table, library.Profile]:
    """Read and validate a table file; return it with the profile it is judged against.

    Raises
    ------
    InputError
        With every problem found (exit status 2 at the command line).
    """
    return parse_table_bytes(read_input(path, "a table file"), str(path), profile_override)


def read_input(path: str | Path, what: str) -> bytes:
    """The bytes of an input file, or an :class:`InputError` naming it and the fix (shared by the
    readers of tables, patient files and programs)."""
    name = str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(name, "", "file not found", "check the path")]) from None
    except IsADirectoryError:
        raise InputError([Problem(name, "", f"is a directory, not {what}", "give a .toml file")]) from None
    except OSError as e:
        raise InputError([Problem(name, "", f"cannot read the file ({e.strerror})", "check its permissions")]) from None


def parse_table_bytes(data: bytes, name: str = "<table>",
                      profile_override: str | None = None) -> tuple[Table, library.Profile]:
    """Parse a table from raw bytes (the same checks as :func:`read_table`)."""
    raw = load_toml(data, name, f"start from the example: schema = \"{TABLE_SCHEMA}\", [pump], [[session]]")
    return _Reader(name, raw, profile_override).read()


class FileReader:
    """What every reader of an input file shares (tables, patient files, programs): the file's
    name, its parsed TOML, the problems collected, the profile asked for on the command line."""

    def __init__(self, name: str, raw: dict, profile_override: str | None) -> None:
        self.name = name
        self.raw = raw
        self.probs = Problems(name)
        self.profile_override = profile_override

    def unknown_keys(self, d: dict, allowed: tuple[str, ...], prefix: str) -> None:
        for k in d:
            if k not in allowed:
                field = f"{prefix}.{k}" if prefix else k
                self.probs.add(field, f"unknown key {k!r}", nearest(k, allowed))


class _Reader(FileReader):
    # -- small helpers ------------------------------------------------------------------

    def table(self, value: Any, field: str, example: str) -> dict | None:
        if not isinstance(value, dict):
            self.probs.add(field, f"expected a table, got {kind_of(value)}", f"write {example}")
            return None
        return value

    def quantity(self, value: Any, field: str, dim: units.Dimension, *, positive: bool = True,
                 cap: float | None = None) -> float | None:
        try:
            v = units.parse_duration(value) if dim == units.TIME else units.parse_quantity(value, dim)
        except units.QuantityError as e:
            self.probs.add(field, e.message, e.fix)
            return None
        if positive and v == 0.0:
            self.probs.add(field, f"{value!r} is zero, which is not allowed here", "give a value above zero")
            return None
        if cap is not None and v > cap:
            self.probs.add(field, f"{value!r} is implausibly large", "check the number and its unit")
            return None
        return v

    def count(self, value: Any, field: str, *, minimum: int, cap: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.probs.add(field, f"expected a whole number, got {value!r}", f"write e.g. {field.rsplit('.', 1)[-1]} = {max(minimum, 3)}")
            return None
        if value < minimum:
            self.probs.add(field, f"{value} is below the minimum {minimum}", f"give a whole number >= {minimum}")
            return None
        if value > cap:
            self.probs.add(field, f"{value} is implausibly large", f"give a whole number <= {cap}")
            return None
        return value

    # -- the file -------------------------------------------------------------------------
    def read(self) -> tuple[Table, library.Profile]:
        raw, probs = self.raw, self.probs
        self.unknown_keys(raw, TOP_KEYS, "")
        schema = raw.get("schema")
        if schema is None:
            probs.add("schema", "missing (required)", f"add schema = \"{TABLE_SCHEMA}\" at the top")
        elif schema != TABLE_SCHEMA:
            probs.add("schema", f"unsupported schema {schema!r}", f"write schema = \"{TABLE_SCHEMA}\"")

        profile_name = raw.get("profile", library.DEFAULT_PROFILE)
        profile = None
        if not isinstance(profile_name, str):
            probs.add("profile", f"expected a profile name, got {kind_of(profile_name)}", f"write profile = \"{library.DEFAULT_PROFILE}\"")
            profile_name = library.DEFAULT_PROFILE
        spec = self.profile_override or profile_name
        try:
            profile = library.load_profile(spec, context_file=self.name,
                                           context_field="profile" if not self.profile_override else "--profile")
        except InputError as e:
            if self.profile_override:
                raise
            self.probs.items.extend(e.problems)

        horizon = DEFAULT_HORIZON
        if "horizon" in raw:
            h = self.quantity(raw["horizon"], "horizon", units.TIME, cap=PLAUSIBLE_MAX["duration_s"])
            horizon = h if h is not None else horizon

        device = self.read_pump(raw.get("pump"))
        patient = self.read_patient(raw.get("patient", {}))
        sessions = self.read_sessions(raw.get("session"), device)
        variability = self.read_variability(raw["variability"]) if "variability" in raw else None
        probs.raise_if_any()
        assert device is not None and profile is not None and sessions
        programs = resolve_programs(sessions)
        table = Table(self.name, TABLE_SCHEMA, profile.name, horizon, device, patient,
                      tuple(sessions), programs, variability)
        return table, profile

    def read_pump(self, pump: Any) -> Device | None:
        if pump is None:
            self.probs.add("pump", "missing (required)", "add a [pump] section with model = \"synchromed-ii-20\"")
            return None
        pump = self.table(pump, "pump", "[pump] with model = \"...\"")
        if pump is None:
            return None
        self.unknown_keys(pump, PUMP_KEYS, "pump")
        devices = library.device_library()
        model = pump.get("model")
        if model is None:
            self.probs.add("pump.model", "missing (required)", nearest("", devices))
            return None
        if not isinstance(model, str):
            self.probs.add("pump.model", f"expected a device name, got {kind_of(model)}", nearest("", devices))
            return None
        if model not in devices:
            self.probs.add("pump.model", f"unknown device {model!r}", nearest(str(model), devices))
            return None
        entry = devices[model]

        def lib_value(key: str, dim: units.Dimension) -> Sourced | None:
            if key not in entry:
                return None
            e = entry[key]
            return Sourced(units.parse_quantity(e["value"], dim), e["source"], bool(e["verified"]), e["value"])

        def value(key: str, dim: units.Dimension, *, positive: bool = True, cap: float | None = None) -> Sourced | None:
            if key in pump:
                v = self.quantity(pump[key], f"pump.{key}", dim, positive=positive, cap=cap)
                if v is None:
                    return None
                # written back in base units, so that a report does not depend on the units typed
                return Sourced(v, f"programming table (pump.{key})", True, units.format_base(v, dim))
            return lib_value(key, dim)

        reservoir = value("reservoir", units.VOLUME, cap=PLAUSIBLE_MAX["volume_mL"])
        accuracy = value("accuracy", units.FRACTION, positive=False)
        if accuracy is not None and accuracy.value >= 1.0:
            self.probs.add("pump.accuracy", f"{pump.get('accuracy')!r} is 100 % or more", "give the tolerance, e.g. \"14.5 %\"")
        low_alarm = value("low_alarm", units.VOLUME, positive=False, cap=PLAUSIBLE_MAX["volume_mL"])
        rate_min = value("rate_min", units.FLOW, positive=False, cap=PLAUSIBLE_MAX["rate_mL_per_day"])
        rate_max = value("rate_max", units.FLOW, cap=PLAUSIBLE_MAX["rate_mL_per_day"])
        dead_volume = value("dead_volume", units.VOLUME, positive=False, cap=PLAUSIBLE_MAX["volume_mL"])
        pulse = lib_value("pulse_volume", units.VOLUME)
        if accuracy is None and "accuracy" not in pump:
            self.probs.add("pump.accuracy", f"{model} has no accuracy in the device library, and the worst case needs one",
                           "give pump.accuracy, e.g. accuracy = \"15 %\"")
        if reservoir is not None and low_alarm is not None and low_alarm.value >= reservoir.value:
            self.probs.add("pump.low_alarm", "the low-alarm volume is not below the reservoir volume", "check both values")
        if rate_min is not None and rate_max is not None and rate_min.value > rate_max.value:
            self.probs.add("pump.rate_min", "rate_min is above rate_max", "check both values")
        routes = tuple(entry["routes"])
        route = pump.get("route", routes[0])
        if not isinstance(route, str) or route not in ROUTES:
            self.probs.add("pump.route", f"unknown route {route!r}", nearest(str(route), ROUTES))
        elif route not in routes:
            self.probs.add("pump.route", f"{model} is not used by the {route} route", f"routes for {model}: {', '.join(routes)}")
        naive = pump.get("ziconotide_naive", False)
        if not isinstance(naive, bool):
            self.probs.add("pump.ziconotide_naive", f"expected true or false, got {naive!r}", "write ziconotide_naive = true")
            naive = False
        if reservoir is None or accuracy is None:
            return None
        return Device(model, entry.get("title", model), entry["kind"], str(route), routes, reservoir, accuracy,
                      low_alarm, rate_min, rate_max, dead_volume, pulse, naive, entry.get("notes", ""))

    def read_patient(self, patient: Any) -> Patient:
        patient = self.table(patient, "patient", "[patient]")
        if patient is None:
            return Patient()
        self.unknown_keys(patient, PATIENT_KEYS, "patient")
        prior = life = None
        if "prior_oral_morphine" in patient:
            prior = self.quantity(patient["prior_oral_morphine"], "patient.prior_oral_morphine", units.DOSE_RATE)
        if "life_expectancy" in patient:
            life = self.quantity(patient["life_expectancy"], "patient.life_expectancy", units.TIME)
        psychosis = patient.get("psychosis", False)
        if not isinstance(psychosis, bool):
            self.probs.add("patient.psychosis", f"expected true or false, got {psychosis!r}", "write psychosis = true")
            psychosis = False
        return Patient(prior, life, psychosis)

    def read_sessions(self, sessions: Any, device: Device | None) -> list[Session]:
        if sessions is None:
            self.probs.add("session", "no [[session]] (at least one is required)",
                           "add [[session]] with at, refill and rate")
            return []
        if not isinstance(sessions, list) or not sessions:
            self.probs.add("session", "expected one or more [[session]] tables", "write each session as [[session]]")
            return []
        out: list[Session] = []
        first_at: dt.datetime | None = None
        prev_at: dt.datetime | None = None
        for i, s in enumerate(sessions, start=1):
            f = f"session[{i}]"
            if not isinstance(s, dict):
                self.probs.add(f, f"expected a table, got {kind_of(s)}", "write it as [[session]]")
                continue
            self.unknown_keys(s, SESSION_KEYS, f)
            at = self.read_at(s.get("at"), f"{f}.at")
            if at is not None:
                if first_at is None:
                    first_at = at
                if prev_at is not None and at <= prev_at:
                    self.probs.add(f"{f}.at", f"{at.isoformat()} is not after the previous session ({prev_at.isoformat()})",
                                   "sessions are written in strictly increasing time order")
                prev_at = at if prev_at is None or at > prev_at else prev_at
            refill = self.read_refill(s["refill"], f"{f}.refill") if "refill" in s else None
            steps = None
            flex = False
            if "rate" in s and "steps" in s:
                self.probs.add(f"{f}.steps", "a session sets either 'rate' or 'steps', not both", "keep one of them")
            elif "rate" in s:
                r = self.quantity(s["rate"], f"{f}.rate", units.FLOW, cap=PLAUSIBLE_MAX["rate_mL_per_day"])
                steps = (Step(0, r),) if r is not None else None
            elif "steps" in s:
                steps = self.read_steps(s["steps"], f"{f}.steps")
                flex = True
                if device is not None and device.kind != "programmable":
                    what = "a fixed rate" if device.kind == "constant-flow" else "no daily flex mode"
                    self.probs.add(f"{f}.steps", f"{device.model} has {what}: flex steps need a programmable pump",
                                   "give a single rate")
            bolus = self.read_bolus(s["bolus"], f"{f}.bolus") if "bolus" in s else None
            if isinstance(bolus, Bolus) and device is not None and device.kind == "constant-flow":
                self.probs.add(f"{f}.bolus", f"{device.model} cannot deliver patient boluses", "write bolus = \"off\"")
            if i == 1:
                if "refill" not in s:
                    self.probs.add(f"{f}.refill", "the first session must fill the pump", "add refill = { volume = ..., mix = { ... } }")
                if "rate" not in s and "steps" not in s:
                    self.probs.add(f"{f}.rate", "the first session must set a rate or flex steps", "add rate = \"0.5 mL/day\"")
            if at is not None and first_at is not None:
                gap = at - first_at  # whole seconds: read_at refuses a fraction of a second
                t = gap.days * DAY + gap.seconds
                out.append(Session(i, at, t, refill, steps, bolus, flex))
        if len(out) != len(sessions):
            return []
        return out

    def read_at(self, value: Any, field: str) -> dt.datetime | None:
        if value is None:
            self.probs.add(field, "missing (required)", "add at = 2026-12-01T09:00:00")
            return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                self.probs.add(field, "has a UTC offset; times are local wall-clock times",
                               f"write it without offset: {value.replace(tzinfo=None).isoformat(timespec='seconds')}")
                return None
            if value.microsecond:
                self.probs.add(field, "has a fraction of a second; session times are whole seconds",
                               f"write it to the second: {value.replace(microsecond=0).isoformat(timespec='seconds')}")
                return None
            if not bounds.date_in_range(value):
                self.probs.add(field, bounds.out_of_range(value), "check the year")
                return None
            return value
        if isinstance(value, dt.date):
            self.probs.add(field, "is a date without a time", f"write {value.isoformat()}T09:00:00 (the session's clock time)")
            return None
        if isinstance(value, str):
            self.probs.add(field, f"{value!r} is a string; write a TOML date-time without quotes",
                           "e.g. at = 2026-12-01T09:00:00")
            return None
        self.probs.add(field, f"expected a TOML local date-time, got {kind_of(value)}", "e.g. at = 2026-12-01T09:00:00")
        return None

    def read_refill(self, value: Any, field: str) -> Refill | None:
        r = self.table(value, field, "refill = { volume = \"20 mL\", mix = { morphine = \"5 mg/mL\" } }")
        if r is None:
            return None
        self.unknown_keys(r, REFILL_KEYS, field)
        vol = None
        if "volume" not in r:
            self.probs.add(f"{field}.volume", "missing (required)", "add volume = \"20 mL\"")
        else:
            vol = self.quantity(r["volume"], f"{field}.volume", units.VOLUME, cap=PLAUSIBLE_MAX["volume_mL"])
        mix = r.get("mix")
        if mix is None:
            self.probs.add(f"{field}.mix", "missing (required)", "add mix = { morphine = \"5 mg/mL\" }")
            return None
        if not isinstance(mix, dict) or not mix:
            self.probs.add(f"{field}.mix", "expected a table of drug = concentration", "write mix = { morphine = \"5 mg/mL\" }")
            return None
        lib = library.drug_library()
        items = []
        for drug, conc in mix.items():
            if drug not in lib.drugs:
                lower = drug.lower()
                hint = f"drug names are lower case: {lower!r}" if lower in lib.drugs else nearest(drug, lib.drugs)
                self.probs.add(f"{field}.mix.{drug}", f"unknown drug {drug!r}", hint)
                continue
            c = self.quantity(conc, f"{field}.mix.{drug}", units.CONCENTRATION,
                              cap=PLAUSIBLE_MAX["concentration_mg_per_mL"])
            if c is not None:
                items.append((drug, c * lib.drugs[drug].mass_factor))
        if vol is None or len(items) != len(mix):
            return None
        return Refill(vol, tuple(sorted(items)))

    def read_steps(self, value: Any, field: str) -> tuple[Step, ...] | None:
        if not isinstance(value, list) or not value:
            self.probs.add(field, "expected a list of { from = \"HH:MM\", rate = \"...\" }",
                           "write steps = [ { from = \"00:00\", rate = \"0.15 mL/day\" } ]")
            return None
        steps: list[Step] = []
        ok = True
        for j, st in enumerate(value, start=1):
            f = f"{field}[{j}]"
            if not isinstance(st, dict):
                self.probs.add(f, f"expected {{ from = \"HH:MM\", rate = \"...\" }}, got {kind_of(st)}", "write each step as a table")
                ok = False
                continue
            self.unknown_keys(st, STEP_KEYS, f)
            start = None
            fr = st.get("from")
            if fr is None:
                self.probs.add(f"{f}.from", "missing (required)", "add from = \"08:00\"")
            elif isinstance(fr, dt.time):
                self.probs.add(f"{f}.from", "is a TOML time; clock times are strings", f"write from = \"{fr.strftime('%H:%M')}\"")
            elif not isinstance(fr, str) or not _CLOCK_RE.match(fr):
                self.probs.add(f"{f}.from", f"{fr!r} is not a clock time \"HH:MM\"", "write e.g. from = \"08:00\"")
            else:
                m = _CLOCK_RE.match(fr)
                assert m is not None
                start = int(m.group(1)) * HOUR + int(m.group(2)) * MINUTE
            rate = None
            if "rate" not in st:
                self.probs.add(f"{f}.rate", "missing (required)", "add rate = \"0.2 mL/day\"")
            else:
                rate = self.quantity(st["rate"], f"{f}.rate", units.FLOW, cap=PLAUSIBLE_MAX["rate_mL_per_day"])
            if start is None or rate is None:
                ok = False
                continue
            if not steps and start != 0:
                self.probs.add(f"{f}.from", "the first step must start at \"00:00\"", "add a step from \"00:00\"")
                ok = False
            if steps and start <= steps[-1].start:
                self.probs.add(f"{f}.from", f"{fr} is not after the previous step ({clock_text(steps[-1].start)}): steps overlap or are out of order",
                               "list steps in strictly increasing clock time")
                ok = False
            steps.append(Step(start, rate))
        return tuple(steps) if ok else None

    def read_bolus(self, value: Any, field: str) -> Bolus | object | None:
        if value == "off":
            return BOLUS_OFF
        if isinstance(value, str):
            self.probs.add(field, f"{value!r} is not a bolus policy", "write bolus = \"off\" or { volume, lockout, max_per_24h }")
            return None
        b = self.table(value, field, "bolus = { volume = \"10 uL\", lockout = \"6 h\", max_per_24h = 3 }")
        if b is None:
            return None
        self.unknown_keys(b, BOLUS_KEYS, field)
        for k in ("volume", "lockout", "max_per_24h"):
            if k not in b:
                self.probs.add(f"{field}.{k}", "missing (required in a bolus policy)",
                               {"volume": "add volume = \"10 uL\"", "lockout": "add lockout = \"6 h\"",
                                "max_per_24h": "add max_per_24h = 3"}[k])
        vol = self.quantity(b["volume"], f"{field}.volume", units.VOLUME, cap=PLAUSIBLE_MAX["volume_mL"]) if "volume" in b else None
        lock = self.quantity(b["lockout"], f"{field}.lockout", units.TIME, positive=False,
                             cap=PLAUSIBLE_MAX["duration_s"]) if "lockout" in b else None
        mx = self.count(b["max_per_24h"], f"{field}.max_per_24h", minimum=1, cap=PLAUSIBLE_MAX["bolus_count"]) if "max_per_24h" in b else None
        dur: int | float = 0
        if "duration" in b:
            d = self.quantity(b["duration"], f"{field}.duration", units.TIME, positive=False, cap=DAY)
            dur = d if d is not None else dur
            if d is not None and 0 < d < BOLUS_DURATION_MIN:
                self.probs.add(f"{field}.duration", "a bolus spread over less than 1 min",
                               "write duration = \"0 min\" for a bolus given at once, or at least \"1 min\"")
                return None
            if d is not None and lock is not None and d > lock and lock > 0:
                self.probs.add(f"{field}.duration", "the bolus lasts longer than its lockout, so boluses would overlap",
                               "make the duration at most the lockout")
                return None
        if vol is None or lock is None or mx is None:
            return None
        return Bolus(vol, lock, mx, dur)

    def read_variability(self, value: Any) -> Variability | None:
        v = self.table(value, "variability", "[variability]")
        if v is None:
            return None
        self.unknown_keys(v, VARIABILITY_KEYS, "variability")
        runs = self.count(v["runs"], "variability.runs", minimum=1, cap=PLAUSIBLE_MAX["runs"]) if "runs" in v else None
        seed = self.count(v["seed"], "variability.seed", minimum=0, cap=2**63 - 1) if "seed" in v else None
        raw_acc = v.get("pump_accuracy")
        per = "run"
        if isinstance(raw_acc, dict) and "per" in raw_acc:
            raw_acc = dict(raw_acc)
            per = raw_acc.pop("per")
            if per not in ("run", "refill"):
                self.probs.add("variability.pump_accuracy.per", f"expected \"run\" or \"refill\", got {per!r}",
                               "write per = \"refill\" (one factor per refill interval) or leave it out (one per run)")
                per = "run"
        acc = self.read_dist(raw_acc, "variability.pump_accuracy",
                             {"normal": {"sd": units.FRACTION, "clip": units.FRACTION, "mean": units.FRACTION}},
                             required={"normal": ("sd",)})
        raw_bol = v.get("bolus_requests")
        hourly = None
        if isinstance(raw_bol, dict) and "hourly" in raw_bol:
            raw_bol = dict(raw_bol)
            hourly = self.read_hourly(raw_bol.pop("hourly"), "variability.bolus_requests.hourly")
        bol = self.read_dist(raw_bol, "variability.bolus_requests",
                             {"poisson": {"per_day": "number"}}, required={"poisson": ("per_day",)})
        raw_rd = v.get("refill_delay")
        if isinstance(raw_rd, dict) and raw_rd.get("dist") == "discrete":
            rd = self.read_discrete_delay(raw_rd, "variability.refill_delay")
        else:
            rd = self.read_dist(raw_rd, "variability.refill_delay",
                                {"uniform": {"low": units.TIME, "high": units.TIME}, "discrete": {}},
                                required={"uniform": ("low", "high"), "discrete": ()})
            if rd is not None and rd.params.get("low", 0.0) > rd.params.get("high", 0.0):
                self.probs.add("variability.refill_delay.low", "low is above high", "swap them")
        mri = self.read_dist(v.get("mri_stalls"), "variability.mri_stalls",
                             {"poisson": {"per_year": "number", "recovery_low": units.TIME, "recovery_high": units.TIME}},
                             required={"poisson": ("per_year", "recovery_low", "recovery_high")})
        if mri is not None and mri.params.get("recovery_low", 0) > mri.params.get("recovery_high", 0):
            self.probs.add("variability.mri_stalls.recovery_low", "recovery_low is above recovery_high", "swap them")
        fev = self.read_dist(v.get("fever"), "variability.fever",
                             {"poisson": {"per_year": "number", "duration_low": units.TIME, "duration_high": units.TIME,
                                          "flow_increase": units.FRACTION}},
                             required={"poisson": ("per_year", "duration_low", "duration_high", "flow_increase")})
        if fev is not None and fev.params.get("duration_low", 0) > fev.params.get("duration_high", 0):
            self.probs.add("variability.fever.duration_low", "duration_low is above duration_high", "swap them")
        miss = self.read_dist(v.get("missed_refill"), "variability.missed_refill",
                              {"bernoulli": {"p": "number"}}, required={"bernoulli": ("p",)})
        if miss is not None and miss.params.get("p", 0.0) > 1.0:
            self.probs.add("variability.missed_refill.p", "a probability above 1", "give p between 0 and 1")
        return Variability(runs, seed, acc, bol, rd, mri, fev, miss, hourly, per)

    def read_discrete_delay(self, d: dict, field: str) -> Distribution | None:
        """refill_delay = { dist = "discrete", values = ["0 day", "2 day"], p = [0.8, 0.2] }"""
        self.unknown_keys(d, ("dist", "values", "p"), field)
        vals, probs = d.get("values"), d.get("p")
        if not isinstance(vals, list) or not vals:
            self.probs.add(f"{field}.values", "expected a list of durations", 'write values = ["0 day", "2 day"]')
            return None
        times = [self.quantity(x, f"{field}.values[{i + 1}]", units.TIME, positive=False,
                               cap=PLAUSIBLE_MAX["duration_s"]) for i, x in enumerate(vals)]
        ok_p = (isinstance(probs, list) and len(probs) == len(vals)
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in probs)
                and abs(sum(probs) - 1.0) <= 1e-9)
        if not ok_p:
            self.probs.add(f"{field}.p", "expected one probability per value, summing to 1",
                           "write p = [0.8, 0.2] for two values")
            return None
        if any(x is None for x in times):
            return None
        return Distribution("discrete", {"values": tuple(times), "p": tuple(float(x) for x in probs)})

    def read_hourly(self, value: Any, field: str) -> tuple[float, ...] | None:
        """24 non-negative weights, one per wall-clock hour from 00:00, not all zero."""
        ok = (isinstance(value, list) and len(value) == 24
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in value)
              and any(x > 0 for x in value))
        if not ok:
            self.probs.add(field, "expected 24 non-negative numbers, not all zero (one per hour from 00:00)",
                           "write hourly = [1, 1, ..., 1] with 24 weights")
            return None
        return tuple(float(x) for x in value)

    def read_dist(self, value: Any, field: str, kinds: dict[str, dict[str, Any]],
                  required: dict[str, tuple[str, ...]]) -> Distribution | None:
        if value is None:
            return None
        d = self.table(value, field, f"{field.rsplit('.', 1)[-1]} = {{ dist = \"{next(iter(kinds))}\", ... }}")
        if d is None:
            return None
        kind = d.get("dist")
        if not isinstance(kind, str) or kind not in kinds:
            self.probs.add(f"{field}.dist", f"unknown distribution {kind!r}", nearest(str(kind), kinds))
            return None
        allowed = ("dist", *kinds[kind])
        self.unknown_keys(d, allowed, field)
        params: dict[str, float] = {}
        for k, dim in kinds[kind].items():
            if k not in d:
                if k in required[kind]:
                    self.probs.add(f"{field}.{k}", "missing (required)", f"add {k} = ...")
                continue
            if dim == "number":
                x = d[k]
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
                    self.probs.add(f"{field}.{k}", f"expected a plain number >= 0, got {x!r}", f"write e.g. {k} = 2.0")
                    continue
                params[k] = float(x)
            else:
                q = self.quantity(d[k], f"{field}.{k}", dim, positive=False, cap=PLAUSIBLE_MAX["duration_s"])
                if q is not None:
                    params[k] = q
        return Distribution(kind, params)


def resolve_programs(sessions: list[Session] | tuple[Session, ...]) -> tuple[Program, ...]:
    """The settings in force from each session on: later sessions inherit what they omit."""
    out = []
    steps: tuple[Step, ...] = ()
    bolus: Bolus | None = None
    mix: tuple[tuple[str, float], ...] = ()
    mix_session = 1
    for s in sessions:
        if s.refill is not None:
            mix = s.refill.mix
            mix_session = s.index
        if s.steps is not None:
            steps = s.steps
        if s.bolus is BOLUS_OFF:
            bolus = None
        elif isinstance(s.bolus, Bolus):
            bolus = s.bolus
        out.append(Program(s, steps, bolus, mix, mix_session))
    return tuple(out)


def kind_of(v: Any) -> str:
    """What a TOML value is, in words, for messages ("a table", "a date-time", ...)."""
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", dt.date: "a date", dt.datetime: "a date-time", dt.time: "a time"}.get(type(v), type(v).__name__)


def clock_text(seconds: int) -> str:
    """A clock time [s after midnight] as "HH:MM"."""
    m = round(seconds / MINUTE)
    return f"{m // 60:02d}:{m % 60:02d}"
