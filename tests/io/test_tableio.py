"""The table reader: a typed model in base units, and every error of a file at once."""
import datetime as dt

import pytest

from pumpsim.io.tables import read_table
from pumpsim.model.errors import InputError
from pumpsim.model.table import BOLUS_OFF
from pumpsim.model.timebase import DAY, HOUR, MINUTE
from tests.conftest import BASE, EXAMPLE, parse

GOOD_SESSION = """
[[session]]
at = 2026-12-01T09:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
rate = "0.5 mL/day"
"""


def problems(text):
    with pytest.raises(InputError) as e:
        parse(text)
    return e.value.problems


def fields(text):
    return [p.field for p in problems(text)]


def test_example_reads_into_base_units():
    table, profile = read_table(EXAMPLE)
    assert profile.name == "fr-ait-2020"
    assert table.horizon == 60 * DAY and type(table.horizon) is int
    s1, s2, s3, s4 = table.sessions
    assert s1.refill.mix_dict == {"morphine": 5.0, "ziconotide": 25.0}  # zic in mcg/mL
    assert s2.t == 2 * DAY + 1 * HOUR and type(s2.t) is int  # 2026-12-03T10:00 after 12-01T09:00
    p3 = table.programs[2]
    assert p3.bolus is None and s3.bolus is BOLUS_OFF
    assert p3.mean_rate == pytest.approx(0.15 * 8 / 24 + 0.25 * 16 / 24, rel=1e-12)
    assert table.programs[3].steps == p3.steps  # inherited across the refill
    assert table.programs[0].daily_dose("ziconotide") == pytest.approx(2.4, rel=1e-12)
    assert table.clock0 == 9 * HOUR


def test_same_table_in_other_units_gives_the_same_model():
    a, _ = parse(BASE + GOOD_SESSION)
    b, _ = parse(BASE + GOOD_SESSION.replace('"5 mg/mL"', '"5000 mcg/mL"').replace('"0.5 mL/day"', '"20.833333333333333 uL/h"'))
    assert a.sessions[0].refill == b.sessions[0].refill
    assert a.programs[0].mean_rate == pytest.approx(b.programs[0].mean_rate, rel=1e-12)


def test_every_error_of_a_file_is_reported_at_once_with_its_field():
    text = BASE.replace("synchromed-ii-20", "synchromed-ii-20") + """
[[session]]
at = 2026-12-01T09:00:00
refill = { volume = "20 mL", mix = { morphin = "5 mg/mL" } }
rate = "0.5 mg/day"

[[session]]
at = 2026-11-30T09:00:00
rat = "0.4 mL/day"
"""
    got = {p.field: p for p in problems(text)}
    assert set(got) == {"session[1].refill.mix.morphin", "session[1].rate", "session[2].at", "session[2].rat"}
    assert "'morphine'" in got["session[1].refill.mix.morphin"].fix
    assert "'rate'" in got["session[2].rat"].fix
    assert all(p.file == "t.toml" for p in got.values())


@pytest.mark.parametrize("snippet,field", [
    ('[[session]]\nat = 2026-12-01T09:00:00\nrate = "1 mL/day"\n', "session[1].refill"),
    ('[[session]]\nat = 2026-12-01T09:00:00\nrefill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }\n', "session[1].rate"),
    ('[[session]]\nat = 2026-12-01\nrefill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }\nrate = "1 mL/day"\n', "session[1].at"),
    ('[[session]]\nat = 2026-12-01T09:00:00+01:00\nrefill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }\nrate = "1 mL/day"\n', "session[1].at"),
    (GOOD_SESSION.replace('rate = "0.5 mL/day"', 'rate = "0.5 mL/day"\nsteps = [ { from = "00:00", rate = "1 mL/day" } ]'), "session[1].steps"),
    (GOOD_SESSION.replace('rate = "0.5 mL/day"', 'steps = [ { from = "01:00", rate = "1 mL/day" } ]'), "session[1].steps[1].from"),
    (GOOD_SESSION.replace('rate = "0.5 mL/day"', 'steps = [ { from = "00:00", rate = "1 mL/day" }, { from = "08:00", rate = "1 mL/day" }, { from = "08:00", rate = "2 mL/day" } ]'), "session[1].steps[3].from"),
    (GOOD_SESSION.replace('rate = "0.5 mL/day"', 'steps = [ { from = "00:00", rate = "1 mL/day" }, { from = "25:00", rate = "1 mL/day" } ]'), "session[1].steps[2].from"),
    (GOOD_SESSION + 'bolus = { volume = "10 uL", lockout = "6 h" }\n', "session[1].bolus.max_per_24h"),
    (GOOD_SESSION + 'bolus = { volume = "10 uL", lockout = "6 h", max_per_24h = 0 }\n', "session[1].bolus.max_per_24h"),
    (GOOD_SESSION + 'bolus = { volume = "10 uL", lockout = "1 h", max_per_24h = 3, duration = "2 h" }\n', "session[1].bolus.duration"),
    (GOOD_SESSION + 'bolus = { volume = "10 uL", lockout = "1 h", max_per_24h = 3, duration = "2 s" }\n', "session[1].bolus.duration"),
    (GOOD_SESSION + 'bolus = "on"\n', "session[1].bolus"),
    (GOOD_SESSION + '[variability]\nbolus_requests = { dist = "poisson", per_day = 2.0, hourly = [1, 2] }\n', "variability.bolus_requests.hourly"),
    (GOOD_SESSION + '[variability]\nmissed_refill = { dist = "bernoulli", p = 1.5 }\n', "variability.missed_refill.p"),
    (GOOD_SESSION + '[variability]\nrefill_delay = { dist = "discrete", values = ["0 day", "2 day"], p = [0.5, 0.4] }\n', "variability.refill_delay.p"),
    (GOOD_SESSION + '[variability]\nmri_stalls = { dist = "poisson", per_year = 1, recovery_low = "2 mL", recovery_high = "24 h" }\n', "variability.mri_stalls.recovery_low"),
    (GOOD_SESSION.replace('"20 mL"', '"0 mL"'), "session[1].refill.volume"),
    (GOOD_SESSION.replace('"20 mL"', '"1e9 mL"'), "session[1].refill.volume"),
    (GOOD_SESSION.replace("morphine", "Morphine"), "session[1].refill.mix.Morphine"),
])
def test_structural_mistakes_name_their_field(snippet, field):
    assert field in fields(BASE + snippet)


