"""Lowering: a :class:`~pumpsim.model.table.Table` (and a :class:`~pumpsim.model.results.Scenario`) to the
named records the Numba kernels take (``kernels/structs.py``): :data:`Sessions` and
:data:`Pump` once per table, :data:`Conditions` per run. The one lowered representation of a
table, used by :mod:`pumpsim.sim.engine`, :mod:`pumpsim.sim.montecarlo` and :mod:`pumpsim.planning.plan`.

Units: the model's seconds stay seconds (float64 holding whole numbers where the table typed
whole seconds); flow rates go from mL/day to mL/s here, and only here; the kernels' length of a
day (``Pump.day``) is :data:`pumpsim.model.timebase.DAY`, set here.

Adding a session field: add it to ``Sessions`` in ``kernels/structs.py``, fill it in
:func:`lower_table`, read it in ``kernels/pump.py`` (and in :mod:`pumpsim.sim.reference`).
"""
from __future__ import annotations

import numpy as np

from pumpsim.kernels.draws import cap_delays
from pumpsim.kernels.structs import BOLUS_GREEDY, BOLUS_NONE, BOLUS_REQUESTS, Conditions, Pump, Sessions
from pumpsim.model.results import Scenario
from pumpsim.model.table import Table
from pumpsim.model.timebase import DAY

BOLUS_MODES = {"none": BOLUS_NONE, "greedy": BOLUS_GREEDY, "requests": BOLUS_REQUESTS}


def mixes(table: Table) -> tuple[list[tuple], np.ndarray]:
    """The distinct mixes of the table (as written) and their concentration matrix.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table: session instants [s since its first session], refill volumes [mL] and mixes
        [dose unit/mL], flex steps (start [s after midnight], rate [mL/day]), bolus policies
        (volume [mL], lockout [s], duration [s]), the device (low alarm, dead volume [mL]).

    Returns
    -------
    mixes : list of tuple
        The distinct mixes in order of first refill, each as the table writes it: pairs (drug,
        concentration [dose unit/mL]).
    conc : numpy.ndarray, shape (n_mixes, n_drugs)
        Concentration of each drug (columns in ``table.drugs()`` order) in each mix
        [dose unit/mL, mg/mL or mcg/mL]; 0 for a drug the mix lacks.
    """
    drugs = table.drugs()
    seen: list[tuple] = []
    for s in table.sessions:
        if s.refill is not None and s.refill.mix not in seen:
            seen.append(s.refill.mix)
    conc = np.zeros((len(seen), len(drugs)))
    for i, mix in enumerate(seen):
        for d, c in mix:
            conc[i, drugs.index(d)] = c
    return seen, conc


def lower_table(table: Table) -> tuple[Sessions, Pump]:
    """The table's sessions (every one, in time order) and its pump, as kernel records.

    Flow rates go from mL/day to mL/s here; instants stay seconds.

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table: session instants [s since its first session], refill volumes [mL] and mixes
        [dose unit/mL], flex steps (start [s after midnight], rate [mL/day]), bolus policies
        (volume [mL], lockout [s], duration [s]), the device (low alarm, dead volume [mL]).

    Returns
    -------
    Sessions
        One row per session (``kernels/structs.py``): scheduled instant ``t`` [s], refill flag,
        fill ``volume`` [mL], ``mix`` (row of ``Pump.conc``), flex steps (``starts`` [s after
        midnight], ``rates`` [mL/s]), bolus policy (``bvol`` [mL], ``block`` lockout [s],
        ``bmax`` grants per 24 h [count], ``bdur`` duration [s]).
    Pump
        ``conc`` [dose unit/mL] (mixes x drugs), ``clock0`` (wall-clock time of t = 0 [s after
        midnight]), ``horizon`` [s], ``low_alarm`` [mL] (NaN: none), ``dead_volume`` [mL],
        ``day`` [s].
    """
    n = len(table.sessions)
    kmax = max(len(p.steps) for p in table.programs)
    seen, conc = mixes(table)
    refill = np.zeros(n, np.int64)
    volume = np.zeros(n)
    mix = np.zeros(n, np.int64)
    nsteps = np.zeros(n, np.int64)
    starts = np.zeros((n, kmax))
    rates = np.zeros((n, kmax))
    bolus = np.zeros(n, np.int64)
    bvol = np.zeros(n)
    block = np.zeros(n)
    bmax = np.zeros(n, np.int64)
    bdur = np.zeros(n)
    mix_now = -1
    for i, (sess, prog) in enumerate(zip(table.sessions, table.programs)):
        if sess.refill is not None:
            refill[i] = 1
            volume[i] = sess.refill.volume
            mix_now = seen.index(sess.refill.mix)
        mix[i] = mix_now
        nsteps[i] = len(prog.steps)
        for k, st in enumerate(prog.steps):
            starts[i, k] = st.start
            rates[i, k] = st.rate / DAY  # mL/day -> mL/s
        if prog.bolus is not None:
            b = prog.bolus
            bolus[i] = 1
            bvol[i] = b.volume
            block[i] = b.lockout
            bmax[i] = b.max_per_24h
            bdur[i] = b.duration
    sess = Sessions(np.array([s.t for s in table.sessions], dtype=np.float64), refill, volume, mix, nsteps,
                    starts, rates, bolus, bvol, block, bmax, bdur)
    low = table.device.low_alarm
    pump = Pump(conc, float(table.clock0), float(table.horizon),
                float("nan") if low is None else float(low.value), table.device.dead_volume_mL, float(DAY))
    return sess, pump


