"""Event-driven simulation of one pump over the horizon (the model of docs/SIMULATION.md).

Arrays in, arrays out, no Python objects and no I/O: :mod:`pumpsim.lower` builds the inputs
from a table and a scenario, :mod:`pumpsim.engine` wraps the outputs. Between two events every
flow is constant, so volumes and doses advance in closed form; there is no time step.

Units: seconds, mL, mL/s, dose unit (per drug column); the records are those of
``kernels/structs.py``; the event codes those of ``kernels/events.py`` (their one owner); the
length of a day is ``Pump.day`` [s].

:func:`simulate_pump` is the event loop; each thing that happens at an instant, the choice of
the next instant and the advance to it are small helpers inlined into it (``inline="always"``:
Numba inlines them before typing, so the loop keeps every array in a local and counts no
references per event).

The dead volume is handled with the *push coordinate* W (cumulative true volume pushed out of
the reservoir): the line records the coordinates ``chg_u[k]`` at which the reservoir's mix
changed to ``chg_mix[k]``; the tip receives at coordinate W the fluid that entered at
W - dead_volume, i.e. mix ``chg_mix[j]`` with j the last change k with W >= chg_u[k] + dead_volume (always written in that form).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from . import cache  # noqa: F401  (keys the compiled cache to the sources; before any kernel)
from .events import (
    EV_BOLUS_DENIED_EMPTY,
    EV_BOLUS_DENIED_LOCKOUT,
    EV_BOLUS_DENIED_MAX24H,
    EV_BOLUS_DENIED_OFF,
    EV_BOLUS_DENIED_STALL,
    EV_BOLUS_GRANTED,
    EV_EMPTY,
    EV_END,
    EV_LOW_ALARM,
    EV_REFILL,
    EV_SESSION,
    EV_STALL,
    EV_STALL_RECOVERED,
)
from .structs import BOLUS_GREEDY, BOLUS_REQUESTS, OK, OVERFLOW, Outcome, grown

INF = np.inf
NEG_INF = -np.inf


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def push(dose, conc, chg_u, chg_mix, nchg, j, dead_volume, w0, w1):
    """Add to ``dose`` what leaves the tip while the push coordinate goes from w0 to w1.

    The tip receives mix ``chg_mix[j]`` until W reaches ``chg_u[j + 1] + dead_volume``.
    Returns the line index j in force at w1.
    """
    pos = w0
    while pos < w1:
        nxt = chg_u[j + 1] + dead_volume if j + 1 < nchg else INF
        seg_end = nxt if nxt < w1 else w1
        c = chg_mix[j]
        for d in range(dose.shape[0]):
            dose[d] += conc[c, d] * (seg_end - pos)
        pos = seg_end
        if seg_end == nxt:
            j += 1
    while j + 1 < nchg and w1 >= chg_u[j + 1] + dead_volume:
        j += 1
    return j


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def step_start_time(day, start, clock0, day_len):
    """Instant [s since t=0] at which a step starting at clock ``start`` [s] begins on ``day``."""
    return (day * day_len + start) - clock0


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def locate_step(t, starts, row, nsteps, clock0, day_len):
    """(day, k): the flex step of schedule ``starts[row]`` in force at ``t`` (wall-clock day)."""
    day = np.floor((t + clock0) / day_len)
    if step_start_time(day, starts[row, 0], clock0, day_len) > t:
        day -= 1.0
    if step_start_time(day + 1.0, starts[row, 0], clock0, day_len) <= t:
        day += 1.0
    k = 0
    while k + 1 < nsteps and step_start_time(day, starts[row, k + 1], clock0, day_len) <= t:
        k += 1
    return day, k


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def next_step_time(day, k, starts, row, nsteps, clock0, day_len):
    """Instant at which the step after step k of ``day`` begins."""
    if k + 1 < nsteps:
        return step_start_time(day, starts[row, k + 1], clock0, day_len)
    return step_start_time(day + 1.0, starts[row, 0], clock0, day_len)



# The writers below have no branch on purpose: a full buffer has its last row overwritten and
# the count returned passes the capacity, which the caller checks (the run is then redone with
# larger buffers). Straight-line code lets Numba drop the reference counts of the arrays it
# inlines (a branch inside an inlined helper costs an atomic count per call).

@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def write_state(bp_t, bp_dose, bp_v, bp_vest, nbp, t, dose, v, vest):
    """Breakpoint row ``nbp``: the state at t. Returns the count of rows written, more than the
    capacity if the buffers were full."""
    i = min(nbp, bp_t.shape[0] - 1)
    bp_t[i] = t
    for d in range(dose.shape[0]):
        bp_dose[i, d] = dose[d]
    bp_v[i] = v
    bp_vest[i] = vest
    return nbp + 1


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def log_event(ev_t, ev_code, ev_val, nev, t, code, value):
    """Telemetry row ``nev``: (t, code, value). Returns the count of rows written, more than the
    capacity if the log was full."""
    i = min(nev, ev_t.shape[0] - 1)
    ev_t[i] = t
    ev_code[i] = code
    ev_val[i] = value
    return nev + 1


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def modifiers_at(t, im, in_mod, m, mod_start, mod_end, mod_factor, ev_t, ev_code, ev_val, nev):
    """The outflow modifiers that end and start at t (a stall and its recovery are logged).

    Returns (im, in_mod, m, changed, nev): the next modifier row, whether one is in force,
    the delivery factor [-], whether the flow changed at t, the count of log rows.
    """
    changed = False
    while im < mod_start.shape[0]:
        if in_mod:
            if mod_end[im] > t:
                break
            if mod_factor[im] == 0.0:
                nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_STALL_RECOVERED, 0.0)
            in_mod = False
            m = 1.0
            changed = True
            im += 1
        else:
            if mod_start[im] > t:
                break
            in_mod = True
            m = mod_factor[im]
            changed = True
            if m == 0.0:
                nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_STALL, mod_end[im] - mod_start[im])
    return im, in_mod, m, changed, nev


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def new_mix(chg_u, chg_mix, nchg, j, w, mix, dead_volume):
    """A refill changed the reservoir's mix at push coordinate w [mL]: one more row of the line.
    Returns (nchg, j), nchg -1 if the buffer is full."""
    if nchg >= chg_u.shape[0]:
        return -1, j
    chg_u[nchg] = w
    chg_mix[nchg] = mix
    nchg += 1
    while j + 1 < nchg and w >= chg_u[j + 1] + dead_volume:
        j += 1
    return nchg, j


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def recent_grants(grants, ng, bmax):
    """(last, kth): the last grant [s] and the ``bmax``-th most recent one [s] (-inf if fewer
    grants; +inf if ``bmax`` is 0, when no grant is ever allowed). The grants are in time
    order, so ``bmax`` grants lie in (t - day, t] exactly when ``kth > t - day``."""
    last = grants[ng - 1] if ng > 0 else NEG_INF
    if bmax <= 0:
        return last, INF
    return last, (grants[ng - bmax] if ng >= bmax else NEG_INF)


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def grant_rule(t, bol_on, v, m, ext_on, last, kth, block, day_len):
    """The grant rule of a request at t (SIMULATION.md §4): EV_BOLUS_GRANTED or why not.
    ``last`` and ``kth`` as :func:`recent_grants` returns them [s]; ``block`` the lockout [s]."""
    if not bol_on:
        return EV_BOLUS_DENIED_OFF
    if v <= 0.0:
        return EV_BOLUS_DENIED_EMPTY
    if m == 0.0:
        return EV_BOLUS_DENIED_STALL
    if ext_on:
        return EV_BOLUS_DENIED_LOCKOUT
    if not (t >= last + block):
        return EV_BOLUS_DENIED_LOCKOUT
    if kth > t - day_len:
        return EV_BOLUS_DENIED_MAX24H
    return EV_BOLUS_GRANTED


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def denial_before(r_t, bol_on, v, m, ext_on, last, block):
    """Why a request at r_t, before the next instant a grant is possible (:func:`next_grant_time`),
    is denied: the reason :func:`grant_rule` gives, the max per 24 h when it is neither off,
    empty, stalled nor lockout (so that the choice agrees with that instant to the last bit)."""
    if not bol_on:
        return EV_BOLUS_DENIED_OFF
    if v <= 0.0:
        return EV_BOLUS_DENIED_EMPTY
    if m == 0.0:
        return EV_BOLUS_DENIED_STALL
    if ext_on or r_t < last + block:
        return EV_BOLUS_DENIED_LOCKOUT
    return EV_BOLUS_DENIED_MAX24H


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def next_grant_time(bol_on, v, m, last, kth, block, ext_on, ext_end, day_len):
    """The next instant a grant is possible [s]: lockout and rolling count, exact in seconds;
    +inf while bolus is off, the reservoir empty or the pump stalled (all last until an event),
    -inf if at once. ``last``, ``kth``: :func:`recent_grants` [s]."""
    if not (bol_on and v > 0.0 and m != 0.0):
        return INF
    tg = last + block
    tk = kth + day_len
    if tk > tg:
        tg = tk
    if ext_on and ext_end > tg:
        tg = ext_end
    return tg


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def crossings(t, q, v, w, qe, vest, has_low, low_alarm, pump_armed, tip_at):
    """The instants the current flows reach a threshold [s] (+inf if never): the true volume
    empty / at the low alarm, the next mix at the tip (push coordinate ``tip_at``), the
    estimate empty / at the low alarm."""
    t_empty = INF
    t_low = INF
    t_tip = INF
    if q > 0.0:
        t_empty = t + v / q
        if has_low and v > low_alarm:
            t_low = t + (v - low_alarm) / q
        if tip_at < INF:
            t_tip = t + (tip_at - w) / q
    t_e0 = INF
    t_pl = INF
    if qe > 0.0:
        t_e0 = t + vest / qe
        if has_low and pump_armed and vest > low_alarm:
            t_pl = t + (vest - low_alarm) / qe
    return t_empty, t_low, t_tip, t_e0, t_pl


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def advance_true(tn, t, q, v, w, t_empty, t_low, t_tip, tip_at, low_alarm):
    """The true volume [mL] and push coordinate [mL] at tn under flow q; a threshold reached at
    tn is set exactly. Returns (v, w_new, tip_hit)."""
    if tn == t_empty:
        return 0.0, w + v, False
    if tn == t_low:
        return low_alarm, w + (v - low_alarm), False
    if tn == t_tip:
        dv = tip_at - w  # exactly where the next mix reaches the tip
        return (v - dv if dv < v else 0.0), tip_at, True
    dv = q * (tn - t)
    if dv >= v:
        return 0.0, w + v, False
    return v - dv, w + dv, False


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def advance_estimate(tn, t, qe, vest, t_e0, t_pl, low_alarm):
    """The pump's estimate [mL] at tn under its nominal flow qe."""
    if tn == t_e0:
        return 0.0
    if tn == t_pl:
        return low_alarm
    vest -= qe * (tn - t)
    if vest < 0.0:
        return 0.0
    return vest