def test_unknown_device_and_profile_suggest_names():
    got = {p.field: p for p in problems('profile = "fr-ait"\n' + BASE.replace("synchromed-ii-20", "synchromed-2-20") + GOOD_SESSION)}
    assert "synchromed-ii-20" in got["pump.model"].fix
    assert "fr-ait-2020" in got["profile"].fix


def test_top_level_structure():
    assert fields('horizon = "30 day"\n' + GOOD_SESSION) == ["schema", "pump"]
    assert "schema" in fields(BASE.replace("pumpsim.table/1", "pumpsim.table/9") + GOOD_SESSION)
    assert "horizn" in fields('horizn = "3 day"\n' + BASE + GOOD_SESSION)


def test_constant_flow_pump_needs_an_accuracy_and_refuses_steps_and_boluses():
    base = BASE.replace("synchromed-ii-20", "constant-flow-30")
    assert "pump.accuracy" in fields(base + GOOD_SESSION)
    base += 'accuracy = "10 %"\n'
    parse(base + GOOD_SESSION)  # valid once the accuracy is given
    bad = GOOD_SESSION.replace('rate = "0.5 mL/day"', 'steps = [ { from = "00:00", rate = "1 mL/day" }, { from = "08:00", rate = "2 mL/day" } ]')
    assert "session[1].steps" in fields(base + bad)
    assert "session[1].bolus" in fields(base + GOOD_SESSION + 'bolus = { volume = "10 uL", lockout = "6 h", max_per_24h = 3 }\n')


def test_syntax_errors_empty_and_non_utf8_files(tmp_path):
    for content, words in [(b"schema = \n", "TOML syntax"), (b"   \n", "empty"), (b"\xff\xfe schema", "UTF-8")]:
        p = tmp_path / "x.toml"
        p.write_bytes(content)
        with pytest.raises(InputError) as e:
            read_table(p)
        assert words in str(e.value) and str(p) in str(e.value)
    with pytest.raises(InputError, match="not found"):
        read_table(tmp_path / "missing.toml")


def test_session_time_is_kept_to_the_second():
    t, _ = parse(BASE + GOOD_SESSION)
    assert t.datetime_at(36 * HOUR) == dt.datetime(2026, 12, 2, 21, 0, 0)
    assert t.iso(0.0) == "2026-12-01T09:00:00"


def test_typed_durations_and_clock_times_are_exact_seconds():
    t, _ = parse(BASE.replace('"30 day"', '"0.3 day"') + GOOD_SESSION.replace('rate = "0.5 mL/day"', (
        'steps = [ { from = "00:00", rate = "0.5 mL/day" }, { from = "09:07", rate = "0.2 mL/day" } ]'))
        + 'bolus = { volume = "10 uL", lockout = "0.1 h", max_per_24h = 3, duration = "1.5 min" }\n')
    b = t.programs[0].bolus
    assert (t.horizon, b.lockout, b.duration) == (25920, 360, 90)  # 0.3 x 86400, 0.1 x 3600, 1.5 x 60
    assert all(type(x) is int for x in (t.horizon, b.lockout, b.duration))
    assert [s.start for s in t.programs[0].steps] == [0, 9 * HOUR + 7 * MINUTE]
    # the mean rate weighs each step by its share of the 86,400 s of a day
    assert t.programs[0].mean_rate == pytest.approx(0.5 * 547 / 1440 + 0.2 * 893 / 1440, rel=1e-12)


def test_a_session_time_with_a_fraction_of_a_second_is_an_input_error():
    text = BASE + GOOD_SESSION.replace("2026-12-01T09:00:00", "2026-12-01T09:00:00.250")
    probs = problems(text)
    assert [p.field for p in probs] == ["session[1].at"]
    assert "fraction of a second" in probs[0].message and "2026-12-01T09:00:00" in probs[0].fix
