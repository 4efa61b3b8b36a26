"""``pumpsim.sim.simulation`` sends a small simulation to the plain-Python reference (no Numba
start-up) and a large one to the kernel; the two are tested equal elsewhere, so here: the choice
itself, and that a validate of a small table never starts Numba."""
from __future__ import annotations

import subprocess
import sys

from pumpsim.model.results import Scenario
from pumpsim.model.timebase import DAY
from pumpsim.sim import simulation
from tests.conftest import EXAMPLE, parse

LONG_BOLUSES = """
schema = "pumpsim.table/1"
horizon = "365 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2026-12-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "0.05 mL/day"
bolus = { volume = "1 uL", lockout = "10 min", max_per_24h = 144 }
"""


def test_the_estimate_counts_steps_and_allowed_boluses():
    t, _ = parse(LONG_BOLUSES)
    # 365 days x (1 step + 2 breakpoints x min(144, 24 h / 10 min = 144) boluses) + 16 + 8 per session
    assert simulation.estimated_breakpoints(t, Scenario.worst(0.145)) == 16 + 8 + 365 * (1 + 2 * 144)
    # no bolus asked for: one breakpoint a day
    assert simulation.estimated_breakpoints(t, Scenario.nominal()) == 16 + 8 + 365
    assert not simulation.uses_reference(t, Scenario.worst(0.145))  # 105,509 > 10,000: the kernel
    assert simulation.uses_reference(t, Scenario.nominal())


def test_a_small_table_simulates_the_same_either_way():
    from pumpsim.sim import engine, reference

    t, _ = parse(LONG_BOLUSES.replace('"365 day"', '"20 day"'))
    sc = Scenario.worst(0.145)
    assert simulation.uses_reference(t, sc)
    a, b = simulation.simulate(t, sc), engine.simulate(t, sc)
    assert a.empty_at == b.empty_at or abs(a.empty_at - b.empty_at) < 1e-6 * DAY
    assert simulation.max_24h(a, t.horizon) == reference.max_24h(a, t.horizon)


def test_validate_of_the_example_does_not_start_numba():
    code = ("import sys; from pumpsim.io.tables import read_table; from pumpsim.rules.validate import validate; "
            f"t, p = read_table({str(EXAMPLE)!r}); validate(t, p); print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
