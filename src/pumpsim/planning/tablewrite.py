"""Table files written by pumpsim: the planned table of ``pumpsim plan -o`` (FORMAT.md §5), on the
TOML writer of :mod:`pumpsim.io.tomlwrite`."""
from __future__ import annotations

import datetime as dt

from pumpsim._version import __version__
from pumpsim.io.library import drug_library
from pumpsim.io.tables import clock_text
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY
from pumpsim.planning.plan_result import PlanResult, _is_flex


def planned_toml(raw: dict, table: Table, res: PlanResult, source_name: str, command: str) -> str:
    """The table file with the plan written in (FORMAT.md §5 ``-o``): the last session replaced,
    a refill of the same mix appended at ``refill_at``, the horizon ending there."""
    from pumpsim.io import tomlwrite

    assert res.interval_days is not None and res.refill_at is not None and res.fill_volume is not None
    lib = drug_library().drugs
    out = {k: v for k, v in raw.items()}
    sessions = [dict(s) for s in raw["session"]]
    mix = {d: f"{_num(c)} {lib[d].dose_unit}/mL" for d, c in res.concentrations.items()}
    refill = {"volume": f"{_num(res.fill_volume)} mL", "mix": mix}
    last = dict(sessions[-1])
    for key in ("rate", "steps"):
        last.pop(key, None)
    last["refill"] = refill
    if _is_flex(res.steps):
        last["steps"] = [{"from": clock_text(s.start), "rate": f"{_num(s.rate)} mL/day"} for s in res.steps]
    else:
        last["rate"] = f"{_num(res.steps[0].rate)} mL/day"
    sessions[-1] = last
    sessions.append({"at": res.refill_at, "refill": dict(refill)})
    out["session"] = sessions
    out["horizon"] = _duration(res.refill_at - table.start)
    header = [f"Planned by pumpsim {__version__} from {source_name}: {command}",
              f"refill every {res.interval_days} days ({res.binding}); session[{len(sessions) - 1}] replaced, "
              f"session[{len(sessions)}] appended, horizon ending at the next refill.",
              "Decision support for professionals, not a medical device: check before entering it into the pump."]
    return tomlwrite.dumps(out, header)


def _num(x: float) -> str:
    return f"{x:.10g}"


def _duration(d: dt.timedelta) -> str:
    """A calendar span (whole seconds: session times are) as exact duration text."""
    from pumpsim.model.units import format_duration

    return format_duration(d.days * DAY + d.seconds)
