"""Read a patient file (FORMAT.md §7, schema ``pumpsim.patient/1``) into a :class:`PatientFile`.

The same strictness as tables (:mod:`pumpsim.io.tables`): unknown keys and names are input errors
with the nearest known names, every problem of the file is reported at once
(:class:`pumpsim.model.errors.InputError`, exit status 2), and every quantity carries its unit.
Any field may be absent: the rules that need it are then listed as checks not made.

Base units inside: durations in days (``month`` is 30 days), cell counts per mm3, doses in
mg/day. Dates stay as written: a :class:`datetime.date` or a :class:`datetime.datetime`
(TOML local date or local date-time).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pumpsim.io import bounds, library
from pumpsim.io.tables import FileReader, kind_of, load_toml, read_input
from pumpsim.model import units
from pumpsim.model.errors import InputError, nearest

PATIENT_SCHEMA = "pumpsim.patient/1"

TOP_KEYS = ("schema", "profile", "patient", "file", "labs", "imaging", "dates", "device", "treatment")
PATIENT_KEYS = ("age", "refractory_pain", "oral_morphine_equivalent", "severe_adverse_effects", "life_expectancy", "conditions")
#: The labs of the complete file (the reference's §V.2.c), in that order.
LAB_KEYS = ("neutrophils", "platelets", "haemoglobin", "prothrombin", "inr", "aptt_ratio", "creatinine", "glucose",
            "electrolytes")
#: How each lab with a threshold is read: cell counts (/mm3, or G/L), prothrombin time in %, ratios as
#: plain numbers. The other labs keep their value as written (any unit), never judged.
LAB_KINDS = {"neutrophils": "cells", "platelets": "cells", "prothrombin": "percent", "inr": "ratio",
             "aptt_ratio": "ratio"}
#: The complete file's documents (the reference's §V.2): dates.
FILE_KEYS = ("oncology_opinion", "pain_assessment", "medication_review")
LAB_ENTRY_KEYS = ("value", "at")
IMAGING_KEYS = ("ct_thorax_abdomen_pelvis", "brain")
DATE_KEYS = ("file_complete", "review", "algology_consult", "anaesthesia_consult", "consent", "parental_authorisation",
             "admission", "surgery", "first_refill_appointment")
DEVICE_KEYS = ("kind",)
TREATMENT_KEYS = ("drug", "dose", "last_dose", "resume")
#: Values beyond these are typing slips, not clinical choices: input errors (exit 2).
PLAUSIBLE_MAX = {"ome_mg_per_day": 100_000.0, "life_expectancy_day": 36_500.0, "cells_per_mm3": 10_000_000.0,
                 "dose_mg_per_day": 100_000.0, "age_year": 130, "prothrombin_fraction": 2.0, "ratio": 20.0}
#: A cell count in G/L (10^9 per litre) is this many per mm3.
MM3_PER_G_PER_L = 1000.0

#: the unit suggested when a quantity is written without one
UNIT_HINT = {units.DOSE_RATE: "mg/day", units.TIME: "month", units.CELL_COUNT: "/mm3", units.FRACTION: "%"}

Day = dt.date | dt.datetime  # a datetime is a date too: check it first


@dataclass(frozen=True)
class LabValue:
    """One laboratory result: ``value`` (cell counts [/mm3], prothrombin time [fraction, 0.85 is
    85 %], INR and aPTT ratio [-]; None when not given, or for a lab without a threshold), the
    value as written (``text``) and the date it was taken (None if not given)."""

    value: float | None
    at: Day | None
    text: str | None = None


@dataclass(frozen=True)
class Treatment:
    """One ``[[treatment]]`` (1-based ``index`` as in messages: ``treatment[2]``).

    ``dose`` [mg/day] or None; ``last_dose`` None means still taken; ``resume`` the planned
    restart (chemotherapy), or None.
    """

    index: int
    drug: str
    dose: float | None
    last_dose: Day | None
    resume: Day | None


@dataclass(frozen=True)
class PatientFile:
    """A validated patient file; None is "not given" everywhere (never "false" or "none")."""

    path: str
    profile_name: str
    age: float | None = None  # [year]
    refractory_pain: bool | None = None
    oral_morphine_equivalent: float | None = None  # [mg/day]
    severe_adverse_effects: bool | None = None
    life_expectancy: float | None = None  # [day]
    conditions: tuple[str, ...] | None = None  # None: unknown; (): none
    labs: tuple[tuple[str, LabValue], ...] = ()  # (name, value) in LAB_KEYS order
    imaging: tuple[tuple[str, Day], ...] = ()  # (name, date) in IMAGING_KEYS order
    dates: tuple[tuple[str, Day], ...] = ()  # (name, date) in DATE_KEYS order
    device_kind: str | None = None
    treatments: tuple[Treatment, ...] = ()
    documents: tuple[tuple[str, Day], ...] = ()  # [file] (name, date) in FILE_KEYS order

    @property
    def dated_complete(self) -> bool:
        """The file is dated complete as soon as ``[dates]`` holds any date (FORMAT.md §12.3)."""
        return bool(self.dates)

    def document(self, name: str) -> Day | None:
        return dict(self.documents).get(name)

    def date(self, name: str) -> Day | None:
        return dict(self.dates).get(name)

    def lab(self, name: str) -> LabValue | None:
        return dict(self.labs).get(name)

    def treatments_of(self, *drugs: str) -> list[Treatment]:
        return [t for t in self.treatments if t.drug in drugs]


def read_patient(path: str | Path, profile_override: str | None = None) -> tuple[PatientFile, library.Profile]:
    """Read and validate a patient file; return it with the profile it is judged against.

    Raises
    ------
    InputError
        With every problem found (exit status 2 at the command line).
    """
    return parse_patient_bytes(read_input(path, "a patient file"), str(path), profile_override)


def parse_patient_bytes(data: bytes, name: str = "<patient>",
                        profile_override: str | None = None) -> tuple[PatientFile, library.Profile]:
    """Parse a patient file from raw bytes (the same checks as :func:`read_patient`)."""
    raw = load_toml(data, name, f"start from the example: schema = \"{PATIENT_SCHEMA}\", [patient], [dates]")
    return _Reader(name, raw, profile_override).read()


class _Reader(FileReader):
    def __init__(self, name: str, raw: dict, profile_override: str | None) -> None:
        super().__init__(name, raw, profile_override)
        self.vocab = library.pathway_vocabulary()

    # -- helpers ---------------------------------------------------------------------------
    def section(self, key: str, allowed: tuple[str, ...]) -> dict:
        value = self.raw.get(key, {})
        if not isinstance(value, dict):
            self.probs.add(key, f"expected a table, got {kind_of(value)}", f"write [{key}]")
            return {}
        self.unknown_keys(value, allowed, key)
        return value

    def quantity(self, value: Any, field: str, dim: units.Dimension, cap: float) -> float | None:
        try:
            v = units.parse_quantity(value, dim)
        except units.QuantityError as e:
            fix = e.fix
            if "has no unit" in e.message or "bare number" in e.message:
                fix = f"add the unit, e.g. \"{str(value).strip()} {UNIT_HINT[dim]}\""
            self.probs.add(field, e.message, fix)
            return None
        if v > cap:
            self.probs.add(field, f"{value!r} is implausibly large", "check the number and its unit")
            return None
        return v

    def boolean(self, d: dict, key: str, field: str) -> bool | None:
        if key not in d:
            return None
        v = d[key]
        if not isinstance(v, bool):
            self.probs.add(field, f"expected true or false, got {v!r}", f"write {key} = true")
            return None
        return v

    def day(self, value: Any, field: str) -> Day | None:
        if isinstance(value, dt.date) and not bounds.date_in_range(value):
            self.probs.add(field, bounds.out_of_range(value), "check the year")
            return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                self.probs.add(field, "has a UTC offset; pathway dates are local dates",
                               f"write it without offset: {value.replace(tzinfo=None).isoformat(timespec='seconds')}")
                return None
            return value
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            key = field.rsplit(".", 1)[-1]
            try:
                fix = f"write {key} = {dt.date.fromisoformat(value.strip()).isoformat()}"
            except ValueError:
                fix = f"write e.g. {key} = 2027-01-05"
            self.probs.add(field, f"{value!r} is a string; dates are TOML dates, without quotes", fix)
            return None
        self.probs.add(field, f"expected a TOML local date, got {kind_of(value)}", "e.g. 2027-01-05")
        return None

    # -- the file ---------------------------------------------------------------------------
    def read(self) -> tuple[PatientFile, library.Profile]:
        raw = self.raw
        self.unknown_keys(raw, TOP_KEYS, "")
        schema = raw.get("schema")
        if schema is None:
            self.probs.add("schema", "missing (required)", f"add schema = \"{PATIENT_SCHEMA}\" at the top")
        elif schema != PATIENT_SCHEMA:
            self.probs.add("schema", f"unsupported schema {schema!r}", f"write schema = \"{PATIENT_SCHEMA}\"")
        profile = self.read_profile()
        pat = self.section("patient", PATIENT_KEYS)
        refractory = self.boolean(pat, "refractory_pain", "patient.refractory_pain")
        severe = self.boolean(pat, "severe_adverse_effects", "patient.severe_adverse_effects")
        ome = life = None
        if "oral_morphine_equivalent" in pat:
            ome = self.quantity(pat["oral_morphine_equivalent"], "patient.oral_morphine_equivalent", units.DOSE_RATE,
                                PLAUSIBLE_MAX["ome_mg_per_day"])
        if "life_expectancy" in pat:
            life = self.quantity(pat["life_expectancy"], "patient.life_expectancy", units.TIME,
                                 PLAUSIBLE_MAX["life_expectancy_day"])
        conditions = self.read_conditions(pat)
        age = self.read_age(pat)
        fil = self.section("file", FILE_KEYS)
        documents = tuple((k, d) for k in FILE_KEYS if k in fil and (d := self.day(fil[k], f"file.{k}")) is not None)
        labs = self.read_labs()
        img = self.section("imaging", IMAGING_KEYS)
        imaging = tuple((k, d) for k in IMAGING_KEYS if k in img and (d := self.day(img[k], f"imaging.{k}")) is not None)
        dts = self.section("dates", DATE_KEYS)
        dates = tuple((k, d) for k in DATE_KEYS if k in dts and (d := self.day(dts[k], f"dates.{k}")) is not None)
        device_kind = self.read_device()
        treatments = self.read_treatments()
        self.probs.raise_if_any()
        assert profile is not None
        return PatientFile(self.name, profile.name, age, refractory, ome, severe, life, conditions, labs, imaging, dates,
                           device_kind, treatments, documents), profile

    def read_age(self, pat: dict) -> float | None:
        if "age" not in pat:
            return None
        v = pat["age"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= PLAUSIBLE_MAX["age_year"]:
            self.probs.add("patient.age", f"expected an age in years (a number from 0 to {PLAUSIBLE_MAX['age_year']}), "
                                          f"got {v!r}", "write age = 64")
            return None
        return float(v)

    def read_profile(self) -> library.Profile | None:
        name = self.raw.get("profile", library.DEFAULT_PROFILE)
        if not isinstance(name, str):
            self.probs.add("profile", f"expected a profile name, got {kind_of(name)}",
                           f"write profile = \"{library.DEFAULT_PROFILE}\"")
            name = library.DEFAULT_PROFILE
        spec = self.profile_override or name
        try:
            return library.load_profile(spec, context_file=self.name,
                                        context_field="--profile" if self.profile_override else "profile")
        except InputError as e:
            if self.profile_override:
                raise
            self.probs.items.extend(e.problems)
            return None

    def read_conditions(self, pat: dict) -> tuple[str, ...] | None:
        if "conditions" not in pat:
            return None
        value = pat["conditions"]
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.probs.add("patient.conditions", f"expected a list of condition names, got {kind_of(value)}",
                           "write conditions = [\"ascites\"], or conditions = [] for none")
            return None
        known = self.vocab["conditions"]
        ok = True
        for i, c in enumerate(value, start=1):
            if c not in known:
                lower = c.lower().replace(" ", "-").replace("_", "-")
                hint = f"condition names are lower case with hyphens: {lower!r}" if lower in known else nearest(c, known)
                self.probs.add(f"patient.conditions[{i}]", f"unknown condition {c!r}", hint)
                ok = False
        return tuple(value) if ok else None

    def read_labs(self) -> tuple[tuple[str, LabValue], ...]:
        labs = self.section("labs", LAB_KEYS)
        out = []
        for k in LAB_KEYS:
            if k not in labs:
                continue
            f = f"labs.{k}"
            e = labs[k]
            if not isinstance(e, dict):
                self.probs.add(f, f"expected {{ value = \"...\", at = DATE }}, got {kind_of(e)}",
                               f"write {k} = {{ value = \"1800 /mm3\", at = 2027-01-04 }}")
                continue
            self.unknown_keys(e, LAB_ENTRY_KEYS, f)
            at = self.day(e["at"], f"{f}.at") if "at" in e else None
            if "value" not in e:  # a missing element of the complete file, never an input error (FORMAT.md §7)
                out.append((k, LabValue(None, at)))
                continue
            v, text = self.lab_value(k, e["value"], f"{f}.value")
            if v is not None or k not in LAB_KINDS:
                out.append((k, LabValue(v, at, text)))
        return tuple(out)

    def lab_value(self, name: str, value: Any, field: str) -> tuple[float | None, str | None]:
        """A lab's value in its base unit (None after an input error, or for a lab without a threshold) and its text."""
        kind = LAB_KINDS.get(name)
        text = str(value)
        if kind is None:  # kept as written, not judged
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.probs.add(field, f"expected a value such as \"11.2 g/dL\", got {kind_of(value)}",
                               "write value = \"11.2 g/dL\", or leave value out")
            return None, text
        if kind == "cells":
            if isinstance(value, str) and value.strip().endswith("G/L"):
                v = self.quantity(value.strip()[:-3].strip() + " /mm3", field, units.CELL_COUNT,
                                  PLAUSIBLE_MAX["cells_per_mm3"] / MM3_PER_G_PER_L)
                return (None if v is None else v * MM3_PER_G_PER_L), text
            return self.quantity(value, field, units.CELL_COUNT, PLAUSIBLE_MAX["cells_per_mm3"]), text
        if kind == "percent":
            if isinstance(value, str) and value.strip().endswith("%"):
                return self.quantity(value, field, units.FRACTION, PLAUSIBLE_MAX["prothrombin_fraction"]), text
            self.probs.add(field, f"{value!r} is not a percentage", f"write value = \"{value} %\"")
            return None, text
        # a ratio: a plain number, or a string holding one
        try:
            v = float(value) if not isinstance(value, bool) and isinstance(value, (int, float, str)) else None
        except ValueError:
            v = None
        if v is None or not 0 < v <= PLAUSIBLE_MAX["ratio"]:
            self.probs.add(field, f"{value!r} is not a ratio", "write value = \"1.05\" (a plain number, no unit)")
            return None, text
        return v, text

    def read_device(self) -> str | None:
        dev = self.section("device", DEVICE_KEYS)
        if "kind" not in dev:
            return None
        kinds = self.vocab["device_kinds"]
        kind = dev["kind"]
        if not isinstance(kind, str) or kind not in kinds:
            self.probs.add("device.kind", f"unknown device kind {kind!r}", nearest(str(kind), kinds))
            return None
        return kind

    def read_treatments(self) -> tuple[Treatment, ...]:
        value = self.raw.get("treatment")
        if value is None:
            return ()
        if not isinstance(value, list):
            self.probs.add("treatment", f"expected [[treatment]] tables, got {kind_of(value)}", "write each one as [[treatment]]")
            return ()
        known = self.vocab["treatments"]
        out = []
        for i, t in enumerate(value, start=1):
            f = f"treatment[{i}]"
            if not isinstance(t, dict):
                self.probs.add(f, f"expected a table, got {kind_of(t)}", "write it as [[treatment]]")
                continue
            self.unknown_keys(t, TREATMENT_KEYS, f)
            drug = t.get("drug")
            if drug is None:
                self.probs.add(f"{f}.drug", "missing (required)", nearest("", known))
                continue
            if not isinstance(drug, str) or drug not in known:
                lower = str(drug).lower()
                hint = f"names are lower case: {lower!r}" if lower in known else nearest(str(drug), known)
                self.probs.add(f"{f}.drug", f"unknown treatment {drug!r}", hint)
                continue
            dose = last = resume = None
            if "dose" in t:
                dose = self.quantity(t["dose"], f"{f}.dose", units.DOSE_RATE, PLAUSIBLE_MAX["dose_mg_per_day"])
            if "last_dose" in t:
                last = self.day(t["last_dose"], f"{f}.last_dose")
            if "resume" in t:
                resume = self.day(t["resume"], f"{f}.resume")
            if last is not None and resume is not None and _date(resume) < _date(last):
                self.probs.add(f"{f}.resume", f"{resume.isoformat()} is before the last dose ({last.isoformat()})",
                               "check both dates")
            out.append(Treatment(i, drug, dose, last, resume))
        return tuple(out)


def _date(d: Day) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d
