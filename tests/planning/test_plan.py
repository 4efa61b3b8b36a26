"""``pumpsim plan`` (FORMAT.md §5) on cases whose optimum is derived by hand below.

Common data: a SynchroMed II 20 mL (reservoir 20 mL, low alarm 2 mL: 18 mL usable), worst case
pump 14.5 % fast; fr-ait-2020 (morphine stable 90 days, granuloma at 20 mg/mL, CONC-MAX morphine
50 mg/mL, bupivacaine 30 mg/mL, ziconotide 100 mcg/mL; ziconotide alone at 25 or 100 mcg/mL
stable 84 days, diluted 40). Without a bolus the worst case lasts tau = 18 / (1.145 r) days at
the rate r, and the interval is floor(tau); the lowest concentration that reaches an interval T
has the rate r = 18 / (1.145 T).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from statistics import NormalDist

import pytest

from pumpsim.cli.main import main
from pumpsim.io import tomlwrite
from pumpsim.io.tables import parse_table_bytes, read_table
from pumpsim.model.timebase import DAY
from pumpsim.planning.plan import plan
from tests.conftest import REPO, parse

ACC = 1.145
USABLE = 18.0


def table(mix: str, rate: str = "0.5 mL/day", pump: str = "", bolus: str = "", extra: str = "", at: str = "2026-12-01T09:00:00"):
    return textwrap.dedent(f"""
        schema = "pumpsim.table/1"
        horizon = "30 day"
        [pump]
        model = "synchromed-ii-20"
        {pump}
        [[session]]
        at = {at}
        refill = {{ volume = "20 mL", mix = {{ {mix} }} }}
        rate = "{rate}"
        {bolus}
        {extra}
        """)


def run_plan(text: str, tmp_path, *args: str):
    path = tmp_path / "t.toml"
    path.write_text(text)
    r = subprocess.run([sys.executable, "-m", "pumpsim.cli", "plan", str(path), "--format", "json", *args],
                       capture_output=True, text=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, (json.loads(r.stdout) if r.stdout else None), r.stderr


def close(a: float, b: float) -> bool:  # FORMAT.md §5: concentrations and rate to 1 %
    return math.isclose(a, b, rel_tol=0.01)


def test_interval_set_by_the_volume_with_the_concentration_kept(tmp_path):
    # 18 / (1.145 x 0.5) = 31.44 days -> 31
    rc, out, _ = run_plan(table('morphine = "10 mg/mL"'), tmp_path, "--keep-concentration")
    assert rc == 0
    assert out["interval_days"] == 31 and out["binding"] == "REFILL-LOW-ALARM"
    assert out["refill_at"] == "2027-01-01T09:00:00" and out["fill_volume"] == 20.0
    assert out["rate"] == pytest.approx(0.5, rel=1e-12) and out["concentrations"] == {"morphine": 10.0}
    assert out["p_low_alarm"] is None and out["schema"] == "pumpsim.plan/1"
    # the worst case holds 18 - 1.145 x 0.5 x 31 = 2.2525 mL above the alarm volume... plus 2 mL
    assert out["left_before_next_refill_mL"]["worst"] == pytest.approx(20 - ACC * 0.5 * 31, rel=1e-9)


def test_interval_set_by_the_volume_at_the_concentration_cap(tmp_path):
    # ropivacaine 5 mg/mL at 1 mL/day (5 mg/day); CONC-MAX 10 mg/mL -> k <= 2, rate >= 0.5 mL/day:
    # tau = 18 / (1.145 x 0.5) = 31.44 -> 31 days; lowest concentration for 31 days: rate 18 / (1.145 x 31)
    rc, out, _ = run_plan(table('ropivacaine = "5 mg/mL"', rate="1 mL/day"), tmp_path)
    assert rc == 0 and out["interval_days"] == 31 and out["binding"] == "REFILL-LOW-ALARM"
    r = USABLE / (ACC * 31)
    assert close(out["rate"], r) and close(out["concentrations"]["ropivacaine"], 5.0 / r)
    assert out["concentrations"]["ropivacaine"] <= 10.0
    assert out["daily_doses"]["ropivacaine"]["value"] == pytest.approx(5.0, rel=1e-12)


def test_interval_set_by_the_bolus_allowance(tmp_path):
    # 0.5 mL/day and boluses of 0.25 mL every 6 h (4 a day), greedy from the refill on (t = 0,
    # 0.25, 0.5 ... days), all 14.5 % fast: the used volume 1.145 (0.5 t + 0.25 (floor(4 t) + 1))
    # reaches 18 mL after the grant at 10.25 days (1.145 x 15.625 = 17.89 mL) once the basal adds
    # 0.0955 mL more, at t = 10.25 + (18 / 1.145 - 15.625) / 0.5 = 10.44 days: 10 days.
    # Without the boluses the same rate lasts 31 days.
    bolus = 'bolus = { volume = "0.25 mL", lockout = "6 h", max_per_24h = 4 }'
    rc, out, _ = run_plan(table('morphine = "10 mg/mL"', bolus=bolus), tmp_path, "--keep-concentration")
    assert rc == 0 and out["interval_days"] == 10 and out["binding"] == "REFILL-LOW-ALARM"
    grants = 4 * 10  # at 0, 0.25, ..., 9.75 days: just before the refill at 10 days
    assert out["left_before_next_refill_mL"]["worst"] == pytest.approx(20 - ACC * (0.5 * 10 + 0.25 * grants), rel=1e-9)


def test_interval_set_by_stability(tmp_path):
    # morphine 4 mg/mL at 0.5 mL/day (2 mg/day): the cap (granuloma, below 20 mg/mL) would last
    # 18 / (1.145 x 0.1) = 157 days, but morphine is stable 90: T = 90 and the lowest
    # concentration that lasts 90 days runs at 18 / (1.145 x 90) = 0.17467 mL/day: 11.45 mg/mL.
    rc, out, _ = run_plan(table('morphine = "4 mg/mL"'), tmp_path)
    assert rc == 0 and out["interval_days"] == 90 and out["binding"] == "REFILL-STABILITY"
    assert close(out["rate"], USABLE / (ACC * 90)) and close(out["concentrations"]["morphine"], 2.0 * ACC * 90 / USABLE)
    assert out["stability"]["days"] == 90.0 and out["stability"]["drug"] == "morphine"


def test_interval_set_by_the_device_minimum_rate(tmp_path):
    # rate_min 0.2 mL/day: morphine 2 mg/mL at 0.4 mL/day can concentrate 2x at most (granuloma
    # would allow 10x): tau = 18 / (1.145 x 0.2) = 78.6 -> 78 days, under the 90-day stability.
    rc, out, _ = run_plan(table('morphine = "2 mg/mL"', rate="0.4 mL/day", pump='rate_min = "0.2 mL/day"'), tmp_path)
    assert rc == 0 and out["interval_days"] == 78 and out["binding"] == "RATE-RANGE"
    assert close(out["rate"], 0.2) and close(out["concentrations"]["morphine"], 4.0)
    assert out["rate"] >= 0.2


def test_a_mix_of_two_drugs_moves_together_and_each_keeps_its_dose_and_limit(tmp_path):
    # morphine 5 + bupivacaine 15 mg/mL at 0.5 mL/day (2.5 and 7.5 mg/day): bupivacaine's CONC-MAX
    # (30 mg/mL) caps k at 2 (morphine's own limits would allow 4): rate 0.25, tau = 62.9 -> 62
    # days; the lowest concentration lasting 62 days: rate 18 / (1.145 x 62) = 0.25356 mL/day.
    rc, out, _ = run_plan(table('morphine = "5 mg/mL", bupivacaine = "15 mg/mL"'), tmp_path)
    assert rc == 0 and out["interval_days"] == 62 and out["binding"] == "REFILL-LOW-ALARM"
    r = USABLE / (ACC * 62)
    c = out["concentrations"]
    assert close(out["rate"], r) and close(c["morphine"], 2.5 / r) and close(c["bupivacaine"], 7.5 / r)
    assert c["bupivacaine"] <= 30.0 and c["morphine"] < 20.0
    assert c["bupivacaine"] / c["morphine"] == pytest.approx(3.0, rel=1e-12)
    assert out["daily_doses"]["morphine"]["value"] == pytest.approx(2.5, rel=1e-12)
    assert out["daily_doses"]["bupivacaine"]["value"] == pytest.approx(7.5, rel=1e-12)


def test_the_365_day_cap(tmp_path):
    # bupivacaine has no stability limit in fr-ait-2020. 2 mg/mL at 0.5 mL/day (1 mg/day) on a
    # 40 mL pump: the device minimum 0.048 mL/day caps k at 10.4 (CONC-MAX would allow 15), where
    # 38 mL last 38 / (1.145 x 0.048) = 691 days: the 365-day cap binds, first reached at the
    # rate 38 / (1.145 x 365) = 0.09093 mL/day, i.e. 11.0 mg/mL.
    text = table('bupivacaine = "2 mg/mL"').replace("synchromed-ii-20", "synchromed-ii-40").replace('"20 mL"', '"40 mL"')
    rc, out, _ = run_plan(text, tmp_path)
    assert rc == 0 and out["interval_days"] == 365 and out["binding"] == "HORIZON"
    r = 38.0 / (ACC * 365)
    assert close(out["rate"], r) and close(out["concentrations"]["bupivacaine"], 1.0 / r)


def test_ziconotide_presentation_is_a_candidate_a_continuous_search_misses(tmp_path):
    # ziconotide alone at 20 mcg/mL, 0.12 mL/day (2.4 mcg/day): diluted it is stable 40 days, at
    # its 25 mcg/mL presentation 84. At 25 mcg/mL (0.096 mL/day) the volume lasts
    # 18 / (1.145 x 0.096) = 164 days, so 84 days at exactly 25 mcg/mL.
    rc, out, _ = run_plan(table('ziconotide = "20 mcg/mL"', rate="0.12 mL/day"), tmp_path)
    assert rc == 0 and out["interval_days"] == 84 and out["binding"] == "REFILL-STABILITY"
    assert out["concentrations"]["ziconotide"] == pytest.approx(25.0, rel=1e-12)
    assert out["concentration_unit"] == {"ziconotide": "mcg/mL"}


def test_no_plan_when_even_a_day_empties_to_the_alarm(tmp_path):
    # 24 mL/day kept: 18 / (1.145 x 24) = 0.66 day
    rc, out, _ = run_plan(table('morphine = "1 mg/mL"', rate="24 mL/day"), tmp_path, "--keep-concentration")
    assert rc == 1 and out["interval_days"] is None and out["binding"] == "REFILL-LOW-ALARM"


def test_no_plan_when_an_earlier_session_breaks_a_hard_rule(tmp_path):
    text = table('ziconotide = "25 mcg/mL"', rate="0.096 mL/day") + textwrap.dedent("""
        [[session]]
        at = 2026-12-02T09:00:00
        rate = "0.4 mL/day"
        [[session]]
        at = 2026-12-20T09:00:00
        refill = { volume = "20 mL", mix = { ziconotide = "25 mcg/mL" } }
        """)
    rc, out, _ = run_plan(text, tmp_path)
    assert rc == 1 and out["interval_days"] is None
    assert out["binding"] in ("ZIC-STEP", "ZIC-INTERVAL")
    assert {v["rule"] for v in out["violations"]} >= {"ZIC-STEP"}


def test_with_variability_the_interval_lies_between_nominal_and_worst(tmp_path):
    # morphine 10 mg/mL at 0.5 mL/day kept; one accuracy factor per run, normal sd 3.5 %:
    # the 0.999 quantile of the factor is 1 + 0.035 z(0.999) = 1.108, so 18 mL last
    # 36 / 1.108 = 32.49 days: 32 (nominal 36, worst case 31).
    var = '[variability]\nruns = 10000\nseed = 4\npump_accuracy = { dist = "normal", sd = "3.5 %" }'
    text = table('morphine = "10 mg/mL"', extra=var)
    rc, out, _ = run_plan(text, tmp_path, "--keep-concentration")
    expected = math.floor(36.0 / (1 + 0.035 * NormalDist().inv_cdf(0.999)))
    assert rc == 0 and out["interval_days"] == expected == 32 and out["binding"] == "REFILL-LOW-ALARM"
    assert math.floor(USABLE / (ACC * 0.5)) < out["interval_days"] < USABLE / 0.5
    assert out["p_low_alarm"] <= 1e-3 and out["runs"] == 10000 and out["seed"] == 4
    lo, hi = out["p_low_alarm_ci95"]
    assert lo <= out["p_low_alarm"] <= hi
    # reproducible for a seed, and a looser P gives a longer (or equal) interval
    assert run_plan(text, tmp_path, "--keep-concentration")[1] == out
    assert run_plan(text, tmp_path, "--keep-concentration", "--p-low-alarm", "0.2")[1]["interval_days"] >= 33


def test_refill_delays_shorten_the_planned_interval(tmp_path):
    # the next refill may come up to 3 days late: the margin must cover it (the exact pump lasts
    # 36 days; with delays uniform on [0, 3] nearly every run needs 36 - 3 = 33 days at most)
    var = ('[variability]\nruns = 4000\nseed = 1\nrefill_delay = { dist = "uniform", low = "0 day", high = "3 day" }')
    rc, out, _ = run_plan(table('morphine = "10 mg/mL"', extra=var), tmp_path, "--keep-concentration")
    assert rc == 0 and out["interval_days"] == 33


def test_output_table_validates_and_holds_the_plan(tmp_path):
    dest = tmp_path / "planned.toml"
    rc, out, err = run_plan(table('morphine = "4 mg/mL"'), tmp_path, "-o", str(dest), "--calendar", "3")
    assert rc == 0 and dest.exists()
    t, p = read_table(dest)
    assert len(t.sessions) == 2 and t.horizon == 90 * DAY
    assert t.sessions[1].refill.mix_dict["morphine"] == pytest.approx(out["concentrations"]["morphine"], rel=1e-9)
    assert main(["validate", str(dest)]) == 0
    assert [c["refill_at"] for c in out["calendar"]] == ["2027-03-01T09:00:00", "2027-05-30T09:00:00", "2027-08-28T09:00:00"]


def test_last_session_without_refill_is_bad_input(tmp_path):
    src = REPO / "scenarios" / "ziconotide-deer-morphine.toml"
    dest = tmp_path / "out.toml"
    r = subprocess.run([sys.executable, "-m", "pumpsim.cli", "plan", str(src), "-o", str(dest)], capture_output=True, text=True)
    assert r.returncode == 2 and "session[4].refill" in r.stderr and str(src) in r.stderr
    assert not dest.exists() and r.stdout == ""


def test_plan_never_overwrites_its_input(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(table('morphine = "4 mg/mL"'))
    before = path.read_text()
    assert main(["plan", str(path), "-o", str(path)]) == 2
    assert path.read_text() == before


SHIPPED = sorted(p for p in (REPO / "scenarios").glob("*.toml") if read_table(p)[0].sessions[-1].refill is not None)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_ending_with_a_refill_gets_a_plan_that_validates(path, tmp_path):
    dest = tmp_path / "planned.toml"
    assert main(["plan", str(path), "-o", str(dest), "--format", "json", "--runs", "2000"]) == 0
    t, p = read_table(dest)
    assert main(["validate", str(dest)]) == 0
    src, _ = read_table(path)
    last, planned = src.programs[-1], t.programs[-2]
    for d, c in last.mix:  # every daily dose kept
        assert planned.daily_dose(d) == pytest.approx(c * last.mean_rate, rel=1e-8)


def test_plan_in_process_matches_the_words(tmp_path):
    t, p = parse(table('morphine = "4 mg/mL"'))
    res = plan(t, p)
    from pumpsim.planning.plan import describe
    text = describe(res, 2)
    assert text.startswith("PLAN: refill every 90 days")
    assert "morphine stability" in text and "11.45 mg/mL" in text and "2 mg/day" in text


def test_toml_writer_round_trips_a_table():
    import datetime as dt
    import tomllib

    data = {"schema": "pumpsim.table/1", "horizon": "60 day", "pump": {"model": "x", "ziconotide_naive": True},
            "session": [{"at": dt.datetime(2026, 12, 1, 9), "refill": {"volume": "20 mL", "mix": {"morphine": "5 mg/mL"}},
                         "steps": [{"from": "00:00", "rate": "0.1 mL/day"}], "bolus": "off"}],
            "variability": {"runs": 10, "bolus_requests": {"dist": "poisson", "per_day": 2.5},
                            "weird key": 'quote " and \\ back'}}
    text = tomlwrite.dumps(data, ["a header"])
    assert tomllib.loads(text) == data
    assert text.startswith("# a header") and 'refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }' in text
    with pytest.raises(ValueError):
        tomlwrite.value(float("nan"))
    # and what plan writes is read by the table reader
    parse_table_bytes(tomlwrite.dumps({k: v for k, v in data.items() if k != "variability"} | {"pump": {"model": "synchromed-ii-20"}})
                      .encode(), "w.toml")


def test_a_simulator_that_overstates_the_volume_is_caught_by_the_independent_check(monkeypatch):
    import importlib

    plan_mod = importlib.import_module("pumpsim.planning.plan")

    t, p = parse(table('morphine = "10 mg/mL"'))
    honest = plan(t, p, keep_concentration=True)
    assert honest.interval_days == 31 and honest.binding == "REFILL-LOW-ALARM"
    real = plan_mod._Search._tau_worst
    monkeypatch.setattr(plan_mod._Search, "_tau_worst", lambda self, k: real(self, k) * 1.1)  # a 10 % optimistic bug
    res = plan(t, p, keep_concentration=True)
    assert res.exit_status == 1 and res.interval_days is None and res.binding == "CROSS-CHECK"
    assert "independent check" in res.notes[-1]


@pytest.mark.parametrize("option,value", [("--p-low-alarm", "1"), ("--p-low-alarm", "x"), ("--calendar", "-2"),
                                          ("--runs", "0")])
def test_bad_options_exit_2_naming_the_option(option, value, capsys):
    with pytest.raises(SystemExit) as e:
        main(["plan", str(REPO / "scenarios" / "late-refill.toml"), option, value])
    assert e.value.code == 2 and option in capsys.readouterr().err


def _worst_days(rate: float, bolus: float, per_day: int, usable: float = USABLE) -> float:
    """Days until 1.145 x (rate t + bolus x grants so far) reaches the usable volume, grants
    greedy at 0, 1/per_day, 2/per_day ... (a lockout of 1/per_day day, per_day a day)."""
    n = 0
    while True:  # just after grant n (at n / per_day) and before the next one
        t0, used0 = n / per_day, ACC * (rate * n / per_day + bolus * (n + 1))
        if used0 >= usable:
            return t0
        t1 = t0 + (usable / ACC - bolus * (n + 1)) / rate - n / per_day
        if t1 < (n + 1) / per_day:
            return t1
        n += 1


def test_a_hard_daily_ceiling_bounds_the_concentration_when_the_bolus_grows_with_it(tmp_path):
    # clonidine 200 mcg/mL at 1 mL/day (200 mcg/day), boluses of 0.1 mL every 6 h (4 a day):
    # the worst 24 h holds 1.145 (200 + 4 x 0.1 x 200 k) mcg; no DOSE-MAX-WORST may be added, so
    # it stays within the hard 600 mcg/day (PACC) when k <= (600 / 1.145 - 200) / 80 = 4.050
    # (CONC-MAX 1000 mcg/mL would allow 5; as programmed, 200 + 80 k <= 600 would too). At that k
    # the volume sets the interval (floor of the worst-case days at 1/k mL/day plus the boluses).
    bolus = 'bolus = { volume = "0.1 mL", lockout = "6 h", max_per_24h = 4 }'
    rc, out, _ = run_plan(table('clonidine = "200 mcg/mL"', rate="1 mL/day", bolus=bolus), tmp_path)
    k_dose = (600 / ACC - 200) / 80
    assert rc == 0 and out["binding"] == "REFILL-LOW-ALARM"
    assert [c for c in out["limits"] if c["rule"] == "DOSE-MAX"] == []
    (cap,) = [c for c in out["limits"] if c["rule"] == "DOSE-MAX-WORST"]
    assert cap["drug"] == "clonidine" and cap["factor"] == pytest.approx(k_dose, rel=1e-6)
    assert out["interval_days"] == math.floor(_worst_days(1 / k_dose, 0.1, 4))
    assert out["concentrations"]["clonidine"] <= 200 * k_dose * (1 + 1e-9)
    assert close(out["daily_doses"]["clonidine"]["value"], 200.0)


def test_a_worst_case_already_over_the_ceiling_leaves_only_the_programmed_bound(tmp_path):
    # clonidine 200 mcg/mL at 2.5 mL/day (500 mcg/day) and 4 boluses of 0.1 mL a day (80 mcg):
    # 580 mcg as programmed, 1.145 x 580 = 664.1 mcg in the worst case: the table's own last
    # interval already breaks the 600 mcg/day hard ceiling with a fast pump (DOSE-MAX-WORST), so
    # only the programmed case bounds the plan (FORMAT.md §5): 500 + 80 k <= 600, k <= 1.25
    bolus = 'bolus = { volume = "0.1 mL", lockout = "6 h", max_per_24h = 4 }'
    rc, out, _ = run_plan(table('clonidine = "200 mcg/mL"', rate="2.5 mL/day", bolus=bolus), tmp_path)
    assert rc == 0
    assert [c for c in out["limits"] if c["rule"] == "DOSE-MAX-WORST"] == []
    (cap,) = [c for c in out["limits"] if c["rule"] == "DOSE-MAX"]
    assert cap["drug"] == "clonidine" and cap["factor"] == pytest.approx(1.25, rel=1e-6)
    # at k = 1.25 (250 mcg/mL at 2 mL/day) the volume sets the interval; the lowest concentration
    # that lasts as long is chosen, the daily dose kept
    assert out["binding"] == "REFILL-LOW-ALARM"
    assert out["interval_days"] == math.floor(_worst_days(2.0, 0.1, 4))
    assert out["concentrations"]["clonidine"] <= 250.0 * (1 + 1e-9)
    assert close(out["daily_doses"]["clonidine"]["value"], 500.0)
