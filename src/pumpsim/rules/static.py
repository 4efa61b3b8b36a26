"""The static safety rules: one small pure function per rule identifier (docs/RULES.md §4).

Each rule is registered with the rule kit (``@rule(ID, "static")``) and has one signature:

Parameters
----------
table : pumpsim.model.table.Table
    The programming table (instants [s since the first session], volumes [mL], rates [mL/day],
    concentrations [dose unit/mL]); its device gives the device limits.
profile : pumpsim.model.table.Profile
    The guideline profile (limits in the same base units, each with its source).

Returns
-------
list of Finding
    :class:`~pumpsim.rules.kit.Violation` and :class:`~pumpsim.rules.kit.Skipped` findings.

No threshold is written here: every limit is a :class:`pumpsim.model.table.Sourced` from the
profile or the device, and its source and verified flag travel with the violation. Rules that need the simulation (REFILL-*, DOSE-MAX, CROSS-CHECK)
live in :mod:`pumpsim.rules.simulated` and read its results.

Comparisons use the relative tolerance of FORMAT.md §4 (:data:`RTOL`): 25 mcg/mL x
0.096 mL/day is 2.4 mcg/day and is not "above 2.4". Instants and durations are exact whole
seconds (FORMAT.md §4) and are compared exactly: a ziconotide step exactly 48 h after the
previous change is allowed, one a second earlier is not. Reports give them in h or days.
"""
from __future__ import annotations

import math

from pumpsim.io.library import dose_unit, drug_library
from pumpsim.model.table import Profile, Program, Sourced, Table
from pumpsim.model.timebase import DAY, HOUR, WEEK
from pumpsim.model.tolerances import RTOL, above, at_or_above
from pumpsim.rules.kit import Finding, Skipped, rule, violation


def _refills(table: Table):
    return [(s, s.refill) for s in table.sessions if s.refill is not None]


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# --------------------------------------------------------------------------- the rules
@rule("MIX-DRUG-COUNT", "static")
def mix_drug_count(table: Table, profile: Profile) -> list[Finding]:
    """MIX-DRUG-COUNT (hard): more molecules in one refill's mix than the profile allows."""
    lim = profile.general["max_molecules"]
    out: list[Finding] = []
    for s, r in _refills(table):
        n = len(r.mix)
        if n > lim.value:
            out.append(violation(table, "MIX-DRUG-COUNT", "hard", s.t, None, n, lim, "molecules",
                                 f"{n} molecules in one mix ({', '.join(d for d, _ in r.mix)}); at most {lim.value}", s.index))
    return out


@rule("MIX-INCOMPATIBLE", "static")
def mix_incompatible(table: Table, profile: Profile) -> list[Finding]:
    """MIX-INCOMPATIBLE (hard): an incompatible pair in one reservoir, or meeting in the line after a change of mix."""
    out: list[Finding] = []
    previous: set[str] = set()
    for s, r in _refills(table):
        here = {d for d, _ in r.mix}
        for inc in drug_library().incompatibilities:
            a, b = sorted(inc.drugs)
            if inc.drugs <= here:
                msg = f"{a} and {b} must never share a reservoir or line"
            elif table.device.dead_volume_mL > 0 and inc.drugs <= (here | previous) and not inc.drugs <= previous:
                msg = f"{a} and {b} meet in the line: the dead volume still holds the previous mix"
            else:
                continue
            out.append(violation(table, "MIX-INCOMPATIBLE", "hard", s.t, f"{a}+{b}", None, None, "", msg, s.index,
                                 source=inc.source, verified=inc.verified))
        previous = here
    return out


@rule("DRUG-ROUTE", "static")
def drug_route(table: Table, profile: Profile) -> list[Finding]:
    """DRUG-ROUTE (hard): a drug of a mix that is not given by the device's route."""
    route = table.device.route
    out: list[Finding] = []
    for s, r in _refills(table):
        for d, _ in r.mix:
            info = drug_library().drugs[d]
            if route not in info.routes:
                out.append(violation(table, "DRUG-ROUTE", "hard", s.t, d, None, None, "",
                                     f"{d} is not given by the {route} route (allowed: {', '.join(info.routes)})", s.index,
                                     source=info.source, verified=True))
    return out


