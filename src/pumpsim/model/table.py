"""The typed, immutable model of a programming table and of the data it is judged against.

Base units (one per dimension, everywhere below the input layer)
----------------------------------------------------------------
- volume: mL
- time: whole SECONDS, exact (FORMAT.md §4, "Time is exact arithmetic"). An instant is the
  number of seconds since the first session's ``at`` (:attr:`Table.start`; the first session
  is 0); a duration is a number of seconds. Both are Python ``int`` wherever the table types
  whole seconds (every duration typed in min, h, day, week or month with a decimal number is
  read exactly: "0.1 h" is 360, "1.5 min" is 90); a typed duration that is not a whole number
  of seconds stays a float. Calendar instants are rebuilt with :meth:`Table.datetime_at`.
  :data:`MINUTE`, :data:`HOUR` and :data:`DAY` are the integer seconds of each.
- flow rate: mL/day; dose rate: dose unit/day (a rate times a duration in seconds divides by
  :data:`DAY`)
- dose: the drug's own dose unit, mg or mcg (docs/RULES.md §3, :attr:`DrugInfo.dose_unit`);
  concentration is dose unit per mL, a daily dose is dose unit per day
- fractions: plain numbers (14.5 % is 0.145)
- clock time of a flex step and of the first session: whole seconds after midnight
  (08:00 is 28800)

The care pathway (patient files) and the session programs (ketamine, esketamine) are judged on
the calendar, not simulated: their dates are ``datetime.date``/``datetime.datetime`` and their
delays are counted in calendar days, date to date, as FORMAT.md §7 and §8 say (the ``[pathway]``
and ``[ketamine]`` thresholds are read in days for that reason: :mod:`pumpsim.io.library`).

Nothing here reads files or parses strings: :mod:`pumpsim.io.tables` and :mod:`pumpsim.io.library`
build these objects, every rule and engine reads them.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pumpsim.model.timebase import DAY, HOUR, MINUTE  # noqa: F401  (the time base has one owner)


@dataclass(frozen=True)
class Sourced:
    """A number (or list) from a data file with the source that backs it.

    ``value`` is in base units; ``text`` is the value as written in the data (for reports).
    """

    value: float | int | tuple
    source: str
    verified: bool
    text: str = ""


# --------------------------------------------------------------------------- libraries
@dataclass(frozen=True)
class DrugInfo:
    """A drug's identity in the drug library (independent of the guideline profile)."""

    name: str
    dose_unit: str  # "mg" or "mcg"
    drug_class: str
    routes: tuple[str, ...]
    presentations: tuple[float, ...]  # concentrations [dose unit/mL]
    source: str

    @property
    def mass_factor(self) -> float:
        """Multiply a mass in mg by this to get it in the dose unit.

        Returns
        -------
        float
            1.0 for a drug dosed in mg, 1000.0 for one dosed in mcg [dose unit/mg].
        """
        return 1.0 if self.dose_unit == "mg" else 1000.0


@dataclass(frozen=True)
class Incompatibility:
    drugs: frozenset[str]
    source: str
    verified: bool


@dataclass(frozen=True)
class DrugLibrary:
    drugs: Mapping[str, DrugInfo]
    incompatibilities: tuple[Incompatibility, ...]


@dataclass(frozen=True)
class Profile:
    """A guideline profile: limits per drug and general limits, each :class:`Sourced`.

    ``drugs[name][key]`` keys: max_concentration [dose/mL], daily_hard, daily_soft,
    start_hard, start_soft, step_max [dose/day], step_interval, stability,
    stability_undiluted, stability_diluted, stability_naive [s], granuloma_at [dose/mL],
    max_increases_per_week [count], contraindications [tuple of str].
    ``general`` keys: max_molecules [count], step_down_max [fraction],
    oral_to_intrathecal [ratio].
    ``pathway``: the care-pathway thresholds of ``pumpsim pathway`` (:data:`pumpsim.io.library.PATHWAY_KEYS`:
    delays [day], cell counts [/mm3], doses [mg/day], condition lists), or None when the profile
    has no ``[pathway]`` section.
    """

    name: str
    title: str
    origin: str  # "shipped" or the path of a user file
    general: Mapping[str, Sourced]
    drugs: Mapping[str, Mapping[str, Sourced]]
    pathway: Mapping[str, Sourced] | None = None

    def limit(self, drug: str, key: str) -> Sourced | None:
        """A drug's limit in this profile.

        Parameters
        ----------
        drug : str
            The drug's name in the drug library.
        key : str
            The limit's name in the profile (``daily_hard``, ``max_concentration``, ...).

        Returns
        -------
        Sourced or None
            The value in base units (dose unit/day, dose unit/mL, s, ...) with its source and
            verified flag; None when the profile gives none.
        """
        return self.drugs.get(drug, {}).get(key)


