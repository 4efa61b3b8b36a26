"""The Python API of pumpsim, for notebooks and scripts (docs/API.md).

Four functions do what the commands of the same names do, and return objects instead of text:
:func:`load_table`, :func:`validate`, :func:`simulate` and :func:`plan`. The figure functions
are in :mod:`pumpsim.render.figures` (each takes a result and returns a :class:`matplotlib.figure.Figure`).
The command line (:mod:`pumpsim.cli`) is a thin layer over these functions: it prints what they
return and turns errors into exit statuses.

Units: times are seconds since the table's first session [s] inside the results (``t``), with
the matching date-times (``at``, :class:`datetime.datetime`, naive, the table's wall clock);
volumes in mL, rates in mL/day, doses in each drug's dose unit (mg, mcg), daily doses in dose
unit/day. Bad input raises :class:`pumpsim.model.errors.InputError` whose ``problems`` name the file,
the field and the fix (the command line prints them and exits with status 2).

This module imports nothing heavy at import time: numpy, Numba, SciPy and matplotlib are loaded
by the function that needs them.
"""
from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pumpsim.model.results import SimResult
    from pumpsim.model.table import Profile, Table
    from pumpsim.planning.plan import PlanResult
    from pumpsim.rules.report import Report
    from pumpsim.sim.stats import MonteCarlo

# the profile each table was loaded with (load_table's ``profile``), by the table's id while it lives
_PROFILES: dict[int, Profile] = {}


def _remember(table: Table, profile: Profile) -> None:
    key = id(table)
    _PROFILES[key] = profile
    weakref.finalize(table, _PROFILES.pop, key, None)


def _looks_like_toml(text: str) -> bool:
    return "\n" in text or "=" in text


def load_table(source: str | Path, profile: str | None = None) -> Table:
    """Read and check a programming table (the checks of every command; FORMAT.md §1).

    Parameters
    ----------
    source : str or pathlib.Path
        The path of a table file (TOML, schema ``pumpsim.table/1``), or the TOML text itself
        (a string holding a newline or an ``=``).
    profile : str, optional
        A shipped guideline profile name (``pumpsim profiles``) or the path of a profile file;
        overrides the table's ``profile`` key. None: the table's own.

    Returns
    -------
    pumpsim.model.table.Table
        The table in base units: instants [s since the first session], volumes [mL], rates
        [mL/day], concentrations [dose unit/mL]. :func:`validate` judges it against the profile
        chosen here unless given another.

    Raises
    ------
    pumpsim.model.errors.InputError
        Every problem of the file at once, each naming the field and the fix.
    """
    from pumpsim.io.tables import parse_table_bytes, read_table

    if isinstance(source, str) and _looks_like_toml(source):
        table, prof = parse_table_bytes(source.encode("utf-8"), "<table>", profile)
    else:
        table, prof = read_table(source, profile)
    _remember(table, prof)
    return table


def _profile(table: Table, profile: str | Profile | None) -> Profile:
    from pumpsim.io.library import load_profile
    from pumpsim.model.table import Profile

    if isinstance(profile, Profile):
        return profile
    if profile is not None:
        return load_profile(profile, context_field="profile")
    known = _PROFILES.get(id(table))
    return known if known is not None else load_profile(table.profile_name, context_file=table.path)


# --------------------------------------------------------------------------- validate
@dataclass(frozen=True)
class ViolationRecord:
    """One rule broken, with its instant as a date-time.

    Attributes
    ----------
    rule : str
        Rule identifier (``pumpsim rules``), e.g. ``"DOSE-MAX"``.
    severity : str
        ``"hard"`` (do not enter the table as it is) or ``"soft"`` (a warning to review).
    at : datetime.datetime or None
        The instant the rule is broken (the table's wall clock, to the second); None for a rule
        over the whole horizon.
    t : float or None
        The same instant [s since the first session].
    drug : str or None
        The drug concerned, if any.
    value, limit : float or None
        The value found and the limit it breaks, both in ``unit``.
    unit : str
        Unit of ``value`` and ``limit`` (e.g. ``"mg"`` for a 24 h dose, ``"mL"``, ``"day"``).
    message : str
        The finding in words.
    source : str
        The document the limit comes from (``pumpsim sources``).
    verified : bool
        False when the limit is not yet checked against its source.
    session : int or None
        1-based index of the session it belongs to.
    """

    rule: str
    severity: str
    at: dt.datetime | None
    t: float | None
    drug: str | None
    value: float | None
    limit: float | None
    unit: str
    message: str
    source: str
    verified: bool
    session: int | None


