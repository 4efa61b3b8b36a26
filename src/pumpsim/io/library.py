"""The shipped device library, drug library and guideline profiles, read from data files.

Every number comes with its source and a verified flag (:class:`pumpsim.model.table.Sourced`).
A user profile (``--profile FILE``) follows the same schema as the shipped ones and is
validated with the same errors; it may start from a shipped profile with ``base = "NAME"``
and override only some values.

Values are in the base units of :mod:`pumpsim.model.table`: a duration (``step_interval``,
``stability*``) in whole seconds, read exactly by :func:`pumpsim.model.units.parse_duration`.
"""
from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pumpsim.io.tomlread import load_toml
from pumpsim.model import units
from pumpsim.model.errors import InputError, Problem, Problems, nearest
from pumpsim.model.table import DrugInfo, DrugLibrary, Incompatibility, Profile, Sourced, frozen_mapping

PROFILE_SCHEMA = "pumpsim.profile/1"
DEFAULT_PROFILE = "fr-ait-2020"

#: Profile keys per drug and the dimension of each (None: a plain number or list).
DRUG_LIMIT_KEYS: dict[str, units.Dimension | None | str] = {
    "max_concentration": units.CONCENTRATION,
    "daily_hard": units.DOSE_RATE,
    "daily_soft": units.DOSE_RATE,
    "start_hard": units.DOSE_RATE,
    "start_soft": units.DOSE_RATE,
    "step_max": units.DOSE_RATE,
    "slow_start": units.DOSE_RATE,  # `pumpsim titrate --pace slow` (docs/TITRATE.md)
    "slow_step": units.DOSE_RATE,
    "step_interval": units.TIME,
    "stability": units.TIME,
    "stability_undiluted": units.TIME,
    "stability_diluted": units.TIME,
    "stability_naive": units.TIME,
    "granuloma_at": units.CONCENTRATION,
    "max_increases_per_week": "count",
    "contraindications": "list",
}
GENERAL_KEYS: dict[str, units.Dimension | str] = {
    "max_molecules": "count",
    "step_down_max": units.FRACTION,
    "oral_to_intrathecal": "ratio",
}
CONTRAINDICATION_FLAGS = ("psychosis",)
#: The ``[pathway]`` keys of a profile (docs/RULES.md §5) and the dimension of each; "conditions" is a
#: list of names from the pathway vocabulary (``data/pathway.toml``).
PATHWAY_KEYS: dict[str, units.Dimension | str] = {
    "indication_ome": units.DOSE_RATE,
    "absolute_contraindications": "conditions",
    "relative_contraindications": "conditions",
    "anti_angiogenic_before_review": units.TIME,
    "neutrophils_min": units.CELL_COUNT,
    "platelets_min": units.CELL_COUNT,
    "lab_max_age": units.TIME,
    "imaging_max_age": units.TIME,
    "review_max_delay": units.TIME,
    "device_life_expectancy": units.TIME,
    "algology_max_delay": units.TIME,
    "surgery_min_delay": units.TIME,
    "surgery_max_delay": units.TIME,
    "anaesthesia_min_before": units.TIME,
    "methadone_stop_before": units.TIME,
    "methadone_admission_before": units.TIME,
    "other_opioid_stop_before": units.TIME,
    "aspirin_max_continued": units.DOSE_RATE,
    "antiplatelet_stop_before": units.TIME,
    "lmwh_stop_before": units.TIME,
    "chemo_stop_before": units.TIME,
    "chemo_resume_min": units.TIME,
    "chemo_resume_max": units.TIME,
}
#: The top-level keys of a profile; ``[ketamine]`` is read by ``pumpsim program`` (:mod:`pumpsim.programs.rules`).
PROFILE_KEYS = ("schema", "name", "title", "base", "general", "drugs", "pathway", "ketamine")


def _data_text(*parts: str) -> str:
    return resources.files("pumpsim.data").joinpath(*parts).read_text(encoding="utf-8")


@functools.cache
def drug_library() -> DrugLibrary:
    raw = tomllib.loads(_data_text("drugs.toml"))
    drugs = {}
    for name, d in raw["drugs"].items():
        factor = 1.0 if d["dose_unit"] == "mg" else 1000.0
        pres = tuple(units.parse_quantity(p, units.CONCENTRATION) * factor for p in d["presentations"])
        drugs[name] = DrugInfo(name, d["dose_unit"], d["class"], tuple(d["routes"]), pres, d["source"])
    inc = tuple(Incompatibility(frozenset(i["drugs"]), i["source"], bool(i["verified"])) for i in raw["incompatible"])
    return DrugLibrary(frozen_mapping(drugs), inc)


