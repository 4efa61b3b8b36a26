"""Hypothesis strategies for valid programming tables, as TOML text.

Tables are generated as text and parsed by the real reader, so every property also exercises
the input layer. ``unit_style`` writes the same quantities in other units (uL/h, mcg/mL...).
"""
from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

DRUG_RANGES = {  # drug: (unit, low, high) of concentration in the dose unit per mL
    "morphine": ("mg/mL", 0.5, 40.0),
    "ziconotide": ("mcg/mL", 1.0, 100.0),
    "ropivacaine": ("mg/mL", 0.5, 10.0),
    "bupivacaine": ("mg/mL", 0.5, 20.0),
    "clonidine": ("mcg/mL", 10.0, 500.0),
}
DEVICES = {  # model: extra [pump] lines
    "synchromed-ii-20": "",
    "synchromed-ii-40": "",
    "prometra-ii-20": "",
    "syringe-driver-50": 'route = "intrathecal"\n',
    "constant-flow-30": 'accuracy = "10 %"\n',
}


def _num(x: float) -> str:
    return repr(float(x))


def vol(x_mL: float, alt: bool) -> str:
    return f"{_num(x_mL * 1000)} uL" if alt else f"{_num(x_mL)} mL"


def flow(x_mL_day: float, alt: bool) -> str:
    return f"{_num(x_mL_day * 1000 / 24)} uL/h" if alt else f"{_num(x_mL_day)} mL/day"


def conc(drug: str, x: float, alt: bool) -> str:
    unit = DRUG_RANGES[drug][0]
    if not alt:
        return f"{_num(x)} {unit}"
    return f"{_num(x / 1000)} g/mL" if unit == "mg/mL" else f"{_num(x / 1000)} mg/mL"


def dur(x_day: float, alt: bool) -> str:
    return f"{_num(x_day * 24 * 60)} min" if alt else f"{_num(x_day * 24)} h"


def clock_dur(x_day: float, alt: bool) -> str:
    """A lockout or bolus duration: a whole number of minutes, written exactly ("4 h", "135 min"),
    as people type them (FORMAT.md §4: time is exact on what the table types)."""
    from pumpsim.model.units import format_duration

    minutes = round(x_day * 1440)
    if abs(minutes - x_day * 1440) > 1e-6:
        return dur(x_day, alt)
    return f"{minutes} min" if alt else format_duration(minutes * 60)


@st.composite
def mixes(draw, max_drugs: int = 3) -> dict[str, float]:
    names = draw(st.lists(st.sampled_from(sorted(DRUG_RANGES)), min_size=1, max_size=max_drugs, unique=True))
    return {d: draw(st.floats(DRUG_RANGES[d][1], DRUG_RANGES[d][2])) for d in names}


@st.composite
def table_specs(draw, max_sessions: int = 6, max_horizon: float = 90.0, devices=tuple(DEVICES)):
    """A table as plain Python values (base units), to be written by :func:`to_toml`."""
    model = draw(st.sampled_from(devices))
    cap = 40.0 if "40" in model else (50.0 if "50" in model else (30.0 if "30" in model else 20.0))
    fixed = model == "constant-flow-30"
    flex_ok = not fixed and model != "syringe-driver-50"
    spec = {
        "model": model,
        "dead_volume": draw(st.one_of(st.none(), st.floats(0.0, 0.5))),
        "horizon": draw(st.floats(0.5, max_horizon)),
        "start": dt.datetime(2026, 12, 1) + dt.timedelta(minutes=draw(st.integers(0, 1439))),
        "sessions": [],
    }
    n = draw(st.integers(1, max_sessions))
    t_min = 0
    mix = None
    for i in range(n):
        if i:
            t_min += draw(st.integers(60, 30 * 1440))
        s: dict = {"at": spec["start"] + dt.timedelta(minutes=t_min)}
        if i == 0 or draw(st.booleans()):
            if mix is None or draw(st.booleans()):
                mix = draw(mixes())
            s["refill"] = (draw(st.floats(0.5, cap)), dict(mix))
        if i == 0 or draw(st.booleans()):
            if not flex_ok or draw(st.booleans()):
                s["rate"] = draw(st.floats(0.05, 3.0))
            else:
                k = draw(st.integers(2, 4))
                starts = sorted(draw(st.lists(st.integers(1, 95), min_size=k - 1, max_size=k - 1, unique=True)))
                s["steps"] = [(0, draw(st.floats(0.05, 3.0)))] + [(q * 15, draw(st.floats(0.05, 3.0))) for q in starts]
        if not fixed and draw(st.integers(0, 2)) == 0:
            if draw(st.booleans()):
                s["bolus"] = "off"
            else:
                # lockouts and durations in whole minutes, as typed (exact in seconds)
                lock_min = draw(st.integers(0, 1440))
                dur_min = draw(st.one_of(st.just(0), st.integers(1, lock_min))) if lock_min >= 1 else 0
                s["bolus"] = (draw(st.floats(0.001, 0.5)), lock_min / 1440, draw(st.integers(1, 6)), dur_min / 1440)
        spec["sessions"].append(s)
    return spec


def to_toml(spec: dict, alt_units: bool = False, steps_layout: bool = False) -> str:
    """Write a spec as a programming table; ``alt_units`` uses other units for every quantity;
    ``steps_layout`` writes each simple rate as a one-step flex schedule from 00:00 (the same
    program in another layout; programmable pumps only)."""
    a = alt_units
    lines = ['schema = "pumpsim.table/1"', f'horizon = "{dur(spec["horizon"], a)}"', "[pump]",
             f'model = "{spec["model"]}"', DEVICES[spec["model"]].rstrip()]
    if spec["dead_volume"] is not None:
        lines.append(f'dead_volume = "{vol(spec["dead_volume"], a)}"')
    for s in spec["sessions"]:
        lines.append("[[session]]")
        lines.append(f"at = {s['at'].isoformat()}")
        if "refill" in s:
            v, mix = s["refill"]
            m = ", ".join(f'{d} = "{conc(d, c, a)}"' for d, c in mix.items())
            lines.append(f'refill = {{ volume = "{vol(v, a)}", mix = {{ {m} }} }}')
        if "rate" in s and steps_layout:
            lines.append(f'steps = [ {{ from = "00:00", rate = "{flow(s["rate"], a)}" }} ]')
        elif "rate" in s:
            lines.append(f'rate = "{flow(s["rate"], a)}"')
        if "steps" in s:
            st_ = ", ".join(f'{{ from = "{m // 60:02d}:{m % 60:02d}", rate = "{flow(r, a)}" }}' for m, r in s["steps"])
            lines.append(f"steps = [ {st_} ]")
        if "bolus" in s:
            b = s["bolus"]
            if b == "off":
                lines.append('bolus = "off"')
            else:
                v, lock, mx, d = b
                extra = f', duration = "{clock_dur(d, a)}"' if d > 0 else ""
                lines.append(f'bolus = {{ volume = "{vol(v, a)}", lockout = "{clock_dur(lock, a)}", max_per_24h = {mx}{extra} }}')
    return "\n".join(x for x in lines if x) + "\n"


def tables(**kw):
    """Strategy of valid table texts."""
    return table_specs(**kw).map(to_toml)