@dataclass(frozen=True)
class DoseSummary:
    """A drug's doses over the horizon.

    Attributes
    ----------
    unit : str
        The drug's dose unit (``"mg"``, ``"mcg"``).
    max_24h_worst, max_24h_programmed : float
        Largest dose in any 24 h window in the worst case (fast pump, every bolus) and as
        programmed (exact pump, every bolus) [dose unit].
    max_24h_worst_t, max_24h_programmed_t : float
        Start of that window [s since the first session].
    total_nominal : float
        Dose delivered over the horizon in the nominal case [dose unit].
    """

    unit: str
    max_24h_worst: float
    max_24h_worst_t: float
    max_24h_programmed: float
    max_24h_programmed_t: float
    total_nominal: float


@dataclass(frozen=True)
class ReservoirSummary:
    """The reservoir of one simulated case.

    Attributes
    ----------
    low_alarm_t, empty_t : float or None
        First instant the true volume reaches the low-alarm volume / 0 [s since the first
        session]; None if never within the horizon.
    low_alarm_at, empty_at : datetime.datetime or None
        The same instants as date-times.
    remaining : float
        Volume left at the end of the horizon [mL].
    """

    low_alarm_t: float | None
    empty_t: float | None
    low_alarm_at: dt.datetime | None
    empty_at: dt.datetime | None
    remaining: float


@dataclass
class ValidateResult:
    """Everything :func:`validate` found, and the simulations it found it in.

    The text and JSON reports (:meth:`text`, :meth:`as_json`), the figures (:mod:`pumpsim.render.figures`)
    and the HTML report render what this object holds: nothing simulates again.

    Attributes
    ----------
    report : pumpsim.rules.report.Report
        The report the commands print (FORMAT.md §3).
    """

    report: Report

    @property
    def table(self) -> Table:
        """The table judged."""
        return self.report.table

    @property
    def profile(self) -> Profile:
        """The guideline profile it was judged against."""
        return self.report.profile

    @property
    def verdict(self) -> str:
        """``"pass"``, ``"warn"`` (soft violations only) or ``"fail"`` (a hard violation)."""
        return self.report.verdict

    @property
    def exit_status(self) -> int:
        """The command's exit status: 1 with a hard violation, else 0."""
        return self.report.exit_status

    @property
    def violations(self) -> list[ViolationRecord]:
        """The violations, by session then rule (:class:`ViolationRecord`, ``at`` a date-time)."""
        return [ViolationRecord(v.rule, v.severity, v.when, v.t, v.drug, v.value, v.limit, v.unit, v.message,
                                v.source, v.verified, v.session) for v in self.report.violations]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """The checks that could not be made: (rule, reason and how to enable it)."""
        return [(s.rule, s.reason) for s in self.report.skipped]

    @property
    def nominal(self) -> SimResult:
        """The nominal case (exact pump, no bolus): :class:`pumpsim.model.results.SimResult`."""
        return self.report.cases.nominal

    @property
    def worst(self) -> SimResult:
        """The worst case (pump fast by its full tolerance, every bolus allowed)."""
        return self.report.cases.worst

    @property
    def programmed(self) -> SimResult:
        """The programmed case (exact pump, every bolus allowed)."""
        return self.report.cases.programmed

    @property
    def worst_max(self) -> dict[str, tuple[float, float]]:
        """Per drug, the worst case's largest 24 h dose [dose unit] and its window's start [s]."""
        return self.report.cases.worst_max

    @property
    def programmed_max(self) -> dict[str, tuple[float, float]]:
        """Per drug, the programmed case's largest 24 h dose [dose unit] and its window's start [s]."""
        return self.report.cases.programmed_max

    @property
    def doses(self) -> dict[str, DoseSummary]:
        """Per drug, its 24 h maxima and nominal total (:class:`DoseSummary`)."""
        c = self.report.cases
        totals = c.nominal.total_delivered()
        return {d: DoseSummary(info["unit"], *c.worst_max[d], *c.programmed_max[d], totals[d])
                for d, info in self.report.drugs.items()}

    @property
    def reservoir(self) -> dict[str, ReservoirSummary]:
        """Per case (``"nominal"``, ``"worst"``, ``"programmed"``), the reservoir (:class:`ReservoirSummary`)."""
        def when(t: float | None) -> dt.datetime | None:
            return None if t is None else self.table.datetime_at(t)

        return {case: ReservoirSummary(r.low_alarm_at, r.empty_at, when(r.low_alarm_at), when(r.empty_at), r.remaining)
                for case, r in (("nominal", self.nominal), ("worst", self.worst), ("programmed", self.programmed))}

    def as_json(self) -> dict[str, Any]:
        """The JSON report of ``pumpsim validate --format json`` (FORMAT.md §3), as a dict."""
        return self.report.as_json()

    def text(self) -> str:
        """The text report of ``pumpsim validate``: verdict first, in plain words."""
        from pumpsim.rules.report import render_text

        return render_text(self.report)