def conditions(sess: Sessions, scenario: Scenario) -> Conditions:
    """A scenario's conditions for the kernel (delays capped by the kernels' one rule).

    Parameters
    ----------
    sess : Sessions
        The lowered sessions (:func:`lower_table`): scheduled instants ``t`` [s].
    scenario : pumpsim.model.results.Scenario
        The conditions of the run: accuracy factor(s) [-], bolus mode and request instants [s],
        session delays [s], skipped sessions, modifiers (start [s], end [s], factor [-]).

    Returns
    -------
    Conditions
        ``t_eff`` (instant each session takes effect [s], delays capped), ``skip`` flags,
        ``factor`` (accuracy factor in force from each session on [-]), ``bolus_mode``,
        ``requests`` (request instants [s]), ``mod_start`` and ``mod_end`` [s], ``mod_factor`` [-].
    """
    n = sess.t.shape[0]
    t_eff = np.empty(n)
    delays = np.zeros(n) if scenario.session_delays is None else np.asarray(scenario.session_delays, dtype=np.float64)
    cap_delays(sess.t, delays, t_eff)
    skip = np.zeros(n, np.int64)
    skip[list(scenario.skipped)] = 1
    if scenario.session_factors is not None:
        factor = np.asarray(scenario.session_factors, dtype=np.float64).copy()
    else:
        factor = np.full(n, float(scenario.accuracy_factor))
    mods = np.zeros((0, 3)) if scenario.modifiers is None else np.asarray(scenario.modifiers, dtype=np.float64).reshape(-1, 3)
    requests = (np.ascontiguousarray(scenario.request_times, dtype=np.float64) if scenario.bolus == "requests"
                else np.empty(0))
    return Conditions(t_eff, skip, factor, BOLUS_MODES[scenario.bolus], requests,
                      np.ascontiguousarray(mods[:, 0]), np.ascontiguousarray(mods[:, 1]), np.ascontiguousarray(mods[:, 2]))


def lower(table: Table, scenario: Scenario) -> tuple[Sessions, Pump, Conditions]:
    """A table and a scenario lowered to the kernel's records (:func:`lower_table`, :func:`conditions`).

    Parameters
    ----------
    table : pumpsim.model.table.Table
        The table: session instants [s since its first session], refill volumes [mL] and mixes
        [dose unit/mL], flex steps (start [s after midnight], rate [mL/day]), bolus policies
        (volume [mL], lockout [s], duration [s]), the device (low alarm, dead volume [mL]).
    scenario : pumpsim.model.results.Scenario
        The conditions of the run (accuracy factor [-], request instants [s], delays [s],
        modifiers [s, s, -]).

    Returns
    -------
    Sessions
        One row per session (``kernels/structs.py``): scheduled instant ``t`` [s], refill flag,
        fill ``volume`` [mL], ``mix`` (row of ``Pump.conc``), flex steps (``starts`` [s after
        midnight], ``rates`` [mL/s]), bolus policy (``bvol`` [mL], ``block`` lockout [s],
        ``bmax`` grants per 24 h [count], ``bdur`` duration [s]).
    Pump
        ``conc`` [dose unit/mL] (mixes x drugs), ``clock0`` (wall-clock time of t = 0 [s after
        midnight]), ``horizon`` [s], ``low_alarm`` [mL] (NaN: none), ``dead_volume`` [mL],
        ``day`` [s].
    Conditions
        ``t_eff`` (instant each session takes effect [s], delays capped), ``skip`` flags,
        ``factor`` (accuracy factor in force from each session on [-]), ``bolus_mode``,
        ``requests`` (request instants [s]), ``mod_start`` and ``mod_end`` [s], ``mod_factor`` [-].
    """
    sess, pump = lower_table(table)
    return sess, pump, conditions(sess, scenario)