def dose_unit(drug: str) -> str:
    """The dose unit of a drug of the library: "mg" or "mcg" (its doses, concentrations per mL
    and daily doses are in that unit). The one place that answers it."""
    return drug_library().drugs[drug].dose_unit


@functools.cache
def pathway_vocabulary() -> dict[str, Any]:
    """The names a patient file may use and the PATH rule catalogue (``data/pathway.toml``), raw."""
    return tomllib.loads(_data_text("pathway.toml"))


@functools.cache
def device_library() -> dict[str, dict[str, Any]]:
    """Raw device entries (values still as written); :mod:`pumpsim.io.tables` resolves them."""
    return tomllib.loads(_data_text("devices.toml"))["devices"]


@functools.cache
def ketamine_data() -> dict[str, Any]:
    """Raw ketamine and esketamine program data (values, lists, templates, each with its source);
    :mod:`pumpsim.programs.rules` resolves them, with a profile file's ``[ketamine]`` overrides."""
    return tomllib.loads(_data_text("ketamine.toml"))


def shipped_profiles() -> list[str]:
    folder = resources.files("pumpsim.data.profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_sourced(entry: Any, kind, dose_factor: float, field: str, probs: Problems,
                  days: bool = False) -> Sourced | None:
    """One ``{ value, source, verified }`` entry. A duration is read exactly in seconds
    (:func:`pumpsim.model.units.parse_duration`), or in days with ``days`` (the pathway's calendar
    limits)."""
    if not isinstance(entry, dict):
        probs.add(field, "expected a table { value = ..., source = \"...\", verified = true|false }",
                  f"write {field.rsplit('.', 1)[-1]} = {{ value = ..., source = \"...\", verified = false }}")
        return None
    ok = True
    for k in entry:
        if k not in ("value", "source", "verified"):
            probs.add(f"{field}.{k}", f"unknown key {k!r}", "keys are value, source, verified")
            ok = False
    if "value" not in entry:
        probs.add(field, "missing 'value'", "add value = ...")
        return None
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        probs.add(f"{field}.source", "every value needs its source", "add source = \"where the number comes from\"")
        ok = False
    verified = entry.get("verified", False)
    if not isinstance(verified, bool):
        probs.add(f"{field}.verified", "must be true or false", "write verified = false")
        ok = False
    raw = entry["value"]
    value: Any
    try:
        if kind == "count":
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise units.QuantityError(f"{raw!r} is not a whole number >= 0", "write e.g. value = 3")
            value = raw
        elif kind == "ratio":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not raw > 0 or raw != raw or raw == float("inf"):
                raise units.QuantityError(f"{raw!r} is not a positive number", "write e.g. value = 300")
            value = float(raw)
        elif kind == "conditions":
            known = pathway_vocabulary()["conditions"]
            if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                raise units.QuantityError("expected a list of condition names", "write e.g. value = [\"ascites\"]")
            bad = [x for x in raw if x not in known]
            if bad:
                raise units.QuantityError(f"unknown condition {bad[0]!r}", nearest(bad[0], known))
            value = tuple(raw)
        elif kind == "list":
            if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                raise units.QuantityError("expected a list of names", f"write e.g. value = {list(CONTRAINDICATION_FLAGS)}")
            bad = [x for x in raw if x not in CONTRAINDICATION_FLAGS]
            if bad:
                raise units.QuantityError(f"unknown condition {bad[0]!r}", f"known conditions: {', '.join(CONTRAINDICATION_FLAGS)}")
            value = tuple(raw)
        else:
            value = units.parse_duration(raw) if kind == units.TIME and not days else units.parse_quantity(raw, kind)
            if kind in (units.CONCENTRATION, units.DOSE_RATE):
                value *= dose_factor
    except units.QuantityError as e:
        probs.add(f"{field}.value", e.message, e.fix)
        return None
    if not ok:
        return None
    return Sourced(value, source, verified, str(raw))