def validate(table: Table, profile: str | Profile | None = None) -> ValidateResult:
    """Every check of ``pumpsim validate``: the static rules, the nominal, worst and programmed
    simulations (each computed once), the rules that judge them and the independent cross-check.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        A table from :func:`load_table`.
    profile : str or pumpsim.model.table.Profile, optional
        A shipped profile name, a profile file's path, or a loaded profile. None: the profile
        :func:`load_table` chose (the table's own, or the one given there).

    Returns
    -------
    ValidateResult
        Violations (``at`` as :class:`datetime.datetime`, ``t`` [s]), doses [dose unit],
        reservoir instants [s] and date-times, and the three simulations with their 24 h maxima.

    Notes
    -----
    The cases (FORMAT.md §1, docs/SIMULATION.md): nominal, exact pump without bolus; worst, the
    pump fast by its full accuracy tolerance with every bolus the policy allows as early as it
    allows it; programmed, an exact pump with every bolus. The 24 h maxima are exact over all
    rolling windows (docs/SIMULATION.md, "the rolling 24 h maximum").
    """
    from pumpsim.rules.validate import validate as _validate

    return ValidateResult(_validate(table, _profile(table, profile)))


# --------------------------------------------------------------------------- simulate
@dataclass
class SimulateResult:
    """What :func:`simulate` computed: the validation and the Monte-Carlo risks.

    Attributes
    ----------
    validation : ValidateResult
        The checks of :func:`validate` (the report carries the risks too).
    montecarlo : pumpsim.sim.stats.MonteCarlo
        Counts, proportions with their Wilson intervals, and histograms over the runs.
    """

    validation: ValidateResult
    montecarlo: MonteCarlo

    @property
    def runs(self) -> int:
        """Number of runs."""
        return self.montecarlo.runs

    @property
    def p_empty(self) -> float:
        """Share of runs in which the reservoir ran dry at some time [fraction of runs, 0-1]."""
        return self.montecarlo.p_empty.p

    @property
    def p_empty_ci95(self) -> tuple[float, float]:
        """95 % Wilson interval of :attr:`p_empty` [fraction of runs]."""
        return self.montecarlo.p_empty.ci

    @property
    def risk(self) -> dict[str, Any]:
        """The ``risk`` object of the JSON report (FORMAT.md §3)."""
        return self.validation.report.risk

    @property
    def exit_status(self) -> int:
        return self.validation.exit_status

    def as_json(self) -> dict[str, Any]:
        """The JSON report of ``pumpsim simulate --format json``, as a dict."""
        return self.validation.as_json()

    def text(self) -> str:
        """The text report of ``pumpsim simulate``."""
        return self.validation.text()