@rule("CONC-MAX", "static")
def conc_max(table: Table, profile: Profile) -> list[Finding]:
    """CONC-MAX (hard): a concentration above the profile's maximum for its drug."""
    out: list[Finding] = []
    for s, r in _refills(table):
        for d, c in r.mix:
            lim = profile.limit(d, "max_concentration")
            if lim is None:
                out.append(Skipped("CONC-MAX", f"{profile.name} gives no maximum concentration for {d}"))
            elif above(c, lim.value):
                u = f"{dose_unit(d)}/mL"
                out.append(violation(table, "CONC-MAX", "hard", s.t, d, c, lim, u,
                                     f"{d} at {_fmt(c)} {u} is above the maximum {_fmt(lim.value)} {u}", s.index))
    return out


@rule("RATE-RANGE", "static")
def rate_range(table: Table, profile: Profile) -> list[Finding]:
    """RATE-RANGE (hard): a programmed rate or flex step outside the device's rate range."""
    dev = table.device
    out: list[Finding] = []
    for name, lim in (("rate_min", dev.rate_min), ("rate_max", dev.rate_max)):
        if lim is None:
            out.append(Skipped("RATE-RANGE", f"{dev.model} has no {name} in the device library: give pump.{name} to check it"))
    for s in table.sessions:
        for k, st in enumerate(s.steps or ()):
            where = f"step from {k + 1}" if s.flex else "rate"
            if dev.rate_min is not None and above(dev.rate_min.value, st.rate):
                out.append(violation(table, "RATE-RANGE", "hard", s.t, None, st.rate, dev.rate_min, "mL/day",
                                     f"{where} {_fmt(st.rate)} mL/day is below the device minimum {_fmt(dev.rate_min.value)} mL/day", s.index))
            if dev.rate_max is not None and above(st.rate, dev.rate_max.value):
                out.append(violation(table, "RATE-RANGE", "hard", s.t, None, st.rate, dev.rate_max, "mL/day",
                                     f"{where} {_fmt(st.rate)} mL/day is above the device maximum {_fmt(dev.rate_max.value)} mL/day", s.index))
    return out


@rule("OVERFILL", "static")
def overfill(table: Table, profile: Profile) -> list[Finding]:
    """OVERFILL (hard): a refill volume above the reservoir's capacity."""
    cap = table.device.reservoir
    return [violation(table, "OVERFILL", "hard", s.t, None, r.volume, cap, "mL",
                      f"refill of {_fmt(r.volume)} mL into a {_fmt(cap.value)} mL reservoir", s.index)
            for s, r in _refills(table) if above(r.volume, cap.value)]


@rule("ZIC-START", "static")
def zic_start(table: Table, profile: Profile) -> list[Finding]:
    """ZIC-START (hard / soft): the first ziconotide daily dose above the start limit or the prudent start."""
    first = next((p for p in table.programs if "ziconotide" in dict(p.mix)), None)
    if first is None:
        return []
    dose = first.daily_dose("ziconotide")
    hard, soft = profile.limit("ziconotide", "start_hard"), profile.limit("ziconotide", "start_soft")
    s = first.session
    for sev, lim in (("hard", hard), ("soft", soft)):
        if lim is not None and above(dose, lim.value):
            return [violation(table, "ZIC-START", sev, s.t, "ziconotide", dose, lim, "mcg/day",
                              f"ziconotide starts at {_fmt(dose)} mcg/day, above the {'start limit' if sev == 'hard' else 'prudent start'} "
                              f"{_fmt(lim.value)} mcg/day", s.index)]
    return []


def _zic_changes(table: Table) -> list[tuple[Program, float, float]]:
    """(program, previous daily dose, new daily dose) at each session where it changes."""
    out = []
    prev = 0.0
    for p in table.programs:
        d = p.daily_dose("ziconotide")
        if not math.isclose(d, prev, rel_tol=RTOL, abs_tol=0.0):
            out.append((p, prev, d))
        prev = d
    return out


