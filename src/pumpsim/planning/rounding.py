"""What a pharmacist prepares and a programmer accepts: the rounding of a planned refill.

The planner's search (:mod:`pumpsim.planning.plan`) finds a real concentration factor ``k``; the
table ``plan -o`` writes holds numbers a pump can be given (FORMAT.md §5):

- each concentration to the profile's ``concentration_step`` for that drug when the profile
  gives one, else to the profile's ``general.concentration_figures`` significant figures;
- each rate (every flex step) to the device's ``rate_resolution`` (``data/devices.toml``) when
  the library gives one, else to the same significant figures.

Every step and count is data with its source and verified flag; none is a literal here. The
rounding is decimal (:mod:`decimal`), so that the number written is the number read back:
``float(text)`` of the written text is the value the plan judges.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from pumpsim.io.library import device_library
from pumpsim.model import units
from pumpsim.model.table import Profile, Sourced, Table

#: Rounding modes by name: to the nearest (ties to even), down, up.
MODES = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}


@dataclass(frozen=True)
class Rounding:
    """The rounding data of one table under one profile.

    Attributes
    ----------
    rate_resolution : Sourced or None
        The device's rate resolution [mL/day], or None when the library gives none.
    figures : Sourced or None
        Significant figures for a concentration (and a rate without a device resolution) [count].
    steps : dict of str to Sourced
        Per drug, the profile's concentration step [dose unit/mL].
    """

    rate_resolution: Sourced | None
    figures: Sourced | None
    steps: dict[str, Sourced]

    def concentration(self, drug: str, c: float, mode: str = "nearest") -> float:
        """A concentration rounded as prepared.

        Parameters
        ----------
        drug : str
            The drug's name.
        c : float
            The exact concentration [dose unit/mL].
        mode : str
            ``"nearest"``, ``"down"`` or ``"up"``.

        Returns
        -------
        float
            The rounded concentration [dose unit/mL]; ``c`` unchanged when no rounding data exists.
        """
        step = self.steps.get(drug)
        if step is not None:
            return to_step(c, float(step.value), mode)
        if self.figures is not None:
            return to_figures(c, int(self.figures.value), mode)
        return c

    def rate(self, r: float, mode: str = "nearest") -> float:
        """A rate rounded as the programmer accepts it.

        Parameters
        ----------
        r : float
            The exact rate [mL/day].
        mode : str
            ``"nearest"``, ``"down"`` or ``"up"``.

        Returns
        -------
        float
            The rounded rate [mL/day], never 0 for a positive ``r`` (one resolution step at least).
        """
        if self.rate_resolution is not None:
            res = float(self.rate_resolution.value)
            out = to_step(r, res, mode)
            return out if out > 0 or r <= 0 else to_step(r, res, "up")
        if self.figures is not None:
            return to_figures(r, int(self.figures.value), mode)
        return r

    def sources(self) -> list[tuple[str, Sourced]]:
        """Every rounding datum in use, for the plan's report.

        Returns
        -------
        list of (str, Sourced)
            (what, the value with its source and verified flag).
        """
        out = []
        if self.rate_resolution is not None:
            out.append(("rate resolution", self.rate_resolution))
        if self.figures is not None:
            out.append(("significant figures", self.figures))
        out += [(f"{d} concentration step", s) for d, s in sorted(self.steps.items())]
        return out


def to_step(x: float, step: float, mode: str = "nearest") -> float:
    """``x`` to a whole multiple of ``step`` (decimal arithmetic), read back as a float.

    Parameters
    ----------
    x, step : float
        The value and the step, in one unit.
    mode : str
        ``"nearest"``, ``"down"`` or ``"up"``.

    Returns
    -------
    float
        ``n x step`` for a whole ``n``, as the float its shortest decimal text parses to.
    """
    s = Decimal(repr(step))
    n = (Decimal(repr(x)) / s).quantize(Decimal(1), rounding=MODES[mode])
    return float(n * s)


def to_figures(x: float, figures: int, mode: str = "nearest") -> float:
    """``x`` to ``figures`` significant figures (decimal arithmetic), read back as a float.

    Parameters
    ----------
    x : float
        The value (any unit).
    figures : int
        Significant figures kept.
    mode : str
        ``"nearest"``, ``"down"`` or ``"up"``.

    Returns
    -------
    float
        The rounded value; 0 stays 0.
    """
    if x == 0:
        return 0.0
    d = Decimal(repr(x))
    quantum = Decimal(1).scaleb(d.adjusted() - figures + 1)
    return float(d.quantize(quantum, rounding=MODES[mode]))


def rounding_for(table: Table, profile: Profile) -> Rounding:
    """The rounding data of ``table`` under ``profile`` (device library, profile).

    Parameters
    ----------
    table : Table
        The planned table (its device model names the library entry).
    profile : Profile
        The guideline profile (``general.concentration_figures``, ``drugs.*.concentration_step``).

    Returns
    -------
    Rounding
        The data, each value :class:`~pumpsim.model.table.Sourced`.
    """
    entry = device_library().get(table.device.model, {})
    res = None
    if "rate_resolution" in entry:
        e = entry["rate_resolution"]
        res = Sourced(units.parse_quantity(e["value"], units.FLOW), e["source"], bool(e["verified"]), e["value"])
    figures = profile.general.get("concentration_figures")
    steps = {d: s for d in dict(table.sessions[-1].refill.mix) if (s := profile.limit(d, "concentration_step")) is not None} \
        if table.sessions[-1].refill is not None else {}
    return Rounding(res, figures, steps)
