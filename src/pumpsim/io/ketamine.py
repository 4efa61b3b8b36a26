"""Read the ketamine and esketamine data (``data/ketamine.toml``) into a :class:`KetamineConfig`.

The values (numbers with their dimension), the lists (names of the program file's vocabularies)
and the templates, each with its source and verified flag; a profile file's ``[ketamine]``
section overrides any value or list with an entry of the same shape (validated: an unknown key,
a name outside the vocabulary or a value without a source is an input error naming
``ketamine.values.KEY`` in the profile file). ``pumpsim program`` judges with it, and
``validate`` reads the KET-DOSE limits for a table holding ketamine from it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pumpsim.io import library
from pumpsim.io.programs import CONDITIONS, INDICATIONS, ROUTES, SETTINGS
from pumpsim.model import units
from pumpsim.model.errors import Problems, nearest
from pumpsim.model.table import Sourced, frozen_mapping

#: [values] keys and their kind: "count" or the dimension of the quantity.
VALUE_KINDS: dict[str, Any] = {
    "review_day_from": "count", "review_day_to": "count",
    "prolonged_continuous": units.TIME, "repeated_count": "count", "oral_course_min_days": "count",
    "esketamine_maintenance_months": "count",
    "course_gap": units.TIME, "lab_interval": units.TIME, "esketamine_monitoring": units.TIME,
    "coanalgesia_start_max": units.DOSE_RATE_PER_WEIGHT, "coanalgesia_step_max": units.DOSE_RATE_PER_WEIGHT,
    "step_window": units.TIME, "iv_infusion_rate_max": units.DOSE_RATE_PER_WEIGHT, "iv_bolus_max": units.DOSE_PER_WEIGHT,
}
#: [lists] keys and the vocabulary their names come from.
LIST_VOCABULARY: dict[str, tuple[str, ...]] = {
    "contraindications": CONDITIONS, "dependence_conditions": CONDITIONS,
    "ketamine_routes": ROUTES, "esketamine_routes": ROUTES,
    "ketamine_on_label": INDICATIONS, "ketamine_recognised_off_label": INDICATIONS,
    "ketamine_experimental": INDICATIONS, "esketamine_on_label": INDICATIONS,
    "esketamine_with_antidepressant": INDICATIONS, "esketamine_maintenance_indications": INDICATIONS,
    "hospital_settings": SETTINGS, "parenteral_routes": ROUTES, "oral_routes": ROUTES, "monitored_session_routes": ROUTES,
    "pain_indications": INDICATIONS, "esketamine_contraindications": CONDITIONS,
    "esketamine_contraindications_from_ketamine": CONDITIONS, "esketamine_precautions": CONDITIONS,
}


@dataclass(frozen=True)
class Template:
    """A program template (data/ketamine.toml): what KET-PROGRAM compares a program with."""

    name: str
    title: str
    drug: str
    form: str  # "sessions" or "continuous"
    routes: tuple[str, ...]
    sessions_per_week: tuple[int, ...]  # week 1 first; () for continuous use
    after_plan: str  # "none": no session after the plan; "maintenance": sessions after it are not judged
    duration_min: float | None  # [day]
    duration_max: float | None  # [day]
    review_after_session: int | None
    assessment_after_session: int | None
    psychiatric_evaluation: bool
    note: str
    source: str
    verified: bool


@dataclass(frozen=True)
class KetamineConfig:
    """The values (durations in days, doses per kg in mg/kg/day or mg/kg), lists and templates."""

    values: Mapping[str, Sourced]
    lists: Mapping[str, Sourced]
    templates: Mapping[str, Template]


def _read_list(entry: Any, vocabulary: tuple[str, ...], field: str, probs: Problems) -> Sourced | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), list):
        probs.add(field, "expected { value = [names], source = \"...\", verified = true|false }",
                  f"write {field.rsplit('.', 1)[-1]} = {{ value = [...], source = \"...\", verified = false }}")
        return None
    for k in entry:
        if k not in ("value", "source", "verified"):
            probs.add(f"{field}.{k}", f"unknown key {k!r}", "keys are value, source, verified")
    bad = [x for x in entry["value"] if not isinstance(x, str) or x not in vocabulary]
    for x in bad:
        probs.add(f"{field}.value", f"unknown name {x!r}", nearest(str(x), vocabulary))
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        probs.add(f"{field}.source", "every value needs its source", "add source = \"where the list comes from\"")
    verified = entry.get("verified", False)
    if not isinstance(verified, bool):
        probs.add(f"{field}.verified", "must be true or false", "write verified = false")
    if bad or not isinstance(source, str) or not isinstance(verified, bool):
        return None
    return Sourced(tuple(entry["value"]), source, verified, ", ".join(entry["value"]))


def _read_section(section: Any, values: dict, lists: dict, prefix: str, probs: Problems) -> None:
    if not isinstance(section, dict):
        probs.add(prefix, "expected a table", f"write [{prefix}]")
        return
    for k in section:
        if k not in ("values", "lists"):
            probs.add(f"{prefix}.{k}", f"unknown key {k!r}", nearest(k, ("values", "lists")))
    for k, v in section.get("values", {}).items():
        if k not in VALUE_KINDS:
            probs.add(f"{prefix}.values.{k}", f"unknown key {k!r}", nearest(k, VALUE_KINDS))
            continue
        s = library._read_sourced(v, VALUE_KINDS[k], 1.0, f"{prefix}.values.{k}", probs, days=True)  # calendar days
        if s is not None:
            values[k] = s
    for k, v in section.get("lists", {}).items():
        if k not in LIST_VOCABULARY:
            probs.add(f"{prefix}.lists.{k}", f"unknown key {k!r}", nearest(k, LIST_VOCABULARY))
            continue
        s = _read_list(v, LIST_VOCABULARY[k], f"{prefix}.lists.{k}", probs)
        if s is not None:
            lists[k] = s


def _template(name: str, t: dict) -> Template:
    def dur(key: str) -> float | None:
        return units.parse_quantity(t[key], units.TIME) if key in t else None

    return Template(name, t["title"], t["drug"], t["form"], tuple(t["routes"]), tuple(t.get("sessions_per_week", ())),
                    t.get("after_plan", "none"), dur("duration_min"), dur("duration_max"), t.get("review_after_session"),
                    t.get("assessment_after_session"), bool(t.get("psychiatric_evaluation", False)), t.get("note", ""),
                    t["source"], bool(t["verified"]))


def build_config(section: Any = None, origin: str = "") -> KetamineConfig:
    """The shipped data, overridden by a profile file's ``[ketamine]`` section.

    Parameters
    ----------
    section : dict or None
        The ``[ketamine]`` section of a profile file (``values`` and ``lists``), or None.
    origin : str
        The profile file's name, for the messages of an invalid section.

    Returns
    -------
    KetamineConfig
        Durations in days, daily doses per kg in mg/kg/day, doses per kg in mg/kg.

    Raises
    ------
    pumpsim.model.errors.InputError
        Naming ``ketamine.values.KEY`` (or ``ketamine.lists.KEY``) in ``origin``.
    """
    raw = library.ketamine_data()
    probs = Problems("<pumpsim>/data/ketamine.toml")
    values: dict[str, Sourced] = {}
    lists: dict[str, Sourced] = {}
    _read_section({"values": raw["values"], "lists": raw["lists"]}, values, lists, "ketamine", probs)
    probs.raise_if_any()
    if section:
        user = Problems(origin or "profile")
        _read_section(section, values, lists, "ketamine", user)
        user.raise_if_any()
    templates = {n: _template(n, t) for n, t in raw["templates"].items()}
    return KetamineConfig(frozen_mapping(values), frozen_mapping(lists), frozen_mapping(templates))