@rule("ZIC-STEP", "static")
def zic_step(table: Table, profile: Profile) -> list[Finding]:
    """ZIC-STEP (hard): a ziconotide increase larger than the step limit."""
    lim = profile.limit("ziconotide", "step_max")
    changes = _zic_changes(table)
    if lim is None or not changes:
        return []
    out: list[Finding] = []
    for p, before, after in changes[1:]:  # the start is judged by ZIC-START
        inc = after - before
        if above(inc, lim.value):
            s = p.session
            out.append(violation(table, "ZIC-STEP", "hard", s.t, "ziconotide", inc, lim, "mcg/day",
                                 f"ziconotide raised by {_fmt(inc)} mcg/day ({_fmt(before)} to {_fmt(after)}), more than the step "
                                 f"limit {_fmt(lim.value)} mcg/day", s.index))
    return out


@rule("ZIC-INTERVAL", "static")
def zic_interval(table: Table, profile: Profile) -> list[Finding]:
    """ZIC-INTERVAL (hard): a ziconotide increase too soon after the previous change, or too many in 7 days."""
    lim = profile.limit("ziconotide", "step_interval")
    per_week = profile.limit("ziconotide", "max_increases_per_week")
    changes = _zic_changes(table)
    out: list[Finding] = []
    increases: list[float] = []
    for i, (p, before, after) in enumerate(changes):
        s = p.session
        if i > 0 and after > before:
            gap = s.t - changes[i - 1][0].session.t  # [s], exact
            if lim is not None and gap < lim.value:
                out.append(violation(table, "ZIC-INTERVAL", "hard", s.t, "ziconotide", gap / HOUR, lim, "h",
                                     f"ziconotide raised {_fmt(gap / HOUR)} h after the previous change; at least "
                                     f"{_fmt(lim.value / HOUR)} h", s.index, limit_value=lim.value / HOUR))
            increases.append(s.t)
            if per_week is not None:
                recent = [t for t in increases if t > s.t - WEEK]
                if len(recent) > per_week.value:
                    out.append(violation(table, "ZIC-INTERVAL", "hard", s.t, "ziconotide", len(recent), per_week, "increases",
                                         f"{len(recent)} ziconotide increases within 7 days; at most {per_week.value}", s.index))
    return out


@rule("ZIC-CONTRAINDICATION", "static")
def zic_contraindication(table: Table, profile: Profile) -> list[Finding]:
    """ZIC-CONTRAINDICATION (hard): ziconotide for a patient with psychosis."""
    lim = profile.limit("ziconotide", "contraindications")
    if lim is None or not table.patient.psychosis or "psychosis" not in lim.value:
        return []
    first = next((s for s, r in _refills(table) if "ziconotide" in r.mix_dict), None)
    if first is None:
        return []
    return [violation(table, "ZIC-CONTRAINDICATION", "hard", first.t, "ziconotide", None, None, "",
                      "ziconotide for a patient with psychosis", first.index, source=lim.source, verified=lim.verified)]


@rule("DOSE-STEP-DOWN", "static")
def dose_step_down(table: Table, profile: Profile) -> list[Finding]:
    """DOSE-STEP-DOWN (soft): an opioid or baclofen daily dose cut by more than the profile allows in one session."""
    lim = profile.general["step_down_max"]
    lib = drug_library().drugs
    out: list[Finding] = []
    for prev, cur in zip(table.programs, table.programs[1:]):
        for d in sorted({x for x, _ in prev.mix}):
            if lib[d].drug_class not in ("opioid", "baclofen"):
                continue
            before, after = prev.daily_dose(d), cur.daily_dose(d)
            if before <= 0:
                continue
            cut = (before - after) / before
            if above(cut, lim.value):
                s = cur.session
                u = f"{dose_unit(d)}/day"
                out.append(violation(table, "DOSE-STEP-DOWN", "soft", s.t, d, cut * 100, lim, "%",
                                     f"{d} cut by {cut * 100:.3g} % in one session ({_fmt(before)} to {_fmt(after)} {u}): withdrawal risk",
                                     s.index, limit_value=lim.value * 100))
    return out


