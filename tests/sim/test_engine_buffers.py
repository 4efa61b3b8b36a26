"""The kernel's output buffers are the caller's: an overflow is reported and the engine retries."""
from __future__ import annotations

import numpy as np
import pytest

from pumpsim.kernels.pump import simulate_pump
from pumpsim.kernels.structs import OK, new_work
from pumpsim.model.results import Scenario
from pumpsim.sim import engine, reference
from pumpsim.sim.events import EV_BOLUS_GRANTED
from pumpsim.sim.lower import lower
from tests.conftest import parse

MANY = """
schema = "pumpsim.table/1"
horizon = "3 day"
[pump]
model = "synchromed-ii-20"
[[session]]
at = 2026-12-01T00:00:00
refill = { volume = "20 mL", mix = { morphine = "1 mg/mL" } }
rate = "0.5 mL/day"
bolus = { volume = "1 uL", lockout = "1 min", max_per_24h = 1440 }
"""


def test_too_small_buffers_are_reported_not_overrun():
    t, _ = parse(MANY)
    sess, pump, cond = lower(t, Scenario.worst(0.145))
    out = simulate_pump(sess, pump, cond, new_work(16, 1))
    assert out.status != OK


def test_engine_enlarges_buffers_until_everything_fits():
    t, _ = parse(MANY)
    r = engine.simulate(t, Scenario.worst(0.145))
    # a bolus every minute, 1440 a day, for 3 days (far beyond the first buffer guess)
    assert int(np.sum(r.event_code == EV_BOLUS_GRANTED)) == 3 * 1440
    ref = reference.simulate(t, Scenario.worst(0.145))
    assert r.total_delivered()["morphine"] == pytest.approx(ref.total_delivered()["morphine"], rel=1e-9)