def simulate(table: Table | ValidateResult, profile: str | Profile | None = None, runs: int | None = None, seed: int | None = None,
             workers: int | None = None, *, progress=None, dask: str | None = None,
             engine: str = "numba") -> SimulateResult:
    """Monte-Carlo runs over the table's ``[variability]``, with every check of :func:`validate`.

    Parameters
    ----------
    table : pumpsim.model.table.Table or ValidateResult
        A table from :func:`load_table` (without ``[variability]``, every run is the nominal one),
        or what :func:`validate` returned for it: then its cases are reused, not simulated again,
        and the risks are added to its report.
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate` (ignored with a ValidateResult).
    runs : int, optional
        Number of runs [-] (default: the table's ``variability.runs``, else 10000).
    seed : int, optional
        Seed of the random streams [-] (default: the table's, else 0); the same seed gives the
        same result with any number of workers.
    workers : int, optional
        Threads [-] (default: all cores).
    progress : callable, optional
        ``progress(done, total)`` [runs], called after each chunk.
    dask : str, optional
        ``"local"`` or a Dask scheduler address: run the chunks on a cluster.
    engine : str
        ``"numba"`` (default) or ``"reference"`` (plain Python, same numbers, much slower).

    Returns
    -------
    SimulateResult
        The validation and the Monte-Carlo result: proportions [fraction of runs] with 95 %
        Wilson intervals [1]_, residual volumes before each refill [mL], time to empty [s],
        24 h maxima [dose unit].

    References
    ----------
    .. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical
       inference", Journal of the American Statistical Association 22 (158), 209-212, 1927.
    """
    from pumpsim.render import montecarlo as montecarlo_words
    from pumpsim.sim import montecarlo

    v = table if isinstance(table, ValidateResult) else validate(table, profile)
    worst = {d: s.max_24h_worst for d, s in v.doses.items()}
    mc = montecarlo.run(v.table, v.profile, runs=runs, seed=seed, workers=workers, progress=progress,
                        worst_max=worst, dask=dask, engine=engine)
    v.report.risk = mc.risk_json(v.table)
    v.report.risk_text = montecarlo_words.describe(mc, v.table)
    return SimulateResult(v, mc)


# --------------------------------------------------------------------------- plan
def plan(table: Table, profile: str | Profile | None = None, *, p_low_alarm: float | None = None,
         keep_concentration: bool = False, runs: int | None = None, seed: int | None = None) -> PlanResult:
    """Plan the refill at the table's last session: the longest safe interval and the mix that
    gives it (``pumpsim plan``, docs/PLAN.md).

    Parameters
    ----------
    table : pumpsim.model.table.Table
        A table from :func:`load_table` whose last session holds the refill to plan.
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate`.
    p_low_alarm : float, optional
        With ``[variability]``: the largest allowed share of runs reaching the low alarm before
        the next refill [fraction of runs, 0 <= p < 1] (default 0.001).
    keep_concentration : bool
        Keep the concentrations [dose unit/mL] and the rate [mL/day]; choose only the volume
        [mL] and the date.
    runs, seed : int, optional
        Monte-Carlo runs and seed with ``[variability]`` [-].

    Returns
    -------
    pumpsim.planning.plan.PlanResult
        ``interval_days`` [day] (None when no plan satisfies the hard rules), ``refill_at``
        (date-time), ``fill_volume`` [mL], ``concentrations`` [dose unit/mL], ``daily_doses``
        [dose unit/day], the binding limit and its source.

    Raises
    ------
    pumpsim.model.errors.InputError
        When the last session holds no refill.

    References
    ----------
    .. [1] R. P. Brent, "Algorithms for Minimization without Derivatives", Prentice-Hall, 1973,
       chapter 4 (the root finder of the interval search).
    """
    from pumpsim.model.errors import InputError, Problem
    from pumpsim.planning.plan import DEFAULT_P_LOW_ALARM
    from pumpsim.planning.plan import plan as _plan

    last = table.sessions[-1]
    if last.refill is None:
        raise InputError([Problem(table.path, f"session[{last.index}].refill", "plan plans the refill of the last "
                                  "session, which holds none", "end the table with the session of the refill to plan")])
    return _plan(table, _profile(table, profile), p_max=DEFAULT_P_LOW_ALARM if p_low_alarm is None else p_low_alarm,
                 keep_concentration=keep_concentration, runs=runs, seed=seed)