@rule("OPIOID-CONVERSION", "static")
def opioid_conversion(table: Table, profile: Profile) -> list[Finding]:
    """OPIOID-CONVERSION (soft): the first intrathecal morphine dose above the prior oral dose over the conversion ratio."""
    first = next((p for p in table.programs if "morphine" in dict(p.mix)), None)
    if first is None:
        return []
    prior = table.patient.prior_oral_morphine
    if prior is None:
        return [Skipped("OPIOID-CONVERSION", "no patient.prior_oral_morphine: the first intrathecal dose is not compared to it")]
    ratio = profile.general["oral_to_intrathecal"]
    ceiling = prior / ratio.value
    dose = first.daily_dose("morphine")
    if not above(dose, ceiling):
        return []
    s = first.session
    return [violation(table, "OPIOID-CONVERSION", "soft", s.t, "morphine", dose, ratio, "mg/day",
                      f"first intrathecal morphine {_fmt(dose)} mg/day is above the oral dose {_fmt(prior)} mg/day / "
                      f"{_fmt(ratio.value)} = {_fmt(ceiling)} mg/day", s.index, limit_value=ceiling)]


@rule("GRANULOMA-RISK", "static")
def granuloma_risk(table: Table, profile: Profile) -> list[Finding]:
    """GRANULOMA-RISK (soft): a concentration at or above the granuloma-risk threshold."""
    out: list[Finding] = []
    for s, r in _refills(table):
        for d, c in r.mix:
            lim = profile.limit(d, "granuloma_at")
            if lim is not None and at_or_above(c, lim.value):
                u = f"{dose_unit(d)}/mL"
                out.append(violation(table, "GRANULOMA-RISK", "soft", s.t, d, c, lim, u,
                                     f"{d} at {_fmt(c)} {u}: granuloma risk at or above {_fmt(lim.value)} {u}", s.index))
    return out


def stability_limit(table: Table, profile: Profile, session_index: int, mix: dict[str, float],
                    first_zic_refill: int | None) -> tuple[Sourced | None, str | None, list[str]]:
    """The stability limit of a mix: the tightest of its drugs; and drugs with no data.

    Parameters
    ----------
    table : Table
        The table (its device says whether the pump is ziconotide-naive).
    profile : Profile
        The profile holding each drug's stability [s].
    session_index : int
        The 1-based session of the refill.
    mix : dict of str to float
        Drug to concentration [dose unit/mL].
    first_zic_refill : int or None
        The session of the table's first refill holding ziconotide.

    Returns
    -------
    limit : Sourced or None
        The tightest stability [s], with its source; None when no drug has data.
    drug : str or None
        The drug that sets it.
    unknown : list of str
        Drugs of the mix with no stability in the profile.
    """
    best: tuple[Sourced, str] | None = None
    unknown = []
    for d, c in sorted(mix.items()):
        if d == "ziconotide":
            presentations = drug_library().drugs[d].presentations
            undiluted = len(mix) == 1 and any(math.isclose(c, p, rel_tol=RTOL) for p in presentations)
            if table.device.ziconotide_naive and session_index == first_zic_refill:
                key = "stability_naive"
            else:
                key = "stability_undiluted" if undiluted else "stability_diluted"
        else:
            key = "stability"
        lim = profile.limit(d, key)
        if lim is None:
            unknown.append(d)
        elif best is None or lim.value < best[0].value:
            best = (lim, d)
    return (best[0] if best else None), (best[1] if best else None), unknown


@rule("REFILL-STABILITY", "static")
def refill_stability(table: Table, profile: Profile) -> list[Finding]:
    """REFILL-STABILITY (hard): a mix staying in the reservoir longer than its least stable drug allows."""
    refills = _refills(table)
    first_zic = next((s.index for s, r in refills if "ziconotide" in r.mix_dict), None)
    out: list[Finding] = []
    no_data: set[str] = set()
    for k, (s, r) in enumerate(refills):
        end = refills[k + 1][0].t if k + 1 < len(refills) else table.horizon
        stay = end - s.t  # [s], exact
        if stay <= 0:
            continue
        lim, drug, unknown = stability_limit(table, profile, s.index, r.mix_dict, first_zic)
        no_data.update(unknown)
        if lim is not None and stay > lim.value:
            until = "the next refill" if k + 1 < len(refills) else "the end of the horizon"
            out.append(violation(table, "REFILL-STABILITY", "hard", s.t, drug, stay / DAY, lim, "day",
                                 f"this mix stays {_fmt(stay / DAY)} days until {until}; {drug} in it is stable "
                                 f"{_fmt(lim.value / DAY)} days", s.index, limit_value=lim.value / DAY))
    if no_data:
        out.append(Skipped("REFILL-STABILITY", f"{profile.name} gives no stability for {', '.join(sorted(no_data))}"))
    return out