@dataclass(frozen=True)
class Device:
    """A pump as the table uses it: library values with the table's overrides applied.

    Optional values are None when neither the library nor the table gives a number; the
    checks that need them are then skipped and reports say so.
    """

    model: str
    title: str
    kind: str  # "programmable" | "constant-flow" | "syringe-driver"
    route: str
    routes: tuple[str, ...]
    reservoir: Sourced  # [mL]
    accuracy: Sourced  # [fraction]
    low_alarm: Sourced | None  # [mL]
    rate_min: Sourced | None  # [mL/day]
    rate_max: Sourced | None  # [mL/day]
    dead_volume: Sourced | None  # [mL]
    pulse_volume: Sourced | None  # [mL]
    ziconotide_naive: bool = False
    notes: str = ""

    @property
    def dead_volume_mL(self) -> float:
        """The catheter's dead volume [mL]; 0.0 when the device data give none.

        Returns
        -------
        float
            The dead volume [mL].
        """
        return 0.0 if self.dead_volume is None else float(self.dead_volume.value)


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Bolus:
    """A patient bolus policy. volume [mL], lockout [s], duration [s] (0: at once)."""

    volume: float
    lockout: int | float
    max_per_24h: int
    duration: int | float = 0


@dataclass(frozen=True)
class Refill:
    """Aspirate the residual, then fill ``volume`` [mL] of ``mix`` (drug -> dose/mL)."""

    volume: float
    mix: tuple[tuple[str, float], ...]  # sorted by drug name

    @property
    def mix_dict(self) -> dict[str, float]:
        """The mix as a mapping.

        Returns
        -------
        dict of str to float
            Drug to concentration [dose unit/mL].
        """
        return dict(self.mix)


@dataclass(frozen=True)
class Step:
    """A flex step: from clock time ``start`` [s after midnight] at ``rate`` [mL/day]."""

    start: int
    rate: float