def _profile_from_raw(raw: dict, origin: str, probs: Problems, seen: tuple[str, ...] = ()) -> Profile | None:
    lib = drug_library()
    for k in raw:
        if k not in PROFILE_KEYS:
            probs.add(k, f"unknown key {k!r}", nearest(k, PROFILE_KEYS))
    if raw.get("schema") != PROFILE_SCHEMA:
        probs.add("schema", f"expected schema = \"{PROFILE_SCHEMA}\", got {raw.get('schema')!r}",
                  f"add schema = \"{PROFILE_SCHEMA}\" at the top")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        probs.add("name", "a profile needs a name", "add name = \"my-hospital-2026\"")
        name = "?"
    general: dict[str, Sourced] = {}
    drugs: dict[str, dict[str, Sourced]] = {}
    pathway: dict[str, Sourced] | None = None
    base = raw.get("base")
    if base is not None:
        if base not in shipped_profiles() or base in seen:
            probs.add("base", f"unknown base profile {base!r}", nearest(str(base), shipped_profiles()))
        else:
            parent = shipped_profile(base)
            general.update(parent.general)
            drugs.update({d: dict(v) for d, v in parent.drugs.items()})
            if parent.pathway is not None:
                pathway = dict(parent.pathway)
    g = raw.get("general", {})
    if not isinstance(g, dict):
        probs.add("general", "expected a table", "write [general]")
        g = {}
    for k, v in g.items():
        if k not in GENERAL_KEYS:
            probs.add(f"general.{k}", f"unknown key {k!r}", nearest(k, GENERAL_KEYS))
            continue
        s = _read_sourced(v, GENERAL_KEYS[k], 1.0, f"general.{k}", probs)
        if s is not None:
            general[k] = s
    for k in GENERAL_KEYS:
        if k not in general:
            probs.add(f"general.{k}", "missing", f"add {k} = {{ value = ..., source = \"...\", verified = false }}")
    d = raw.get("drugs", {})
    if not isinstance(d, dict):
        probs.add("drugs", "expected a table of drugs", "write [drugs.morphine] ...")
        d = {}
    for drug, limits in d.items():
        if drug not in lib.drugs:
            probs.add(f"drugs.{drug}", f"unknown drug {drug!r}", nearest(drug, lib.drugs))
            continue
        if not isinstance(limits, dict):
            probs.add(f"drugs.{drug}", "expected a table of limits", f"write [drugs.{drug}]")
            continue
        factor = lib.drugs[drug].mass_factor
        entry = drugs.setdefault(drug, {})
        for k, v in limits.items():
            if k not in DRUG_LIMIT_KEYS:
                probs.add(f"drugs.{drug}.{k}", f"unknown key {k!r}", nearest(k, DRUG_LIMIT_KEYS))
                continue
            s = _read_sourced(v, DRUG_LIMIT_KEYS[k], factor, f"drugs.{drug}.{k}", probs)
            if s is not None:
                entry[k] = s
    if "pathway" in raw:
        pw = raw["pathway"]
        if not isinstance(pw, dict):
            probs.add("pathway", "expected a table", "write [pathway]")
            pw = {}
        pathway = dict(pathway or {})
        for k, v in pw.items():
            if k not in PATHWAY_KEYS:
                probs.add(f"pathway.{k}", f"unknown key {k!r}", nearest(k, PATHWAY_KEYS))
                continue
            s = _read_sourced(v, PATHWAY_KEYS[k], 1.0, f"pathway.{k}", probs, days=True)
            if s is not None:
                pathway[k] = s
    if probs:
        return None
    title = raw.get("title", name)
    return Profile(name, str(title), origin, frozen_mapping(general),
                   frozen_mapping({k: frozen_mapping(v) for k, v in drugs.items()}),
                   None if pathway is None else frozen_mapping(pathway))


@functools.cache
def shipped_profile(name: str) -> Profile:
    raw = tomllib.loads(_data_text("profiles", f"{name}.toml"))
    probs = Problems(f"<pumpsim>/data/profiles/{name}.toml")
    prof = _profile_from_raw(raw, "shipped", probs)
    probs.raise_if_any()
    assert prof is not None
    return prof


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte: not a file
        return False


def load_profile(spec: str, *, context_file: str = "", context_field: str = "") -> Profile:
    """A shipped profile by name, or a profile file by path; :class:`InputError` otherwise."""
    if spec in shipped_profiles():
        return shipped_profile(spec)
    looks_like_path = spec.endswith(".toml") or "/" in spec or _exists(spec)
    if not looks_like_path:
        where = context_file or spec
        raise InputError([Problem(where, context_field or "profile", f"unknown profile {spec!r}",
                                  nearest(spec, shipped_profiles()) + " (or give the path of a profile file)")])
    path = Path(spec)
    where, field = (context_file, context_field or "profile") if context_file else (spec, "")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(where, field, f"profile file {spec} not found",
                                  "check the path (it is read from the working folder)")]) from None
    except OSError as e:
        raise InputError([Problem(where, field, f"cannot read the profile file {spec}: {e.strerror or e}",
                                  "give the path of a readable profile file")]) from None
    raw = load_toml(data, spec, "a profile file holds schema, name, [general] and [drugs.NAME]")
    probs = Problems(spec)
    prof = _profile_from_raw(raw, str(path), probs)
    probs.raise_if_any()
    assert prof is not None
    return prof
