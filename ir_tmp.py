import sys
sys.path.insert(0, "/tmp/kx")
from numba import njit
from pumpsim.tableio import read_table
from pumpsim import montecarlo
from pumpsim.kernels.draws import draw_conditions
from pumpsim.kernels.pump import simulate_sized
from pumpsim.kernels import structs as st
table, profile = read_table("benchmarks/tables/mc-365.toml")
plan = montecarlo.make_plan(table, profile, 1, None)
@njit(cache=True)
def loop_sim(n, seed, sess, pump, var, work):
    s = 0.0
    for r in range(n):
        c = draw_conditions(seed, r, sess, pump, var)
        o, work = simulate_sized(sess, pump, c, work)
        s += o.nbp
    return s
work = st.new_work(st.capacity(plan.sessions, plan.pump, 2000, 0), 2)
loop_sim(int(sys.argv[1]), plan.seed, plan.sessions, plan.pump, plan.variation, work)