@njit(cache=True, inline="always", error_model="numpy", no_cfunc_wrapper=True)
def step_after(t, day, k, starts, row, nsteps, clock0, day_len):
    """(day, k): the flex step in force at t, from step k of ``day`` forward."""
    while next_step_time(day, k, starts, row, nsteps, clock0, day_len) <= t:
        if k + 1 < nsteps:
            k += 1
        else:
            k = 0
            day += 1.0
    return day, k


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def simulate_pump(sess, pump, cond, work):
    """Simulate one pump over [0, horizon).

    Parameters
    ----------
    sess : Sessions
        The lowered table (``kernels/structs.py``), every session, scheduled instants [s].
    pump : Pump
        Concentrations of the mixes [dose unit/mL], clock of t = 0 [s after midnight], horizon
        [s], low alarm [mL], dead volume [mL], length of a day [s].
    cond : Conditions
        When each session takes effect [s] (or is skipped), the accuracy factor from each
        session on [-], the bolus requests (none, greedy or given instants [s]), the outflow
        modifiers ([s], [s], [-]).
    work : Work
        Buffers, filled from row 0: breakpoints (``bp_*``, the state on arrival at every
        instant where a slope changes or a jump happens, and after each jump: instants [s],
        cumulative doses [dose unit], volumes [mL]), the telemetry log (``ev_*``: [s], code of
        ``kernels/events.py``, value), the irregular instants (``irr_t`` [s]) and work space.
        Between two breakpoints every quantity is linear.

    Returns
    -------
    Outcome
        Named results (instants [s], volumes [mL]); ``status`` is OVERFLOW when a buffer was
        too small (the outputs are then incomplete: the caller grows the buffers and runs again).
    """
    # every array is read into a local once: an array read from a record inside the loop
    # costs a reference count at each event
    s_t = cond.t_eff
    c_skip = cond.skip
    c_factor = cond.factor
    s_refill = sess.refill
    s_volume = sess.volume
    s_mix = sess.mix
    s_nsteps = sess.nsteps
    s_starts = sess.starts
    s_rates = sess.rates
    s_bolus = sess.bolus
    s_bvol = sess.bvol
    s_block = sess.block
    s_bmax = sess.bmax
    s_bdur = sess.bdur
    n_sess = s_t.shape[0]
    conc = pump.conc
    nd = conc.shape[1]
    clock0 = pump.clock0
    horizon = pump.horizon
    low_alarm = pump.low_alarm
    dead_volume = pump.dead_volume
    day_len = pump.day
    has_low = not np.isnan(low_alarm)
    bolus_mode = cond.bolus_mode
    requests = cond.requests
    mod_start = cond.mod_start
    mod_end = cond.mod_end
    mod_factor = cond.mod_factor
    bp_t = work.bp_t
    bp_dose = work.bp_dose
    bp_v = work.bp_v
    bp_vest = work.bp_vest
    ev_t = work.ev_t
    ev_code = work.ev_code
    ev_val = work.ev_val
    grants = work.grants
    chg_u = work.chg_u
    chg_mix = work.chg_mix
    irr_t = work.irr_t

    # Output buffers are the caller's; on overflow the kernel stops and says so (a writer
    # returns a row count past the capacity).
    cap_bp = bp_t.shape[0]
    cap_ev = ev_t.shape[0]
    cap_g = grants.shape[0]
    cap_irr = irr_t.shape[0]
    nbp = 0
    nev = 0
    nirr = 0
    tip_hit = False
    fail = Outcome(OVERFLOW, 0, 0, 0, np.nan, np.nan, np.nan, 0.0, 0.0, 0.0, 0.0)

    # state
    t = 0.0
    v = 0.0
    vest = 0.0
    w = 0.0
    dose = np.empty(nd)  # np.empty and a loop: np.zeros would compile one more function
    for d in range(nd):
        dose[d] = 0.0
    filled = 0.0
    aspirated = 0.0
    low_at = np.nan
    empty_at = np.nan
    pump_at = np.nan
    empty_armed = True
    pump_armed = True
    factor = 1.0

    # line: mix changes in push coordinate
    chg_u[0] = NEG_INF
    chg_mix[0] = s_mix[0]
    nchg = 1
    j = 0
    res_mix = s_mix[0]

    # program in force
    i_sess = 0
    prog = -1
    day = 0.0
    k = 0
    rate = 0.0
    t_step = next_step_time(day, k, s_starts, prog, s_nsteps[prog], clock0, day_len)  # the next step change [s]

    # boluses
    ng = 0
    ext_on = False
    ext_end = 0.0
    ext_rate = 0.0
    ir = 0
    n_req = requests.shape[0]

    # modifiers
    im = 0
    n_mod = mod_start.shape[0]
    in_mod = False
    m = 1.0

    # slopes of the segment that ended at t: a breakpoint where none changes (and nothing
    # jumps) is collinear with its neighbours and is not kept
    q_prev = -1.0
    qe_prev = -1.0
    mix_prev = -1

    while True:
        # ---------------------------------------------------------------- instant events at t
        # breakpoint: the state on arrival at t
        nbp = write_state(bp_t, bp_dose, bp_v, bp_vest, nbp, t, dose, v, vest)
        if nbp > cap_bp:
            return fail
        if t >= horizon:
            break
        jumped = False
        irregular = tip_hit  # the line brought the next mix to the tip at t
        tip_hit = False

        # 1. modifier ends and starts
        if im < n_mod:
            im, in_mod, m, changed, nev = modifiers_at(t, im, in_mod, m, mod_start, mod_end, mod_factor,
                                                      ev_t, ev_code, ev_val, nev)
            if nev > cap_ev:
                return fail
            irregular = irregular or changed

        # 2. end of an extended bolus
        if ext_on and ext_end <= t:
            ext_on = False
            irregular = True

        # 3. sessions
        while i_sess < n_sess and s_t[i_sess] <= t:
            s = i_sess
            i_sess += 1
            if c_skip[s] == 1:
                continue
            nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_SESSION, s + 1)
            if nev > cap_ev:
                return fail
            factor = c_factor[s]
            irregular = True
            if s_refill[s] == 1:
                aspirated += v
                filled += s_volume[s]
                v = s_volume[s]
                vest = s_volume[s]
                jumped = True
                empty_armed = True
                pump_armed = True
                if s_mix[s] != res_mix:
                    res_mix = s_mix[s]
                    nchg, j = new_mix(chg_u, chg_mix, nchg, j, w, res_mix, dead_volume)
                    if nchg < 0:
                        return fail
                nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_REFILL, s_volume[s])
                if nev > cap_ev:
                    return fail
            prog = s
            day, k = locate_step(t, s_starts, prog, s_nsteps[prog], clock0, day_len)
            rate = s_rates[prog, k]
            t_step = next_step_time(day, k, s_starts, prog, s_nsteps[prog], clock0, day_len)

        # 4. boluses
        bol_on = prog >= 0 and s_bolus[prog] == 1
        while True:
            requested = False
            if bolus_mode == BOLUS_REQUESTS:
                if ir < n_req and requests[ir] <= t:
                    requested = True
                    ir += 1
            elif bolus_mode == BOLUS_GREEDY:
                requested = bol_on
            if not requested:
                break
            last, kth = recent_grants(grants, ng, s_bmax[prog])
            code = grant_rule(t, bol_on, v, m, ext_on, last, kth, s_block[prog], day_len)
            if code != EV_BOLUS_GRANTED:
                if bolus_mode == BOLUS_GREEDY:
                    break  # greedy only asks when a grant is possible
                nev = log_event(ev_t, ev_code, ev_val, nev, t, code, 0.0)
                if nev > cap_ev:
                    return fail
                continue
            bvol = s_bvol[prog]
            if ng >= cap_g:
                return fail
            grants[ng] = t
            ng += 1
            nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_BOLUS_GRANTED, bvol)
            if nev > cap_ev:
                return fail
            if s_bdur[prog] > 0.0:
                ext_on = True
                irregular = True
                ext_end = t + s_bdur[prog]
                ext_rate = bvol / s_bdur[prog]
            else:
                amount = factor * bvol
                if amount >= v:
                    amount = v
                j = push(dose, conc, chg_u, chg_mix, nchg, j, dead_volume, w, w + amount)
                w = w + amount
                v = v - amount if amount < v else 0.0
                vest = vest - bvol if vest > bvol else 0.0
                jumped = True

        # 5. the instants read from the state after everything at t
        if v <= 0.0:
            ext_on = False
            if empty_armed:
                irregular = True
                empty_armed = False
                if np.isnan(empty_at):
                    empty_at = t
                nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_EMPTY, 0.0)
                if nev > cap_ev:
                    return fail
        if has_low:
            if np.isnan(low_at) and v <= low_alarm:
                low_at = t
            if pump_armed and vest <= low_alarm:
                pump_armed = False
                if np.isnan(pump_at):
                    pump_at = t
                nev = log_event(ev_t, ev_code, ev_val, nev, t, EV_LOW_ALARM, vest)
                if nev > cap_ev:
                    return fail

        if irregular or t == 0.0:
            if nirr >= cap_irr:
                return fail
            irr_t[nirr] = t
            nirr += 1

        # ---------------------------------------------------------------- the next segment
        prog_rate = rate + (ext_rate if ext_on else 0.0)
        q = factor * m * prog_rate if v > 0.0 else 0.0
        qe = prog_rate if vest > 0.0 else 0.0
        if jumped:  # the state after the jump
            nbp = write_state(bp_t, bp_dose, bp_v, bp_vest, nbp, t, dose, v, vest)
            if nbp > cap_bp:
                return fail
        elif nbp > 1 and q == q_prev and qe == qe_prev and chg_mix[j] == mix_prev:
            nbp -= 1  # nothing changed at t: the arrival breakpoint is collinear
        q_prev = q
        qe_prev = qe
        mix_prev = chg_mix[j]

        tn = horizon
        t_sess = s_t[i_sess] if i_sess < n_sess else INF
        if t_sess < tn:
            tn = t_sess
        if t_step < tn:
            tn = t_step
        if im < n_mod:
            t_mod = mod_end[im] if in_mod else mod_start[im]
            if t_mod < tn:
                tn = t_mod
        if ext_on and ext_end < tn:
            tn = ext_end
        last, kth = recent_grants(grants, ng, s_bmax[prog])
        tg = next_grant_time(bol_on, v, m, last, kth, s_block[prog], ext_on, ext_end, day_len)
        tip_at = chg_u[j + 1] + dead_volume if j + 1 < nchg else INF
        t_empty, t_low, t_tip, t_e0, t_pl = crossings(t, q, v, w, qe, vest, has_low, low_alarm, pump_armed, tip_at)
        if t_empty < tn:
            tn = t_empty
        if t_low < tn:
            tn = t_low
        if t_tip < tn:
            tn = t_tip
        if t_e0 < tn:
            tn = t_e0
        if t_pl < tn:
            tn = t_pl
        # bolus requests last: a request is the next event only if nothing comes before it
        if bolus_mode == BOLUS_REQUESTS:
            # requests before that instant are denied and change nothing: logged here, in
            # time order, without ending the segment
            while ir < n_req and requests[ir] < tn and requests[ir] < tg:
                code = denial_before(requests[ir], bol_on, v, m, ext_on, last, s_block[prog])
                nev = log_event(ev_t, ev_code, ev_val, nev, requests[ir], code, 0.0)
                if nev > cap_ev:
                    return fail
                ir += 1
            if ir < n_req and requests[ir] < tn:
                tn = requests[ir]
        elif bolus_mode == BOLUS_GREEDY and tg > t and tg < tn:
            tn = tg
        if tn < t:
            tn = t

        # ---------------------------------------------------------------- advance to tn
        if q > 0.0:
            v, w_new, tip_hit = advance_true(tn, t, q, v, w, t_empty, t_low, t_tip, tip_at, low_alarm)
            j = push(dose, conc, chg_u, chg_mix, nchg, j, dead_volume, w, w_new)
            w = w_new
        if qe > 0.0:
            vest = advance_estimate(tn, t, qe, vest, t_e0, t_pl, low_alarm)
        t = tn
        if prog >= 0 and t_step <= t:
            day, k = step_after(t, day, k, s_starts, prog, s_nsteps[prog], clock0, day_len)
            rate = s_rates[prog, k]
            t_step = next_step_time(day, k, s_starts, prog, s_nsteps[prog], clock0, day_len)

    nev = log_event(ev_t, ev_code, ev_val, nev, horizon, EV_END, 0.0)
    if nev > cap_ev or nirr >= cap_irr:
        return fail
    irr_t[nirr] = horizon
    nirr += 1
    return Outcome(OK, nbp, nev, nirr, low_at, empty_at, pump_at, filled, aspirated, w, v)


@njit(cache=True, error_model="numpy", no_cfunc_wrapper=True)
def simulate_sized(sess, pump, cond, work):
    """:func:`simulate_pump`, growing ``work`` until everything fits.

    Parameters
    ----------
    sess, pump, cond, work : Sessions, Pump, Conditions, Work
        As :func:`simulate_pump` takes them (instants [s], volumes [mL], flows [mL/s]).

    Returns
    -------
    outcome : Outcome
        As :func:`simulate_pump` returns it, ``status`` OK.
    work : Work
        The buffers that hold the outputs: ``work`` itself, or larger ones if it was too small.
    """
    while True:
        out = simulate_pump(sess, pump, cond, work)
        if out.status == OK:
            return out, work
        work = grown(work)
