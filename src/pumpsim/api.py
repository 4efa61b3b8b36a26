"""The Python API of pumpsim, for notebooks and scripts (docs/API.md).

Each command has a function that does what it does and returns a result object instead of
text: :func:`load_table` (a table with its profile), :func:`validate`, :func:`simulate`,
:func:`plan`, :func:`titrate`, :func:`telemetry_log`, :func:`telemetry_records`,
:func:`reconcile`, :func:`check_pathway`, :func:`check_program` and :func:`report` (the
last two are not named ``pathway`` and ``program``: ``pumpsim.pathway`` is a package). Every result has
``text()`` and ``as_json()``/``to_json()`` (what the command prints), ``exit_status``, and
``figures()`` (:class:`matplotlib.figure.Figure` objects by name). The command line
(:mod:`pumpsim.cli`) is a thin layer over these functions: it prints what they return and turns
errors into exit statuses.

Units: times are seconds since the table's first session [s] inside the results (``t``), with
the matching date-times (``at``, :class:`datetime.datetime`, naive, the table's wall clock);
volumes in mL, rates in mL/day, doses in each drug's dose unit (mg, mcg), daily doses in dose
unit/day. Bad input raises :class:`pumpsim.model.errors.InputError` whose ``problems`` name the file,
the field and the fix (the command line prints them and exits with status 2); so does a bad
argument (``runs=0``, ``engine="foo"``), with the command line's message. A failure of the
environment (Dask missing or unreachable) raises :class:`EnvironmentFailure` (exit status 3).

This module imports nothing heavy at import time: numpy, Numba, SciPy and matplotlib are loaded
by the function that needs them.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pumpsim.model.errors import InputError, Problem, nearest

if TYPE_CHECKING:
    from pumpsim.model.results import SimResult
    from pumpsim.model.table import Profile, Table
    from pumpsim.pathway.report import PathwayReport
    from pumpsim.planning.plan import PlanResult
    from pumpsim.planning.titrate import TitrateResult
    from pumpsim.programs.report import ProgramReport
    from pumpsim.rules.report import Report
    from pumpsim.sim.stats import MonteCarlo
    from pumpsim.telemetry.reconcile import Reconciliation

ARGUMENTS = "<arguments>"  # the "file" of a problem with an argument of an API function


class LoadedTable(NamedTuple):
    """A programming table and the guideline profile it is judged against, read together by
    :func:`load_table` (``table, profile = pumpsim.load_table(...)`` unpacks them).

    Attributes
    ----------
    table : pumpsim.model.table.Table
        The table in base units: instants [s since the first session], volumes [mL], rates
        [mL/day], concentrations [dose unit/mL].
    profile : pumpsim.model.table.Profile
        The profile: the one given to :func:`load_table`, else the table's ``profile`` key.
    """

    table: Table
    profile: Profile


def load_table(source: str | Path, profile: str | None = None) -> LoadedTable:
    """Read and check a programming table and its guideline profile (the checks of every
    command; FORMAT.md §1).

    Parameters
    ----------
    source : str or pathlib.Path
        The path of a table file (TOML, schema ``pumpsim.table/1``). A path is always a path,
        whatever characters its name holds: TOML text goes through :func:`load_table_text`.
    profile : str, optional
        A shipped guideline profile name (``pumpsim profiles``) or the path of a profile file;
        overrides the table's ``profile`` key. None: the table's own.

    Returns
    -------
    LoadedTable
        ``(table, profile)``: the table in base units (instants [s since the first session],
        volumes [mL], rates [mL/day], concentrations [dose unit/mL]) and the profile every
        function given this object judges it against (unless given another).

    Raises
    ------
    pumpsim.model.errors.InputError
        Every problem of the file at once, each naming the field and the fix.
    """
    from pumpsim.io.tables import read_table

    path = _path(source, "source")
    with _other_kind(path, "pumpsim.table/1"):
        table, prof = read_table(path, profile)
    return LoadedTable(table, prof)


def load_table_text(text: str, profile: str | None = None, name: str = "<table>") -> LoadedTable:
    """Read and check a programming table given as TOML text (a notebook cell, a web form).

    Parameters
    ----------
    text : str
        The table's TOML text (schema ``pumpsim.table/1``).
    profile : str, optional
        A shipped profile name or the path of a profile file; None: the table's own.
    name : str, optional
        What messages call the text (``<table>``).

    Returns
    -------
    LoadedTable
        ``(table, profile)``, as :func:`load_table` returns them.

    Raises
    ------
    pumpsim.model.errors.InputError
        Every problem of the text at once, each naming the field and the fix.
    """
    from pumpsim.io.tables import parse_table_bytes

    if not isinstance(text, str):
        raise InputError([Problem(ARGUMENTS, "text", f"expected the table's TOML text, got {type(text).__name__}",
                                  "read a file with pumpsim.load_table(path)")])
    table, prof = parse_table_bytes(text.encode("utf-8"), name, profile)
    return LoadedTable(table, prof)


#: schema -> (what a file of that schema is, the command that reads it)
SCHEMAS = {"pumpsim.table/1": ("a programming table", "pumpsim validate {path}"),
           "pumpsim.patient/1": ("a patient file", "pumpsim pathway {path}"),
           "pumpsim.program/1": ("a ketamine or esketamine program", "pumpsim program {path}"),
           "pumpsim.profile/1": ("a guideline profile", "pumpsim profiles {path}, or --profile {path}")}


class _other_kind:  # noqa: N801 - a context manager used as a phrase
    """Turn a reader's problems about a file of another kind (a patient file given as a table...)
    into one problem naming the command that reads it."""

    def __init__(self, path: str, expected: str) -> None:
        self.path, self.expected = path, expected

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, tb) -> bool:
        if not isinstance(error, InputError):
            return False
        from pumpsim.io.tomlread import load_toml

        try:
            schema = load_toml(Path(self.path).read_bytes(), self.path, "").get("schema")
        except (OSError, InputError):
            return False
        if schema == self.expected or schema not in SCHEMAS:
            return False
        what, command = SCHEMAS[schema]
        wanted = SCHEMAS[self.expected][0]
        raise InputError([Problem(self.path, "schema", f"this is {what} ({schema}), not {wanted}",
                                  "check it with: " + command.format(path=self.path))]) from None


def _path(source: Any, name: str) -> str:
    """A file argument as a string path; InputError for anything else."""
    if isinstance(source, (str, Path)):
        return str(source)
    raise InputError([Problem(ARGUMENTS, name, f"expected a path (str or pathlib.Path), got {type(source).__name__}",
                              "give the path of the file")])


def _profile(profile: str | Profile | None, fallback: Profile | None, table: Table) -> Profile:
    from pumpsim.io.library import load_profile
    from pumpsim.model.table import Profile

    if isinstance(profile, Profile):
        return profile
    if profile is not None:
        return load_profile(str(profile), context_field="profile")
    return fallback if fallback is not None else load_profile(table.profile_name, context_file=table.path)


def _resolve(source: LoadedTable | Table | str | Path, profile: str | Profile | None) -> tuple[Table, Profile]:
    """The table and profile of any table argument: what :func:`load_table` returned, a bare
    table (judged against its own ``profile`` key), or a path (read here)."""
    from pumpsim.model.table import Table

    if isinstance(source, LoadedTable):
        return source.table, _profile(profile, source.profile, source.table)
    if isinstance(source, Table):
        return source, _profile(profile, None, source)
    if isinstance(source, (str, Path)):
        loaded = load_table(source, profile if isinstance(profile, str) else None)
        return loaded.table, _profile(profile if not isinstance(profile, str) else None, loaded.profile, loaded.table)
    raise InputError([Problem(ARGUMENTS, "table", f"expected what load_table returned or a path, got "
                              f"{type(source).__name__}", "call pumpsim.load_table(path) first")])


def _whole(name: str, value: Any, low: int, hint: str) -> None:
    """InputError unless ``value`` is None or a whole number >= ``low`` (the command line's own check)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError([Problem(ARGUMENTS, name, f"{value!r} is not a whole number", hint)])
    if value < low:
        raise InputError([Problem(ARGUMENTS, name, f"{value!r}: {hint}", "")])


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError([Problem(ARGUMENTS, name, f"{value!r} is not one of {', '.join(map(repr, choices))}",
                                  nearest(str(value), choices))])


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


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

    def to_json(self) -> str:
        """The JSON report of ``pumpsim validate --format json``, as the command prints it."""
        return _dumps(self.as_json())

    def text(self) -> str:
        """The text report of ``pumpsim validate``: verdict first, in plain words."""
        from pumpsim.rules.report import render_text

        return render_text(self.report)

    def figures(self) -> dict[str, Any]:
        """The figures of ``pumpsim plot``, by name (:func:`pumpsim.render.figures.figures`):
        :class:`matplotlib.figure.Figure` objects (volumes [mL], doses [dose unit/24 h])."""
        from pumpsim.render.figures import figures

        return figures(self)


def validate(table: LoadedTable | Table | str | Path, profile: str | Profile | None = None) -> ValidateResult:
    """Every check of ``pumpsim validate``: the static rules, the nominal, worst and programmed
    simulations (each computed once), the rules that judge them and the independent cross-check.

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        What :func:`load_table` returned (the table with its profile), a bare table (judged
        against its own ``profile`` key), or a table file's path or TOML text (read here).
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

    t, prof = _resolve(table, profile)
    return ValidateResult(_validate(t, prof))


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
    def exact(self) -> bool:
        """True when the table has no ``[variability]``: every run is the nominal one, so one
        run is exact and the Monte-Carlo runs add nothing."""
        return self.validation.table.variability is None

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
    def verdict(self) -> str:
        """The verdict of the checks (``"pass"``, ``"warn"``, ``"fail"``)."""
        return self.validation.verdict

    @property
    def exit_status(self) -> int:
        """The command's exit status: 1 with a hard violation, else 0."""
        return self.validation.exit_status

    def as_json(self) -> dict[str, Any]:
        """The JSON report of ``pumpsim simulate --format json``, as a dict."""
        return self.validation.as_json()

    def to_json(self) -> str:
        """The JSON report of ``pumpsim simulate --format json``, as the command prints it."""
        return _dumps(self.as_json())

    def text(self) -> str:
        """The text report of ``pumpsim simulate``."""
        return self.validation.text()

    def figures(self) -> dict[str, Any]:
        """The figures of ``pumpsim simulate --plot``, by name, with the runs' distributions."""
        from pumpsim.render.figures import figures

        return figures(self.validation, self.montecarlo)


ENGINES = ("numba", "reference")


def simulate(table: LoadedTable | Table | ValidateResult | str | Path, profile: str | Profile | None = None,
             runs: int | None = None, seed: int | None = None, workers: int | None = None, *, progress=None,
             dask: str | None = None, engine: str = "numba") -> SimulateResult:
    """Monte-Carlo runs over the table's ``[variability]``, with every check of :func:`validate`.

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, ValidateResult, str or pathlib.Path
        A table as :func:`validate` takes it (without ``[variability]``, every run is the
        nominal one: see :attr:`SimulateResult.exact`), or what :func:`validate` returned for
        it: then its cases are reused, not simulated again, and the risks are added to its report.
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate` (ignored with a ValidateResult).
    runs : int, optional
        Number of runs [-], at least 1 (default: the table's ``variability.runs``, else 10000).
    seed : int, optional
        Seed of the random streams [-], 0 or more (default: the table's, else 0); the same seed
        gives the same result with any number of workers.
    workers : int, optional
        Threads [-], at least 1 (default: all cores).
    progress : callable, optional
        ``progress(done, total)`` [runs], called after each chunk.
    dask : str, optional
        ``"local"`` or a Dask scheduler address (``tcp://host:8786``): run the chunks on a cluster.
    engine : str
        ``"numba"`` (default) or ``"reference"`` (plain Python, same numbers, much slower).

    Returns
    -------
    SimulateResult
        The validation and the Monte-Carlo result: proportions [fraction of runs] with 95 %
        Wilson intervals [1]_, residual volumes before each refill [mL], time to empty [s],
        24 h maxima [dose unit].

    Raises
    ------
    pumpsim.model.errors.InputError
        A bad table or a bad argument (``runs=0``, ``workers=0``, ``engine="foo"``, a malformed
        ``dask`` address), with the command line's message.
    EnvironmentFailure
        Dask is not installed, or its scheduler cannot be reached.

    References
    ----------
    .. [1] E. B. Wilson, "Probable inference, the law of succession, and statistical
       inference", Journal of the American Statistical Association 22 (158), 209-212, 1927.
    """
    _whole("runs", runs, 1, "give a number of at least 1")
    _whole("seed", seed, 0, "give a seed between 0 and 2**63 - 1")
    _whole("workers", workers, 1, "give a number of at least 1")
    _choice("engine", engine, ENGINES)
    if dask is not None:
        _check_dask(dask)
    from pumpsim.render import montecarlo as montecarlo_words
    from pumpsim.sim import montecarlo

    v = table if isinstance(table, ValidateResult) else validate(table, profile)
    worst = {d: s.max_24h_worst for d, s in v.doses.items()}
    try:
        mc = montecarlo.run(v.table, v.profile, runs=runs, seed=seed, workers=workers, progress=progress,
                            worst_max=worst, dask=dask, engine=engine)
    except OSError as e:
        if dask is None:
            raise
        raise EnvironmentFailure(f"--dask {dask}: the cluster failed ({e}) (fix: check the scheduler and its "
                                 "workers, or run without --dask)") from None
    v.report.risk = mc.risk_json(v.table)
    v.report.risk_text = montecarlo_words.describe(mc, v.table)
    return SimulateResult(v, mc)


_simulate = simulate  # for report(), whose ``simulate`` argument hides the function


class EnvironmentFailure(Exception):
    """The environment, not the input, stops a computation (an optional package missing, a
    cluster unreachable): the command line prints the message and exits 3."""


DASK_CONNECT_TIMEOUT = 5.0  # [s] to reach a scheduler before the runs start


def dask_installed() -> bool:
    """Whether Dask can run the Monte-Carlo chunks (``simulate(..., dask=...)``).

    Returns
    -------
    bool
        True when ``dask.distributed`` can be imported (the ``pumpsim[dask]`` extra).
    """
    import importlib.util

    try:
        return importlib.util.find_spec("dask.distributed") is not None
    except ImportError:  # dask itself is missing
        return False


def _check_dask(address: str) -> None:
    """Before any run: InputError unless ``address`` is ``local`` or a scheduler address
    (``tcp://host:port``, ``host:port``); EnvironmentFailure if Dask is not installed or the
    scheduler does not answer within :data:`DASK_CONNECT_TIMEOUT` seconds."""
    import re
    import socket

    m = re.fullmatch(r"(?:(?:tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[\w.\-]+):(\d{1,5})", address)
    if address != "local" and m is None:
        raise InputError([Problem(ARGUMENTS, "dask", f"{address!r} is neither 'local' nor a scheduler address",
                                  "give --dask local, or the scheduler's address such as tcp://host:8786")])
    if not dask_installed():
        raise EnvironmentFailure("--dask needs Dask, which is not installed (fix: pip install 'pumpsim[dask]', "
                                 "or run without --dask)")
    if m is not None:
        host, port = m.group(1).strip("[]"), int(m.group(2))
        try:
            socket.create_connection((host, port), timeout=DASK_CONNECT_TIMEOUT).close()
        except OSError as e:
            raise EnvironmentFailure(f"--dask {address}: no scheduler answers there ({e.strerror or e}) (fix: start "
                                     "`dask scheduler` there, give its address, or run without --dask)") from None


# --------------------------------------------------------------------------- the shared result base
class _Wrapped:
    """A command's result from another package, with the command's text and JSON: its own
    attributes are reachable directly (``outcome.verdict``, ``outcome.violations``, ...)."""

    result: Any

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "result":
            raise AttributeError(name)
        return getattr(self.result, name)

    @property
    def exit_status(self) -> int:
        """The command's exit status: 1 when the command's verdict is a failure, else 0."""
        return self.result.exit_status

    def as_json(self) -> dict[str, Any]:
        """The command's JSON report (``--format json``), as a dict."""
        return self.result.as_json()

    def to_json(self) -> str:
        """The command's JSON report, as the command prints it."""
        return _dumps(self.as_json())

    def figures(self) -> dict[str, Any]:
        """The command's figures by name (:class:`matplotlib.figure.Figure`); none by default."""
        return {}


# --------------------------------------------------------------------------- plan
@dataclass
class PlanOutcome(_Wrapped):
    """What :func:`plan` found (``pumpsim plan``): the planner's
    :class:`pumpsim.planning.plan_result.PlanResult` (``interval_days`` [day], ``refill_at``,
    ``fill_volume`` [mL], ``concentrations`` [dose unit/mL], ``daily_doses`` [dose unit/day],
    ``binding``, ``planned``: the table with the plan in it), reachable directly.

    Attributes
    ----------
    result : pumpsim.planning.plan_result.PlanResult
        The plan.
    loaded : LoadedTable
        The table planned and its profile.
    calendar : int
        How many further refill dates :meth:`text` and :meth:`as_json` list [-].
    """

    result: PlanResult
    loaded: LoadedTable
    calendar: int = 0

    def as_json(self) -> dict[str, Any]:
        """The JSON of ``pumpsim plan --format json`` (FORMAT.md §5), as a dict."""
        return self.result.as_json(self.calendar)

    def text(self) -> str:
        """The plan in words (``pumpsim plan``)."""
        from pumpsim.planning.plan import describe

        return describe(self.result, self.calendar)

    def table_toml(self, command: str = "pumpsim plan") -> str | None:
        """The planned table file (TOML, the input file with the plan written in; ``plan -o``),
        None without a plan. ``command``: the command line recorded in the file's header."""
        import tomllib

        from pumpsim.planning.plan import planned_toml

        if self.result.planned is None:
            return None
        t = self.loaded.table
        raw = tomllib.loads(Path(t.path).read_text(encoding="utf-8"))
        return planned_toml(raw, t, self.result, t.path, command)


def plan(table: LoadedTable | Table | str | Path, profile: str | Profile | None = None, *,
         p_low_alarm: float | None = None, keep_concentration: bool = False, runs: int | None = None,
         seed: int | None = None, calendar: int = 0) -> PlanOutcome:
    """Plan the refill at the table's last session: the longest safe interval and the mix that
    gives it (``pumpsim plan``, docs/PLAN.md).

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        A table as :func:`validate` takes it, whose last session holds the refill to plan.
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate`.
    p_low_alarm : float, optional
        With ``[variability]``: the largest allowed share of runs reaching the low alarm before
        the next refill [fraction of runs, 0 <= p < 1] (default 0.001).
    keep_concentration : bool
        Keep the concentrations [dose unit/mL] and the rate [mL/day]; choose only the volume
        [mL] and the date.
    runs, seed : int, optional
        Monte-Carlo runs (at least 1) and seed (0 or more) with ``[variability]`` [-].
    calendar : int
        Also list the next ``calendar`` refill dates with their volumes [-] (``--calendar``).

    Returns
    -------
    PlanOutcome
        ``interval_days`` [day] (None when no plan satisfies the hard rules), ``refill_at``
        (date-time), ``fill_volume`` [mL], ``concentrations`` [dose unit/mL], ``daily_doses``
        [dose unit/day], the binding limit and its source; ``text()``, ``as_json()``,
        ``table_toml()`` (the planned table file).

    Raises
    ------
    pumpsim.model.errors.InputError
        When the last session holds no refill, or an argument is out of range.

    References
    ----------
    .. [1] R. P. Brent, "Algorithms for Minimization without Derivatives", Prentice-Hall, 1973,
       chapter 4 (the root finder of the interval search).
    """
    from pumpsim.planning.plan import DEFAULT_P_LOW_ALARM
    from pumpsim.planning.plan import plan as _plan

    if p_low_alarm is not None and (isinstance(p_low_alarm, bool) or not isinstance(p_low_alarm, (int, float))
                                    or not 0.0 <= p_low_alarm < 1.0):
        raise InputError([Problem(ARGUMENTS, "p_low_alarm", f"{p_low_alarm!r}: give a probability from 0 up to "
                                  "(not including) 1, e.g. 0.001")])
    _whole("runs", runs, 1, "give a number of at least 1")
    _whole("seed", seed, 0, "give a seed between 0 and 2**63 - 1")
    _whole("calendar", calendar, 0, "give 0 or more")
    t, prof = _resolve(table, profile)
    last = t.sessions[-1]
    if last.refill is None:
        raise InputError([Problem(t.path, f"session[{last.index}].refill", "plan plans the refill of the last "
                                  "session, which holds none", "end the table with the session of the refill to plan")])
    res = _plan(t, prof, p_max=DEFAULT_P_LOW_ALARM if p_low_alarm is None else p_low_alarm,
                keep_concentration=keep_concentration, runs=runs, seed=seed)
    return PlanOutcome(res, LoadedTable(t, prof), calendar)


# --------------------------------------------------------------------------- titrate
@dataclass
class TitrateOutcome(_Wrapped):
    """What :func:`titrate` found (``pumpsim titrate``): the planner's
    :class:`pumpsim.planning.titrate.TitrateResult` (``reached_at``, ``rows`` with their daily
    doses [dose unit/day], rates [mL/day] and refills, ``titrated``: the table with the
    schedule appended), reachable directly.

    Attributes
    ----------
    result : pumpsim.planning.titrate.TitrateResult
        The schedule.
    loaded : LoadedTable
        The table it starts from and its profile.
    """

    result: TitrateResult
    loaded: LoadedTable

    def text(self) -> str:
        """The schedule in words (``pumpsim titrate``)."""
        from pumpsim.planning.titrate import describe

        return describe(self.result)

    def table_toml(self, command: str = "pumpsim titrate") -> str | None:
        """The titrated table file (TOML; ``titrate -o``), None without a schedule."""
        import tomllib

        from pumpsim.planning.titrate import titrated_toml

        if self.result.titrated is None:
            return None
        t = self.loaded.table
        raw = tomllib.loads(Path(t.path).read_text(encoding="utf-8"))
        return titrated_toml(raw, self.result, t.path, command)


def titrate(table: LoadedTable | Table | str | Path, drug: str, target: str, profile: str | Profile | None = None, *,
            pace: str = "fast", clinic_days: str = "Mon,Tue,Wed,Thu,Fri",
            clinic_hours: str = "09:00-17:00") -> TitrateOutcome:
    """The fastest compliant titration schedule of one drug, with its refills (``pumpsim titrate``,
    docs/TITRATE.md).

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        A table as :func:`validate` takes it; the schedule starts after its last session.
    drug : str
        The drug to titrate (the profile gives its titration limits).
    target : str
        The programmed daily dose to reach, with its unit, e.g. ``"9.6 mcg/day"`` [dose unit/day].
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate`.
    pace : str
        ``"fast"`` (the profile's start and steps) or ``"slow"`` (its slow schedule).
    clinic_days : str
        Days sessions can be held, e.g. ``"Mon,Tue,Wed,Thu,Fri"`` (no public holidays).
    clinic_hours : str
        Clinic hours ``"HH:MM-HH:MM"``, both ends included (the table's wall clock).

    Returns
    -------
    TitrateOutcome
        ``reached_at`` (date-time, None when no compliant schedule exists), the rows with
        their daily doses [dose unit/day], rates [mL/day] and refills; ``text()``,
        ``as_json()``, ``table_toml()``.

    Raises
    ------
    pumpsim.model.errors.InputError
        A bad table, drug, target, pace or clinic, each with the fix.
    """
    from pumpsim.planning.titrate import parse_options
    from pumpsim.planning.titrate import titrate as _titrate

    _choice("pace", pace, ("fast", "slow"))
    t, prof = _resolve(table, profile)
    value, clinic = parse_options(t.path, drug, target, clinic_days, clinic_hours)
    return TitrateOutcome(_titrate(t, prof, drug, value, pace=pace, clinic=clinic), LoadedTable(t, prof))


# --------------------------------------------------------------------------- generated tables
@dataclass
class WrittenTable:
    """What :func:`write_table` did with a generated table (``plan -o``, ``titrate -o``).

    Attributes
    ----------
    path : pathlib.Path
        The destination.
    validation : ValidateResult
        ``validate`` of the generated table, as it would be read back from ``path``.
    written : bool
        True when the file was written (only if ``validate`` gives exit 0).
    """

    path: Path
    validation: ValidateResult
    written: bool


def write_table(dest: str | Path, text: str, profile: str | Profile | None = None) -> WrittenTable:
    """Write a generated table only if ``validate`` passes it (exit 0): never a table a command
    promised would pass. The file is replaced atomically.

    Parameters
    ----------
    dest : str or pathlib.Path
        The table file to write.
    text : str
        The table (TOML), e.g. :meth:`PlanOutcome.table_toml`.
    profile : str or pumpsim.model.table.Profile, optional
        The profile to validate it against (None: its own ``profile`` key).

    Returns
    -------
    WrittenTable
        The validation and whether the file was written.
    """
    from pumpsim.io.output import write_atomic
    from pumpsim.io.tables import parse_table_bytes

    path = Path(dest)
    name = profile if isinstance(profile, str) else None
    table, prof = parse_table_bytes(text.encode("utf-8"), str(path), name)
    result = validate(LoadedTable(table, prof), None if isinstance(profile, str) else profile)
    if result.exit_status == 0:
        write_atomic(path, text)
    return WrittenTable(path, result, result.exit_status == 0)


# --------------------------------------------------------------------------- telemetry
@dataclass
class TelemetryOutcome:
    """A simulated telemetry file (``pumpsim telemetry``): the event log of one case, or the
    records a pump would report (``--records``).

    Attributes
    ----------
    csv : str
        The file's text (CSV).
    rows : int
        Number of events or records [-].
    case : str or None
        ``"nominal"`` or ``"worst"`` for an event log; None for records.
    seed : int or None
        The seed of the records' draws [-]; None for an event log.
    faults : list of str
        The faults injected into the records (their specs).
    """

    csv: str
    rows: int
    case: str | None = None
    seed: int | None = None
    faults: list[str] = field(default_factory=list)
    exit_status: int = 0

    def text(self) -> str:
        """The CSV text."""
        return self.csv

    def as_json(self) -> dict[str, Any]:
        """What was simulated (not the rows: :attr:`csv` holds them)."""
        return {"rows": self.rows, "case": self.case, "seed": self.seed, "faults": list(self.faults)}

    def to_json(self) -> str:
        """:meth:`as_json` as text."""
        return _dumps(self.as_json())

    def figures(self) -> dict[str, Any]:
        """None: draw the reconciliation of the records instead (:func:`reconcile`)."""
        return {}


def telemetry_log(table: LoadedTable | Table | str | Path, case: str = "worst",
                  profile: str | Profile | None = None) -> TelemetryOutcome:
    """The telemetry event log of one simulated case (``pumpsim telemetry``; docs/TELEMETRY.md).

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        A table as :func:`validate` takes it.
    case : str
        ``"nominal"`` (exact pump, no bolus) or ``"worst"`` (fast pump by its accuracy,
        every bolus allowed; default).
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate`.

    Returns
    -------
    TelemetryOutcome
        The CSV (instants, volumes [mL], rates [mL/day]) and its number of events.
    """
    from pumpsim.model.results import Scenario
    from pumpsim.sim import simulation
    from pumpsim.telemetry.eventlog import to_csv

    _choice("case", case, ("nominal", "worst"))
    t, _ = _resolve(table, profile)
    scenario = Scenario.worst(float(t.device.accuracy.value)) if case == "worst" else Scenario.nominal()
    result = simulation.simulate(t, scenario)
    return TelemetryOutcome(to_csv(t, result), len(result.event_t), case=case)


def telemetry_records(table: LoadedTable | Table | str | Path, faults: list[str] | tuple[str, ...] = (),
                      seed: int = 0, profile: str | Profile | None = None) -> TelemetryOutcome:
    """The records a pump would report (``pumpsim telemetry --records``: refill, interrogation and
    alarm rows, the CSV :func:`reconcile` reads), with faults injected.

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        A table as :func:`validate` takes it.
    faults : list of str
        Fault specs, e.g. ``"stall@2027-01-10T14:00/36h"`` (docs/TELEMETRY.md).
    seed : int
        Seed of the one run's draws [-], 0 or more.
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate`.

    Returns
    -------
    TelemetryOutcome
        The records CSV (volumes and estimates [mL]) and its number of rows.
    """
    from pumpsim.io.records import write_records
    from pumpsim.telemetry.synthetic import parse_faults, records

    _whole("seed", seed, 0, "give a seed between 0 and 2**63 - 1")
    t, _ = _resolve(table, profile)
    specs = [faults] if isinstance(faults, str) else list(faults)
    rows = records(t, parse_faults(specs, t), seed)
    return TelemetryOutcome(write_records(rows), len(rows), seed=seed, faults=specs)


# --------------------------------------------------------------------------- reconcile
@dataclass
class ReconcileOutcome(_Wrapped):
    """What :func:`reconcile` found (``pumpsim reconcile``): the
    :class:`pumpsim.telemetry.reconcile.Reconciliation` (``verdict``, ``violations``, ``intervals``
    with delivered volumes [mL] and ratios [-], ``drift``), reachable directly.

    Attributes
    ----------
    result : pumpsim.telemetry.reconcile.Reconciliation
        The reconciliation.
    """

    result: Reconciliation

    @property
    def verdict(self) -> str:
        """``"pass"``, ``"warn"``, ``"fail"`` or ``"not_checked"``."""
        return self.result.verdict

    def text(self) -> str:
        """The text report of ``pumpsim reconcile``."""
        from pumpsim.telemetry.reconcile import render_text

        return render_text(self.result)

    def figures(self) -> dict[str, Any]:
        """``{"reconcile": Figure}``: ratios per refill interval [-] and the drift statistic [sd]."""
        from pumpsim.render.telemetry_figure import figure

        return {"reconcile": figure(self.result)}


def reconcile(table: LoadedTable | Table | str | Path, records: str | Path, profile: str | Profile | None = None) -> ReconcileOutcome:
    """Compare a pump's telemetry records with its table: delivery per refill, displayed
    estimates, bolus counts (``pumpsim reconcile``, rules TEL-*).

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        The table that was meant to run on the pump, as :func:`validate` takes it.
    records : str or pathlib.Path
        The records CSV (``time,event,volume_mL,estimate_mL,boluses,note``; docs/TELEMETRY.md).
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate`.

    Returns
    -------
    ReconcileOutcome
        Delivered volumes observed and expected [mL], their ratios [-], the drift statistic
        [sd], the TEL-* findings; ``text()``, ``as_json()``, ``figures()``.
    """
    from pumpsim.io.records import read_records
    from pumpsim.telemetry.reconcile import reconcile as _reconcile

    path = _path(records, "records")
    if isinstance(table, (str, Path)) and str(table).lower().endswith(".csv") and path.lower().endswith(".toml"):
        raise InputError([Problem(str(table), "table", f"this looks like the records, and {path} like the table: "
                                  "the arguments are swapped", "give the table first: pumpsim reconcile TABLE.toml "
                                  "RECORDS.csv")])
    t, _ = _resolve(table, profile)
    return ReconcileOutcome(_reconcile(t, read_records(path), path))


# --------------------------------------------------------------------------- pathway
@dataclass
class PathwayOutcome(_Wrapped):
    """What :func:`check_pathway` found (``pumpsim pathway``): the
    :class:`pumpsim.pathway.rules.PathwayReport` (``verdict``, ``violations``, ``not_checked``,
    the timeline ``steps``), reachable directly.

    Attributes
    ----------
    result : pumpsim.pathway.rules.PathwayReport
        The care pathway's report.
    """

    result: PathwayReport

    @property
    def verdict(self) -> str:
        """``"pass"``, ``"warn"``, ``"fail"`` or ``"not_checked"``."""
        return self.result.verdict

    def text(self) -> str:
        """The text report of ``pumpsim pathway``."""
        from pumpsim.pathway.report import render_text

        return render_text(self.result)

    def figures(self) -> dict[str, Any]:
        """``{"pathway": Figure}``: the pathway's dates and delays [calendar days]; empty without dates."""
        from pumpsim.render.pathway_figure import draw_timeline

        r = self.result
        if not r.steps:
            return {}
        fig = draw_timeline(r.steps, f"Care pathway of {Path(r.patient.path).name} ({r.verdict.upper()})")
        return {} if fig is None else {"pathway": fig}


def check_pathway(patient: str | Path, table: LoadedTable | Table | str | Path | None = None,
            profile: str | None = None, *, programmed=None, worst=None) -> PathwayOutcome:
    """Check a patient's file against the care pathway (``pumpsim pathway``; docs/PATHWAY.md).

    Parameters
    ----------
    patient : str or pathlib.Path
        The patient file (TOML, schema ``pumpsim.patient/1``).
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path, optional
        A programming table: its device, first dose and low-alarm date are checked too.
    profile : str, optional
        A shipped profile name or a profile file, overriding the patient file's.
    programmed : pumpsim.model.results.SimResult, optional
        The table's programmed case when already simulated (:attr:`ValidateResult.programmed`).
    worst : pumpsim.model.results.SimResult, optional
        The table's worst case when already simulated (:attr:`ValidateResult.worst`).

    Returns
    -------
    PathwayOutcome
        The PATH-* findings with their delays [calendar days], the checks not made, the
        timeline; ``text()``, ``as_json()``, ``figures()``.

    Raises
    ------
    pumpsim.model.errors.InputError
        Every problem of both files at once.
    """
    from pumpsim.io.patient import read_patient
    from pumpsim.pathway.report import check

    problems: list[Problem] = []
    pat = prof = t = None
    try:
        patient_path = _path(patient, "patient")
        with _other_kind(patient_path, "pumpsim.patient/1"):
            pat, prof = read_patient(patient_path, profile)
    except InputError as e:
        problems += e.problems
    if table is not None:
        try:
            t, _ = _resolve(table, profile)
        except InputError as e:
            problems += e.problems
    if problems:  # every problem of both files at once
        raise InputError(problems)
    return PathwayOutcome(check(pat, prof, t, programmed=programmed, worst=worst))


# --------------------------------------------------------------------------- program
@dataclass
class ProgramOutcome(_Wrapped):
    """What :func:`check_program` found (``pumpsim program``): the
    :class:`pumpsim.programs.report.ProgramReport` (``verdict``, ``violations``, ``notes``),
    reachable directly.

    Attributes
    ----------
    result : pumpsim.programs.report.ProgramReport
        The program's report.
    """

    result: ProgramReport

    @property
    def verdict(self) -> str:
        """``"pass"``, ``"warn"``, ``"fail"`` or ``"not_checked"``."""
        return self.result.verdict

    def text(self) -> str:
        """The text report of ``pumpsim program``."""
        from pumpsim.programs.report import render_text

        return render_text(self.result)


def check_program(source: str | Path, profile: str | None = None) -> ProgramOutcome:
    """Check a ketamine or esketamine program: sessions, co-analgesia, reviews, labs
    (``pumpsim program``; docs/PROGRAMS.md).

    Parameters
    ----------
    source : str or pathlib.Path
        The program file (TOML, schema ``pumpsim.program/1``).
    profile : str, optional
        A shipped profile name or a profile file; its ``[ketamine]`` section overrides the
        program data.

    Returns
    -------
    ProgramOutcome
        The KET-* findings (doses [mg, mg/kg], durations [min, day]) and notes; ``text()``,
        ``as_json()``.
    """
    from pumpsim.io.programs import read_program
    from pumpsim.programs.report import judge

    return ProgramOutcome(judge(read_program(_path(source, "source"), profile)))


# --------------------------------------------------------------------------- report
@dataclass
class ReportOutcome:
    """The shared HTML report (``pumpsim report``) and every part it holds.

    Its verdict and exit status are the worst of its parts' (fail > warn > not_checked > pass,
    :func:`pumpsim.rules.kit.worst`): a reconciliation or a care pathway that fails makes the
    report fail.

    Attributes
    ----------
    html : str
        The self-contained page.
    validation : ValidateResult
        The table's checks (with the Monte-Carlo risks when simulated).
    montecarlo : pumpsim.sim.stats.MonteCarlo or None
        The runs, with ``simulate=True``.
    reconciliation : ReconcileOutcome or None
        The telemetry records against the table, with ``records``.
    pathway : PathwayOutcome or None
        The care pathway, with ``patient``.
    """

    html: str
    validation: ValidateResult
    montecarlo: MonteCarlo | None = None
    reconciliation: ReconcileOutcome | None = None
    pathway: PathwayOutcome | None = None

    @property
    def parts(self) -> list[tuple[str, str]]:
        """(part, verdict) of every part the report holds, the table's checks first."""
        out = [("table", self.validation.verdict)]
        if self.reconciliation is not None:
            out.append(("telemetry records", self.reconciliation.verdict))
        if self.pathway is not None:
            out.append(("care pathway", self.pathway.verdict))
        return out

    @property
    def verdict(self) -> str:
        """The worst verdict of the parts: ``"fail"``, ``"warn"``, ``"not_checked"`` or ``"pass"``."""
        from pumpsim.rules.kit import worst

        return worst(*(v for _, v in self.parts))

    @property
    def private(self) -> bool:
        """The page holds patient data (a care pathway or a pump's telemetry records): a new file
        of it is created readable by its owner only (0600)."""
        return self.pathway is not None or self.reconciliation is not None

    @property
    def exit_status(self) -> int:
        """1 when any part fails, else 0."""
        return 1 if self.verdict == "fail" else 0

    def text(self) -> str:
        """The HTML page (what ``pumpsim report -o`` writes)."""
        return self.html

    def as_json(self) -> dict[str, Any]:
        """The verdict of the report and of each part, with each part's own JSON."""
        out: dict[str, Any] = {"verdict": self.verdict, "parts": [{"part": p, "verdict": v} for p, v in self.parts],
                               "validate": self.validation.as_json()}
        if self.reconciliation is not None:
            out["reconcile"] = self.reconciliation.as_json()
        if self.pathway is not None:
            out["pathway"] = self.pathway.as_json()
        return out

    def to_json(self) -> str:
        """:meth:`as_json` as text."""
        return _dumps(self.as_json())

    def figures(self) -> dict[str, Any]:
        """Every figure of the report's parts, by name (:class:`matplotlib.figure.Figure`)."""
        from pumpsim.render.figures import figures

        out = dict(figures(self.validation, self.montecarlo))
        for part in (self.pathway, self.reconciliation):
            if part is not None:
                out.update(part.figures())
        return out


def report(table: LoadedTable | Table | str | Path, profile: str | Profile | None = None, *,
           patient: str | Path | None = None, records: str | Path | None = None, simulate: bool = False,
           runs: int | None = None, seed: int | None = None, command: str = "pumpsim report",
           made: str | None = None) -> ReportOutcome:
    """The shared HTML report (``pumpsim report``): the table's checks, and with the options the
    Monte-Carlo risks, the care pathway and the telemetry reconciliation, with their figures.

    Parameters
    ----------
    table : LoadedTable, pumpsim.model.table.Table, str or pathlib.Path
        A table as :func:`validate` takes it.
    profile : str or pumpsim.model.table.Profile, optional
        As in :func:`validate` (a name or file also for the patient file).
    patient : str or pathlib.Path, optional
        A patient file: its care pathway, judged with this table (device, dose, low alarm).
    records : str or pathlib.Path, optional
        A pump's telemetry records (CSV), reconciled with this table.
    simulate : bool
        Also run the Monte-Carlo simulation (risks and their figure).
    runs, seed : int, optional
        With ``simulate``: number of runs (at least 1) and seed [-].
    command : str
        The command line printed in the report's footer.
    made : str, optional
        When the report was made, as printed (e.g. ``"2027-01-05 10:00 UTC"``); None: no date.

    Returns
    -------
    ReportOutcome
        The page and its parts; ``verdict`` and ``exit_status`` are the worst of the parts'.
    """
    from pumpsim.render.html import build_figures, pathway_figure, records_figure, render_html

    _whole("runs", runs, 1, "give a number of at least 1")
    _whole("seed", seed, 0, "give a seed between 0 and 2**63 - 1")
    t, prof = _resolve(table, profile)
    loaded = LoadedTable(t, prof)
    rec = reconcile(loaded, records) if records is not None else None
    result = validate(loaded)
    path = None
    if patient is not None:  # the patient's care pathway, judged with this table (its device, dose, low alarm)
        path = check_pathway(patient, loaded, profile if isinstance(profile, str) else None, programmed=result.programmed,
                             worst=result.worst)
    mc = None
    if simulate:  # the risks of the runs, added to the same result (no case simulated again)
        mc = _simulate(result, runs=runs, seed=seed).montecarlo
    out = ReportOutcome("", result, mc, rec, path)
    figures = build_figures(result, mc)
    if path is not None:
        figures += [f for f in (pathway_figure(path.result),) if f is not None]
    if rec is not None:
        figures.append(records_figure(rec.result))
    out.html = render_html(result.report, figures, command, made, parts=out.parts)
    return out
