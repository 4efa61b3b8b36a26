"""Read a ketamine or esketamine program (``pumpsim.program/1``) into a :class:`ProgramFile`.

The file (docs/PROGRAMS.md) lists administrations (sessions: a dose in mg, an optional
duration; continuous co-analgesia: a daily dose in mg/day over a duration), reviews, labs, the
patient's conditions and weight, the indication and an optional template. Every problem of the
file is reported at once (:class:`pumpsim.model.errors.InputError`), each naming the field
(``administration[2].route``) and the fix, with the nearest known names for an unknown name.

Base units inside (as everywhere in pumpsim): mg for a session dose, mg/day for a continuous
dose, days for durations, kg for the weight; instants are local :class:`datetime.datetime`,
review and lab dates :class:`datetime.date`.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pumpsim.io import bounds, library
from pumpsim.io.tables import FileReader, kind_of, load_toml, read_input
from pumpsim.model import units
from pumpsim.model.errors import InputError, nearest
from pumpsim.model.timebase import DAY

PROGRAM_SCHEMA = "pumpsim.program/1"

TOP_KEYS = ("schema", "profile", "template", "indication", "patient", "administration", "review", "lab")
PATIENT_KEYS = ("conditions", "weight", "psychiatric_evaluation", "oral_antidepressant")
ADMIN_KEYS = ("at", "drug", "route", "dose", "duration", "setting", "monitoring")
REVIEW_KEYS = ("at", "kind", "benefit")
LAB_KEYS = ("at", "kind")

#: The vocabularies of the file (an unknown name is an input error, exit 2).
ROUTES = ("intravenous", "intramuscular", "subcutaneous", "oral", "sublingual", "nasal", "epidural", "intrathecal")
SETTINGS = ("hospital", "day-hospital", "hospital-at-home", "home")
INDICATIONS = ("anaesthesia", "palliative-refractory-pain", "chronic-pain", "neuropathic-pain", "crps", "fibromyalgia",
               "depression-resistant", "depressive-emergency", "ptsd", "anxiety", "existential-distress")
CONDITIONS = ("ketamine-hypersensitivity", "uncontrolled-hypertension", "severe-heart-failure", "stroke-history",
              "head-trauma", "intracranial-mass-or-haemorrhage", "intracranial-hypertension", "schizophrenia",
              "acute-psychosis", "eye-injury", "intraocular-hypertension", "uncontrolled-epilepsy", "addiction-history",
              # esketamine's own contraindications (Spravato EU SmPC §4.3)
              "esketamine-hypersensitivity", "aneurysmal-vascular-disease", "arteriovenous-malformation",
              "intracerebral-haemorrhage-history", "recent-cardiovascular-event")
REVIEW_KINDS = ("review", "assessment")
LAB_KINDS = ("liver", "renal", "urine-cytology")
AGENTS = ("ketamine", "esketamine")  # the drug whose dose an administration gives

#: Typing slips, not clinical choices (input errors, exit 2); the rules judge the rest.
PLAUSIBLE_MAX = {"dose_mg": 10_000.0, "daily_mg": 50_000.0, "duration_day": 3650.0, "weight_kg": 500.0}
SESSION_MAX_DAY = 1.0  # a session lasting longer is continuous use: give a daily dose


@dataclass(frozen=True)
class Administration:
    """One session (``continuous`` false: ``dose`` in mg) or one continuous infusion
    (``continuous`` true: ``dose`` in mg/day from ``at`` for ``duration`` days)."""

    index: int  # 1-based, as in the file
    at: dt.datetime
    drugs: tuple[str, ...]  # every drug of the syringe or line, as listed
    agent: str  # "ketamine" or "esketamine": the drug ``dose`` is the dose of
    route: str
    continuous: bool
    dose: float  # mg (session) or mg/day (continuous)
    dose_text: str
    duration: float | None  # days; None for a session given at once
    setting: str | None
    monitoring: float | None  # days of supervised observation after the dose

    @property
    def end(self) -> dt.datetime:
        return self.at + dt.timedelta(seconds=(self.duration or 0.0) * DAY)


@dataclass(frozen=True)
class Review:
    index: int
    at: dt.date
    kind: str  # "review" or "assessment"
    benefit: bool | None  # None: not recorded


@dataclass(frozen=True)
class Lab:
    index: int
    at: dt.date
    kind: str  # liver, renal, urine-cytology


@dataclass(frozen=True)
class ProgramPatient:
    conditions: tuple[str, ...] | None  # None: not given (KET-CONTRAINDICATION, KET-DEPENDENCE not checked)
    weight: float | None  # kg
    psychiatric_evaluation: dt.date | None
    oral_antidepressant: bool | None = None  # esketamine's label pairs it with one; None: not given


@dataclass(frozen=True)
class ProgramFile:
    path: str
    profile: str
    template: str | None
    indication: str | None
    patient: ProgramPatient
    administrations: tuple[Administration, ...]
    reviews: tuple[Review, ...]
    labs: tuple[Lab, ...]
    profile_section: Any  # the [ketamine] section of a profile file ({} for a shipped profile)
    profile_file: str | None = None  # the profile file it came from


def read_program(path: str | Path, profile_override: str | None = None) -> ProgramFile:
    """Read and check a program file; :class:`InputError` with every problem otherwise."""
    return parse_program_bytes(read_input(path, "a program file"), str(path), profile_override)


def parse_program_bytes(data: bytes, name: str = "<program>", profile_override: str | None = None) -> ProgramFile:
    raw = load_toml(data, name, f"start with schema = \"{PROGRAM_SCHEMA}\" and one [[administration]]")
    return _Reader(name, raw, profile_override).read()


def program_drugs() -> tuple[str, ...]:
    """Drug names a program may list: the drug library and esketamine."""
    return tuple(sorted({*library.drug_library().drugs, *library.ketamine_data()["drugs"]}))


def template_names() -> tuple[str, ...]:
    return tuple(library.ketamine_data()["templates"])


class _Reader(FileReader):

    def name_in(self, value: Any, field: str, vocabulary: tuple[str, ...], what: str) -> str | None:
        if not isinstance(value, str):
            self.probs.add(field, f"expected a {what} name (a string), got {kind_of(value)}", nearest("", vocabulary))
            return None
        if value not in vocabulary:
            lower = value.lower()
            hint = f"names are lower case: {lower!r}" if lower in vocabulary else nearest(value, vocabulary)
            self.probs.add(field, f"unknown {what} {value!r}", hint)
            return None
        return value

    def quantity(self, value: Any, field: str, dim: units.Dimension, cap: float, *, positive: bool = True) -> float | None:
        try:
            v = units.parse_quantity(value, dim)
        except units.QuantityError as e:
            self.probs.add(field, e.message, e.fix)
            return None
        if positive and v == 0.0:
            self.probs.add(field, f"{value!r} is zero, which is not allowed here", "give a value above zero")
            return None
        if v > cap:
            self.probs.add(field, f"{value!r} is implausibly large", "check the number and its unit")
            return None
        return v

    def date(self, value: Any, field: str, example: str) -> dt.date | None:
        if isinstance(value, dt.date) and not bounds.date_in_range(value):
            self.probs.add(field, bounds.out_of_range(value), "check the year")
            return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                self.probs.add(field, "has a UTC offset; dates are local", f"write {value.date().isoformat()}")
                return None
            return value.date()
        if isinstance(value, dt.date):
            return value
        if value is None:
            self.probs.add(field, "missing (required)", f"add {field.rsplit('.', 1)[-1]} = {example}")
        elif isinstance(value, str):
            self.probs.add(field, f"{value!r} is a string; write a TOML date without quotes", f"e.g. {example}")
        else:
            self.probs.add(field, f"expected a TOML date, got {kind_of(value)}", f"e.g. {example}")
        return None

    def entries(self, value: Any, key: str) -> list[tuple[str, dict]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.probs.add(key, f"expected one or more [[{key}]] tables", f"write each as [[{key}]]")
            return []
        out = []
        for i, e in enumerate(value, start=1):
            f = f"{key}[{i}]"
            if not isinstance(e, dict):
                self.probs.add(f, f"expected a table, got {kind_of(e)}", f"write it as [[{key}]]")
                continue
            out.append((f, e))
        return out

    # -- the file -------------------------------------------------------------------------
    def read(self) -> ProgramFile:
        raw, probs = self.raw, self.probs
        schema = raw.get("schema")
        if schema == "pumpsim.table/1":  # the wrong command, not a broken program: one clear message
            probs.add("schema", "this is a programming table (pumpsim.table/1), not a program",
                      f"check it with: pumpsim validate {self.name}")
            probs.raise_if_any()
        self.unknown_keys(raw, TOP_KEYS, "")
        if schema is None:
            probs.add("schema", "missing (required)", f"add schema = \"{PROGRAM_SCHEMA}\" at the top")
        elif schema != PROGRAM_SCHEMA:
            probs.add("schema", f"unsupported schema {schema!r}", f"write schema = \"{PROGRAM_SCHEMA}\"")
        profile_name = raw.get("profile", library.DEFAULT_PROFILE)
        if not isinstance(profile_name, str):
            probs.add("profile", f"expected a profile name, got {kind_of(profile_name)}",
                      f"write profile = \"{library.DEFAULT_PROFILE}\"")
            profile_name = library.DEFAULT_PROFILE
        spec = self.profile_override or profile_name
        profile, section, profile_file = library.DEFAULT_PROFILE, {}, None
        try:
            prof = library.load_profile(spec, context_file=self.name,
                                        context_field="--profile" if self.profile_override else "profile")
            profile = prof.name
            if spec not in library.shipped_profiles():
                section = tomllib.loads(Path(spec).read_text(encoding="utf-8")).get("ketamine", {})
                profile_file = spec
        except InputError as e:
            if self.profile_override:
                raise
            probs.items.extend(e.problems)
        template = None
        if "template" in raw:
            template = self.name_in(raw["template"], "template", template_names(), "template")
        indication = None
        if "indication" in raw:
            indication = self.name_in(raw["indication"], "indication", INDICATIONS, "indication")
        patient = self.read_patient(raw.get("patient"))
        admins = self.read_administrations(raw.get("administration"), patient)
        reviews = self.read_reviews(raw.get("review"))
        labs = self.read_labs(raw.get("lab"))
        probs.raise_if_any()
        return ProgramFile(self.name, profile, template, indication, patient, tuple(admins), tuple(reviews),
                           tuple(labs), section, profile_file)

    def read_patient(self, value: Any) -> ProgramPatient:
        if value is None:
            return ProgramPatient(None, None, None)
        if not isinstance(value, dict):
            self.probs.add("patient", f"expected a table, got {kind_of(value)}", "write [patient]")
            return ProgramPatient(None, None, None)
        self.unknown_keys(value, PATIENT_KEYS, "patient")
        conditions: tuple[str, ...] | None = None
        if "conditions" in value:
            c = value["conditions"]
            if not isinstance(c, list):
                self.probs.add("patient.conditions", f"expected a list of names, got {kind_of(c)}",
                               "write conditions = [] or e.g. conditions = [\"addiction-history\"]")
            else:
                names = [self.name_in(x, f"patient.conditions[{i}]", CONDITIONS, "condition") for i, x in enumerate(c, 1)]
                conditions = tuple(n for n in names if n is not None)
        weight = None
        if "weight" in value:
            weight = self.quantity(value["weight"], "patient.weight", units.BODY_WEIGHT, PLAUSIBLE_MAX["weight_kg"])
        evaluation = None
        if "psychiatric_evaluation" in value:
            evaluation = self.date(value["psychiatric_evaluation"], "patient.psychiatric_evaluation", "2027-01-03")
        antidepressant = value.get("oral_antidepressant")
        if antidepressant is not None and not isinstance(antidepressant, bool):
            self.probs.add("patient.oral_antidepressant", f"expected true or false, got {antidepressant!r}",
                           "write oral_antidepressant = true (an oral antidepressant is given with esketamine) or false")
            antidepressant = None
        return ProgramPatient(conditions, weight, evaluation, antidepressant)

    def read_administrations(self, value: Any, patient: ProgramPatient) -> list[Administration]:
        if value is None:
            self.probs.add("administration", "no [[administration]] (at least one is required)",
                           "add [[administration]] with at, drug, route and dose")
            return []
        entries = self.entries(value, "administration")
        if not entries and isinstance(value, list):
            self.probs.add("administration", "expected one or more [[administration]] tables",
                           "write each as [[administration]]")
        out: list[Administration] = []
        prev: dt.datetime | None = None
        known = program_drugs()
        for i, (f, a) in enumerate(entries, start=1):
            self.unknown_keys(a, ADMIN_KEYS, f)
            at = self.read_at(a.get("at"), f"{f}.at")
            if at is not None:
                if prev is not None and at <= prev:
                    self.probs.add(f"{f}.at", f"{at.isoformat()} is not after the previous administration "
                                   f"({prev.isoformat()})", "list administrations in strictly increasing time order")
                prev = at if prev is None or at > prev else prev
            drugs, agent = self.read_drugs(a.get("drug"), f"{f}.drug", known)
            route = None
            if "route" not in a:
                self.probs.add(f"{f}.route", "missing (required)", "add route = \"intravenous\" (" + ", ".join(ROUTES) + ")")
            else:
                route = self.name_in(a["route"], f"{f}.route", ROUTES, "route")
            continuous, dose = self.read_dose(a.get("dose"), f"{f}.dose", patient)
            duration = None
            if "duration" in a:
                duration = self.quantity(a["duration"], f"{f}.duration", units.TIME, PLAUSIBLE_MAX["duration_day"],
                                         positive=bool(continuous))
                if duration is not None and continuous is False and duration > SESSION_MAX_DAY * (1 + 1e-9):
                    self.probs.add(f"{f}.duration", f"a session of {a['duration']!r} lasts more than 24 h",
                                   "for continuous use give a daily dose (dose = \"100 mg/day\") with its duration in days")
                    duration = None
            elif continuous:
                self.probs.add(f"{f}.duration", "missing: a continuous administration (a daily dose) needs its duration",
                               "add duration = \"7 day\"")
            setting = None
            if "setting" in a:
                setting = self.name_in(a["setting"], f"{f}.setting", SETTINGS, "setting")
            monitoring = None
            if "monitoring" in a:
                monitoring = self.quantity(a["monitoring"], f"{f}.monitoring", units.TIME, SESSION_MAX_DAY, positive=False)
            if at is None or agent is None or route is None or dose is None or continuous is None:
                continue
            if continuous and duration is None:
                continue
            out.append(Administration(i, at, drugs, agent, route, continuous, dose, str(a["dose"]), duration, setting,
                                      monitoring))
        return out

    def read_at(self, value: Any, field: str) -> dt.datetime | None:
        if isinstance(value, dt.date) and not bounds.date_in_range(value):
            self.probs.add(field, bounds.out_of_range(value), "check the year")
            return None
        if value is None:
            self.probs.add(field, "missing (required)", "add at = 2027-01-05T14:00:00")
        elif isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return value
            self.probs.add(field, "has a UTC offset; times are local wall-clock times",
                           f"write {value.replace(tzinfo=None).isoformat(timespec='seconds')}")
        elif isinstance(value, dt.date):
            self.probs.add(field, "is a date without a time", f"write {value.isoformat()}T09:00:00 (the time of the dose)")
        elif isinstance(value, str):
            self.probs.add(field, f"{value!r} is a string; write a TOML date-time without quotes", "e.g. at = 2027-01-05T14:00:00")
        else:
            self.probs.add(field, f"expected a TOML local date-time, got {kind_of(value)}", "e.g. at = 2027-01-05T14:00:00")
        return None

    def read_drugs(self, value: Any, field: str, known: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
        if value is None:
            self.probs.add(field, "missing (required)", "add drug = \"ketamine\" (or \"esketamine\")")
            return (), None
        items = value if isinstance(value, list) else [value]
        if not items:
            self.probs.add(field, "an empty list", "write drug = \"ketamine\" or a list such as [\"ketamine\", \"morphine\"]")
            return (), None
        names = []
        ok = True
        for j, d in enumerate(items, start=1):
            n = self.name_in(d, field if not isinstance(value, list) else f"{field}[{j}]", known, "drug")
            ok = ok and n is not None
            if n is not None:
                if n in names:
                    self.probs.add(field, f"{n!r} is listed twice", "list each drug once")
                    ok = False
                names.append(n)
        if not ok:
            return tuple(names), None
        agents = [n for n in names if n in AGENTS]
        if len(agents) != 1:
            what = "neither ketamine nor esketamine" if not agents else "both ketamine and esketamine"
            self.probs.add(field, f"lists {what}; the dose of an administration is the dose of one of them",
                           "list ketamine or esketamine (other drugs of the same syringe or line beside it)")
            return tuple(names), None
        return tuple(names), agents[0]

    def read_dose(self, value: Any, field: str, patient: ProgramPatient) -> tuple[bool | None, float | None]:
        """(continuous, dose in mg or mg/day); a dose per kg is converted with the patient's weight."""
        fix = "write the dose with its unit: \"35 mg\" or \"0.5 mg/kg\" for a session, \"100 mg/day\" for continuous use"
        if value is None:
            self.probs.add(field, "missing (required)", fix)
            return None, None
        try:
            q = units.parse(value)
        except units.QuantityError as e:
            no_unit = "no unit" in e.message or "bare number" in e.message
            self.probs.add(field, e.message, fix if no_unit else e.fix)
            return None, None
        kinds = {units.MASS: (False, False), units.DOSE_PER_WEIGHT: (False, True),
                 units.DOSE_RATE: (True, False), units.DOSE_RATE_PER_WEIGHT: (True, True)}
        if q.dimension not in kinds:
            got = units.DIMENSION_NAMES.get(q.dimension, "a quantity of another dimension").split(" (")[0]
            self.probs.add(field, f"{value!r} is {got}, not a dose", fix)
            return None, None
        continuous, per_kg = kinds[q.dimension]
        dose = q.value
        if per_kg:
            if patient.weight is None:
                self.probs.add(field, f"{value!r} is a dose per kg, but the patient's weight is not given",
                               "add weight = \"70 kg\" under [patient], or give the dose in mg")
                return continuous, None
            dose *= patient.weight
        if dose == 0.0:
            self.probs.add(field, f"{value!r} is zero", "give the dose given")
            return continuous, None
        if dose > PLAUSIBLE_MAX["daily_mg" if continuous else "dose_mg"]:
            self.probs.add(field, f"{value!r} is implausibly large", "check the number and its unit")
            return continuous, None
        return continuous, dose

    def read_reviews(self, value: Any) -> list[Review]:
        out = []
        for i, (f, r) in enumerate(self.entries(value, "review"), start=1):
            self.unknown_keys(r, REVIEW_KEYS, f)
            at = self.date(r.get("at"), f"{f}.at", "2027-01-20")
            kind = self.name_in(r.get("kind", "review"), f"{f}.kind", REVIEW_KINDS, "review kind")
            benefit = r.get("benefit")
            if benefit is not None and not isinstance(benefit, bool):
                self.probs.add(f"{f}.benefit", f"expected true or false, got {benefit!r}", "write benefit = true")
                continue
            if at is not None and kind is not None:
                out.append(Review(i, at, kind, benefit))
        return out

    def read_labs(self, value: Any) -> list[Lab]:
        out = []
        for i, (f, lab) in enumerate(self.entries(value, "lab"), start=1):
            self.unknown_keys(lab, LAB_KEYS, f)
            at = self.date(lab.get("at"), f"{f}.at", "2027-02-01")
            if "kind" not in lab:
                self.probs.add(f"{f}.kind", "missing (required)", "add kind = \"liver\" (" + ", ".join(LAB_KINDS) + ")")
                continue
            kind = self.name_in(lab["kind"], f"{f}.kind", LAB_KINDS, "lab kind")
            if at is not None and kind is not None:
                out.append(Lab(i, at, kind))
        return out


