"""Event-driven simulation of one pump over the horizon (the model of docs/SIMULATION.md).

Arrays in, arrays out, no Python objects and no I/O: :mod:`pumpsim.lower` builds the inputs
from a table and a scenario, :mod:`pumpsim.engine` wraps the outputs. Between two events every
flow is constant, so volumes and doses advance in closed form; there is no time step.

Units: seconds, mL, mL/s, dose unit (per drug column); the records are those of
``kernels/structs.py``. Event codes are those of
:mod:`pumpsim.results` (repeated below as literals because the kernel imports no Python
package; ``tests/test_engine.py`` checks that they agree).

The dead volume is handled with the *push coordinate* W (cumulative true volume pushed out of
the reservoir): the line records the coordinates ``chg_u[k]`` at which the reservoir's mix
changed to ``chg_mix[k]``; the tip receives at coordinate W the fluid that entered at
W - dead_volume, i.e. mix ``chg_mix[j]`` with j the last change k with W >= chg_u[k] + dead_volume (always written in that form).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .structs import BOLUS_GREEDY, BOLUS_REQUESTS, DAY, OK, OVERFLOW, Outcome, grown

EV_SESSION = 0
EV_REFILL = 1
EV_BOLUS_GRANTED = 2
EV_BOLUS_DENIED_LOCKOUT = 3
EV_BOLUS_DENIED_MAX24H = 4
EV_BOLUS_DENIED_EMPTY = 5
EV_LOW_ALARM = 6
EV_EMPTY = 7
EV_STALL = 8
EV_STALL_RECOVERED = 9
EV_END = 10
EV_BOLUS_DENIED_OFF = 11
EV_BOLUS_DENIED_STALL = 12

INF = np.inf
NEG_INF = -np.inf


@njit(cache=True, inline="always")
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


@njit(cache=True, inline="always")
def step_start_time(day, start, clock0):
    """Instant [s since t=0] at which a step starting at clock ``start`` [s] begins on ``day``."""
    return (day * DAY + start) - clock0


@njit(cache=True, inline="always")
def locate_step(t, starts, row, nsteps, clock0):
    """(day, k): the flex step of schedule ``starts[row]`` in force at ``t`` (wall-clock day)."""
    day = np.floor((t + clock0) / DAY)
    if step_start_time(day, starts[row, 0], clock0) > t:
        day -= 1.0
    if step_start_time(day + 1.0, starts[row, 0], clock0) <= t:
        day += 1.0
    k = 0
    while k + 1 < nsteps and step_start_time(day, starts[row, k + 1], clock0) <= t:
        k += 1
    return day, k


@njit(cache=True, inline="always")
def next_step_time(day, k, starts, row, nsteps, clock0):
    """Instant at which the step after step k of ``day`` begins."""
    if k + 1 < nsteps:
        return step_start_time(day, starts[row, k + 1], clock0)
    return step_start_time(day + 1.0, starts[row, 0], clock0)



@njit(cache=True)
def simulate_pump(sess, pump, cond, work):
    """Simulate one pump over [0, horizon).

    Parameters
    ----------
    sess : Sessions
        The lowered table (``kernels/structs.py``), every session, scheduled instants.
    pump : Pump
        Concentrations of the mixes, clock of t = 0, horizon, low alarm, dead volume.
    cond : Conditions
        When each session takes effect (or is skipped), the accuracy factor from each session
        on, the bolus requests (none, greedy or given instants), the outflow modifiers.
    work : Work
        Buffers, filled from row 0: breakpoints (``bp_*``, the state on arrival at every
        instant where a slope changes or a jump happens, and after each jump), the telemetry
        log (``ev_*``), and work space. Between two breakpoints every quantity is linear.

    Returns
    -------
    Outcome
        Named results; ``status`` is OVERFLOW when a buffer was too small (the outputs are then
        incomplete: the caller grows the buffers and runs again).
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

    # Output buffers are the caller's; on overflow the kernel stops and says so. The writes
    # below are spelled out in place on purpose: moving them into helper functions (even
    # inlined) makes Numba count references to the arrays at every event (measured 1.6x slower).
    cap_bp = bp_t.shape[0]
    cap_ev = ev_t.shape[0]
    cap_g = grants.shape[0]
    cap_chg = chg_u.shape[0]
    irr_t = work.irr_t
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
    dose = np.zeros(nd)
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
        if nbp >= cap_bp:
            return fail
        bp_t[nbp] = t
        for d in range(nd):
            bp_dose[nbp, d] = dose[d]
        bp_v[nbp] = v
        bp_vest[nbp] = vest
        nbp += 1
        if t >= horizon:
            break
        jumped = False
        irregular = tip_hit  # the line brought the next mix to the tip at t
        tip_hit = False

        # 1. modifier ends and starts
        while im < n_mod:
            if in_mod:
                if mod_end[im] <= t:
                    if mod_factor[im] == 0.0:
                        if nev >= cap_ev:
                            return fail
                        ev_t[nev] = t
                        ev_code[nev] = EV_STALL_RECOVERED
                        ev_val[nev] = 0.0
                        nev += 1
                    in_mod = False
                    m = 1.0
                    irregular = True
                    im += 1
                else:
                    break
            else:
                if mod_start[im] <= t:
                    in_mod = True
                    m = mod_factor[im]
                    irregular = True
                    if m == 0.0:
                        if nev >= cap_ev:
                            return fail
                        ev_t[nev] = t
                        ev_code[nev] = EV_STALL
                        ev_val[nev] = mod_end[im] - mod_start[im]
                        nev += 1
                else:
                    break

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
            if nev >= cap_ev:
                return fail
            ev_t[nev] = t
            ev_code[nev] = EV_SESSION
            ev_val[nev] = s + 1
            nev += 1
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
                    if nchg >= cap_chg:
                        return fail
                    chg_u[nchg] = w
                    chg_mix[nchg] = res_mix
                    nchg += 1
                    while j + 1 < nchg and w >= chg_u[j + 1] + dead_volume:
                        j += 1
                if nev >= cap_ev:
                    return fail
                ev_t[nev] = t
                ev_code[nev] = EV_REFILL
                ev_val[nev] = s_volume[s]
                nev += 1
            prog = s
            day, k = locate_step(t, s_starts, prog, s_nsteps[prog], clock0)
            rate = s_rates[prog, k]

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
            # the grant rule (SIMULATION.md §4)
            code = EV_BOLUS_GRANTED
            if not bol_on:
                code = EV_BOLUS_DENIED_OFF
            elif v <= 0.0:
                code = EV_BOLUS_DENIED_EMPTY
            elif m == 0.0:
                code = EV_BOLUS_DENIED_STALL
            elif ext_on:
                code = EV_BOLUS_DENIED_LOCKOUT
            elif ng > 0 and not (t >= grants[ng - 1] + s_block[prog]):
                code = EV_BOLUS_DENIED_LOCKOUT
            else:
                count = 0
                g = ng - 1
                while g >= 0 and grants[g] > t - DAY:
                    count += 1
                    g -= 1
                if count >= s_bmax[prog]:
                    code = EV_BOLUS_DENIED_MAX24H
            if code != EV_BOLUS_GRANTED:
                if bolus_mode == BOLUS_GREEDY:
                    break  # greedy only asks when a grant is possible
                if nev >= cap_ev:
                    return fail
                ev_t[nev] = t
                ev_code[nev] = code
                ev_val[nev] = 0.0
                nev += 1
                continue
            bvol = s_bvol[prog]
            if ng >= cap_g:
                return fail
            grants[ng] = t
            ng += 1
            if nev >= cap_ev:
                return fail
            ev_t[nev] = t
            ev_code[nev] = EV_BOLUS_GRANTED
            ev_val[nev] = bvol
            nev += 1
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
            if ext_on:
                ext_on = False
            if empty_armed:
                irregular = True
                empty_armed = False
                if np.isnan(empty_at):
                    empty_at = t
                if nev >= cap_ev:
                    return fail
                ev_t[nev] = t
                ev_code[nev] = EV_EMPTY
                ev_val[nev] = 0.0
                nev += 1
        if has_low:
            if np.isnan(low_at) and v <= low_alarm:
                low_at = t
            if pump_armed and vest <= low_alarm:
                pump_armed = False
                if np.isnan(pump_at):
                    pump_at = t
                if nev >= cap_ev:
                    return fail
                ev_t[nev] = t
                ev_code[nev] = EV_LOW_ALARM
                ev_val[nev] = vest
                nev += 1

        if irregular or t == 0.0:
            if nirr >= cap_irr:
                return fail
            irr_t[nirr] = t
            nirr += 1

        # ---------------------------------------------------------------- the next segment
        prog_rate = rate + (ext_rate if ext_on else 0.0)
        q = factor * m * prog_rate if v > 0.0 else 0.0
        qe = prog_rate if vest > 0.0 else 0.0
        if jumped:
            if nbp >= cap_bp:
                return fail
            bp_t[nbp] = t
            for d in range(nd):
                bp_dose[nbp, d] = dose[d]
            bp_v[nbp] = v
            bp_vest[nbp] = vest
            nbp += 1
        elif nbp > 1 and q == q_prev and qe == qe_prev and chg_mix[j] == mix_prev:
            nbp -= 1  # nothing changed at t: the arrival breakpoint is collinear
        q_prev = q
        qe_prev = qe
        mix_prev = chg_mix[j]

        tn = horizon
        t_sess = s_t[i_sess] if i_sess < n_sess else INF
        if t_sess < tn:
            tn = t_sess
        t_step = next_step_time(day, k, s_starts, prog, s_nsteps[prog], clock0)
        if t_step < tn:
            tn = t_step
        if im < n_mod:
            t_mod = mod_end[im] if in_mod else mod_start[im]
            if t_mod < tn:
                tn = t_mod
        if ext_on and ext_end < tn:
            tn = ext_end
        # the next instant a grant is possible: lockout and rolling count, exact in seconds;
        # never before the next event when bolus is off, the reservoir empty or the pump
        # stalled (all three last until an event)
        tg = INF
        if bol_on and v > 0.0 and m != 0.0:
            tg = NEG_INF
            if ng > 0:
                tg = grants[ng - 1] + s_block[prog]
                nmax = s_bmax[prog]
                if ng >= nmax:
                    tk = grants[ng - nmax] + DAY
                    if tk > tg:
                        tg = tk
            if ext_on and ext_end > tg:
                tg = ext_end
        t_empty = INF
        t_low = INF
        t_tip = INF
        if q > 0.0:
            t_empty = t + v / q
            if has_low and v > low_alarm:
                t_low = t + (v - low_alarm) / q
            if j + 1 < nchg:
                t_tip = t + (chg_u[j + 1] + dead_volume - w) / q
        t_e0 = INF
        t_pl = INF
        if qe > 0.0:
            t_e0 = t + vest / qe
            if has_low and pump_armed and vest > low_alarm:
                t_pl = t + (vest - low_alarm) / qe
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
                r_t = requests[ir]
                if not bol_on:
                    code = EV_BOLUS_DENIED_OFF
                elif v <= 0.0:
                    code = EV_BOLUS_DENIED_EMPTY
                elif m == 0.0:
                    code = EV_BOLUS_DENIED_STALL
                elif ext_on or (ng > 0 and r_t < grants[ng - 1] + s_block[prog]):
                    code = EV_BOLUS_DENIED_LOCKOUT
                else:
                    code = EV_BOLUS_DENIED_MAX24H
                if nev >= cap_ev:
                    return fail
                ev_t[nev] = r_t
                ev_code[nev] = code
                ev_val[nev] = 0.0
                nev += 1
                ir += 1
            if ir < n_req and requests[ir] < tn:
                tn = requests[ir]
        elif bolus_mode == BOLUS_GREEDY and tg > t and tg < tn:
            tn = tg
        if tn < t:
            tn = t

        # ---------------------------------------------------------------- advance to tn
        dt = tn - t
        if q > 0.0:
            w_new = 0.0
            if tn == t_empty:
                dv = v
                w_new = w + dv
                v = 0.0
            elif tn == t_low:
                dv = v - low_alarm
                w_new = w + dv
                v = low_alarm
            elif tn == t_tip:
                w_new = chg_u[j + 1] + dead_volume  # exactly where the next mix reaches the tip
                tip_hit = True
                dv = w_new - w
                v = v - dv if dv < v else 0.0
            else:
                dv = q * dt
                if dv >= v:
                    dv = v
                    v = 0.0
                else:
                    v = v - dv
                w_new = w + dv
            j = push(dose, conc, chg_u, chg_mix, nchg, j, dead_volume, w, w_new)
            w = w_new
        if qe > 0.0:
            if tn == t_e0:
                vest = 0.0
            elif tn == t_pl:
                vest = low_alarm
            else:
                vest -= qe * dt
                if vest < 0.0:
                    vest = 0.0
        t = tn
        if prog >= 0:
            while next_step_time(day, k, s_starts, prog, s_nsteps[prog], clock0) <= t:
                if k + 1 < s_nsteps[prog]:
                    k += 1
                else:
                    k = 0
                    day += 1.0
            rate = s_rates[prog, k]

    if nev >= cap_ev:
        return fail
    ev_t[nev] = horizon
    ev_code[nev] = EV_END
    ev_val[nev] = 0.0
    nev += 1
    if nirr >= cap_irr:
        return fail
    irr_t[nirr] = horizon
    nirr += 1
    return Outcome(OK, nbp, nev, nirr, low_at, empty_at, pump_at, filled, aspirated, w, v)


@njit(cache=True)
def simulate_sized(sess, pump, cond, work):
    """:func:`simulate_pump`, growing ``work`` until everything fits: (outcome, work used)."""
    while True:
        out = simulate_pump(sess, pump, cond, work)
        if out.status == OK:
            return out, work
        work = grown(work)