class _BolusOff:
    """Marker for ``bolus = "off"`` (distinct from a session that leaves bolus unchanged)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "BOLUS_OFF"


BOLUS_OFF = _BolusOff()


@dataclass(frozen=True)
class Session:
    """One telemetry session as written. ``None`` fields leave the previous setting."""

    index: int  # 1-based, as in messages: session[index]
    at: dt.datetime
    t: int  # [s] since the first session
    refill: Refill | None
    steps: tuple[Step, ...] | None  # a simple rate is one step from 00:00
    bolus: Bolus | _BolusOff | None
    flex: bool = False  # written with `steps` (True) or `rate` (False)


@dataclass(frozen=True)
class Program:
    """The settings in force from a session on (inherited values resolved)."""

    session: Session
    steps: tuple[Step, ...]
    bolus: Bolus | None
    mix: tuple[tuple[str, float], ...]  # the reservoir's mix
    mix_session: int  # index of the session whose refill put this mix in

    @property
    def mean_rate(self) -> float:
        """Daily mean programmed rate (flex steps averaged over 24 h).

        Returns
        -------
        float
            The mean rate [mL/day].
        """
        total = 0.0
        for i, s in enumerate(self.steps):
            end = self.steps[i + 1].start if i + 1 < len(self.steps) else DAY
            total += s.rate * ((end - s.start) / DAY)
        return total

    def daily_dose(self, drug: str) -> float:
        """Programmed daily dose: concentration x mean rate (docs/RULES.md §4).

        Parameters
        ----------
        drug : str
            The drug's name.

        Returns
        -------
        float
            The daily dose [dose unit/day]; 0.0 when the mix does not hold the drug.
        """
        return dict(self.mix).get(drug, 0.0) * self.mean_rate


@dataclass(frozen=True)
class Patient:
    prior_oral_morphine: float | None = None  # [mg/day]
    life_expectancy: int | float | None = None  # [s]
    psychosis: bool = False


@dataclass(frozen=True)
class Distribution:
    """A distribution from the [variability] section, values in base units (durations such
    as ``low``, ``high``, ``values``, ``recovery_*``, ``duration_*`` in seconds; ``per_day`` and
    ``per_year`` stay rates)."""

    dist: str
    params: Mapping[str, float | tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Variability:
    """The [variability] section; a source absent is absent (FORMAT.md §1).

    Beyond FORMAT.md: ``bolus_requests.hourly`` (24 relative weights of the wall-clock hours),
    ``mri_stalls`` (Poisson ``per_year``, recovery uniform between ``recovery_low`` and
    ``recovery_high``: delivery stops), ``fever`` (Poisson ``per_year``, duration uniform
    between ``duration_low`` and ``duration_high``, flow multiplied by ``1 + flow_increase``; for
    constant-flow pumps) and ``missed_refill`` (each refill after the first skipped with
    probability ``p``). ``pump_accuracy.per = "refill"`` draws one accuracy factor per refill
    interval instead of one per run (``pump_accuracy_per``; used by ``simulate`` and ``telemetry --records``).
    """

    runs: int | None = None
    seed: int | None = None
    pump_accuracy: Distribution | None = None
    bolus_requests: Distribution | None = None
    refill_delay: Distribution | None = None
    mri_stalls: Distribution | None = None
    fever: Distribution | None = None
    missed_refill: Distribution | None = None
    hourly: tuple[float, ...] | None = None  # bolus request weights per wall-clock hour
    pump_accuracy_per: str = "run"  # "run": one factor per run; "refill": one per refill interval


@dataclass(frozen=True)
class Table:
    """A validated programming table, in base units."""

    path: str
    schema: str
    profile_name: str
    horizon: int | float  # [s]
    device: Device
    patient: Patient
    sessions: tuple[Session, ...]
    programs: tuple[Program, ...]
    variability: Variability | None = None

    @property
    def start(self) -> dt.datetime:
        """The first session's date-time: instant 0 of the table's time base.

        Returns
        -------
        datetime.datetime
            The local date-time as the table types it.
        """
        return self.sessions[0].at

    @property
    def clock0(self) -> int:
        """Clock time of the first session [s after midnight]: t=0 sits there on the wall clock.

        Session times are whole seconds (:mod:`pumpsim.io.tables` refuses a fraction of a second),
        so this is an int.

        Returns
        -------
        int
            Seconds after midnight [s].
        """
        a = self.start
        return a.hour * HOUR + a.minute * MINUTE + a.second

    def datetime_at(self, t: float) -> dt.datetime:
        """The calendar instant ``t`` seconds after the first session, rounded to the second.

        Parameters
        ----------
        t : float
            An instant [s since the first session].

        Returns
        -------
        datetime.datetime
            The local date-time.
        """
        return self.start + dt.timedelta(seconds=round(t))

    def iso(self, t: float | None) -> str | None:
        """An instant as FORMAT.md §3 prints it.

        Parameters
        ----------
        t : float or None
            An instant [s since the first session].

        Returns
        -------
        str or None
            ISO 8601 local date-time to the second, or None when ``t`` is None.
        """
        return None if t is None else self.datetime_at(t).isoformat(timespec="seconds")

    def drugs(self) -> list[str]:
        """Every drug that appears in any refill, sorted.

        Returns
        -------
        list of str
            Drug names.
        """
        names = {d for s in self.sessions if s.refill for d, _ in s.refill.mix}
        return sorted(names)


def frozen_mapping(d: dict) -> Mapping:
    """A read-only copy of a dictionary (the model is immutable).

    Parameters
    ----------
    d : dict
        Any mapping.

    Returns
    -------
    Mapping
        A read-only view of a copy of ``d``.
    """
    return MappingProxyType(dict(d))
