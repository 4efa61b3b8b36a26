"""``pumpsim titrate`` (FORMAT.md §9) on schedules derived by hand below.

Common data: a SynchroMed II 20 mL (rates 0.048 to 24 mL/day, low alarm 2 mL), ziconotide alone at
25 mcg/mL; fr-ait-2020: start at most 2.4 mcg/day, steps of at most 2.4 mcg/day at least 48 h
apart, hard ceiling 21.6 mcg/day, first fill of a naive pump stable 14 days; pacc-2017: the same
steps and interval, at most 3 increases in any 7 days. The default clinic is Monday to Friday,
09:00-17:00. 2026-12-02 is a Wednesday, 2026-12-07 a Monday.
"""
from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pumpsim.cli.main import main
from pumpsim.io.tables import parse_table_bytes
from pumpsim.planning.titrate import parse_clinic, titrate, titrated_toml
from pumpsim.rules.validate import validate

ALL_DAYS = "Mon,Tue,Wed,Thu,Fri,Sat,Sun"
H = dt.timedelta(hours=1)
STEP = 2.4  # mcg/day, both profiles
INTERVAL = 48 * H


def approx(x):
    return pytest.approx(x, rel=1e-9)


def table(at: str = "2026-12-02T09:00:00", conc: str = "25 mcg/mL", rate: str = "0.096 mL/day", pump: str = "",
          profile: str = "fr-ait-2020", mix: str | None = None) -> str:
    mix = mix or f'ziconotide = "{conc}"'
    return textwrap.dedent(f"""
        schema = "pumpsim.table/1"
        profile = "{profile}"
        horizon = "2 day"
        [pump]
        model = "synchromed-ii-20"
        {pump}
        [[session]]
        at = {at}
        refill = {{ volume = "20 mL", mix = {{ {mix} }} }}
        rate = "{rate}"
        """)


def run(tmp_path, text: str, *args: str, capsys) -> tuple[int, dict]:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    status = main(["titrate", str(path), "--format", "json", *args])
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else {}


def at(row) -> dt.datetime:
    return dt.datetime.fromisoformat(row["at"])


def test_every_step_on_a_clinic_day_is_48_h_apart(tmp_path, capsys):
    # 2.4 at 0 h (the table), then +2.4 every 48 h: 4.8, 7.2, 9.6 at 48, 96, 144 h; every day a clinic day
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "9.6 mcg/day", "--clinic-days", ALL_DAYS,
                      capsys=capsys)
    assert status == 0
    t0 = dt.datetime(2026, 12, 2, 9)
    assert out["start"] == {"at": t0.isoformat(), "daily_dose": 2.4}
    assert [r["daily_dose"] for r in out["schedule"]] == approx([2.4 + STEP, 2.4 + 2 * STEP, 2.4 + 3 * STEP]) == [4.8, 7.2, 9.6]
    assert [at(r) - t0 for r in out["schedule"]] == [48 * H, 96 * H, 144 * H]
    assert [r["waited_for"] for r in out["schedule"]] == ["ZIC-INTERVAL"] * 3
    assert [r["rate"] for r in out["schedule"]] == approx([4.8 / 25, 7.2 / 25, 9.6 / 25])
    assert not any(r["refill"] for r in out["schedule"])
    assert out["reached_at"] == (t0 + 144 * H).isoformat() and out["target"] == 9.6 and out["unit"] == "mcg/day"


def test_a_weekend_delays_a_step_to_monday(tmp_path, capsys):
    # Wed 09:00 at 2.4; Fri 09:00 (+48 h) 4.8; +48 h is Sunday 09:00: moved to Monday 09:00 (+120 h), 7.2;
    # then 48 h after Monday: Wednesday 09:00 (+168 h), 9.6
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "9.6 mcg/day", capsys=capsys)
    assert status == 0
    t0 = dt.datetime(2026, 12, 2, 9)
    rows = out["schedule"]
    assert [at(r) - t0 for r in rows] == [48 * H, (48 + 72) * H, (48 + 72 + 48) * H]
    assert [r["daily_dose"] for r in rows] == [4.8, 7.2, 9.6]
    assert rows[1]["waited_for"] == "clinic-day" and rows[1]["delayed_by"] == "weekend"
    assert rows[1]["allowed_at"] == (t0 + 96 * H).isoformat()  # the Sunday
    assert at(rows[1]).strftime("%a") == "Mon"
    assert rows[2]["waited_for"] == "ZIC-INTERVAL"


def test_clinic_hours_move_a_step_to_the_next_opening(tmp_path, capsys):
    # Wed 16:30 + 48 h is Fri 16:30 (open until 17:00, both ends included); with hours 09:00-16:00 it moves to
    # Monday 09:00 (the weekend follows)
    status, out = run(tmp_path, table(at="2026-12-02T16:30:00"), "--drug", "ziconotide", "--target", "4.8 mcg/day",
                      capsys=capsys)
    assert status == 0 and out["schedule"][0]["at"] == "2026-12-04T16:30:00"
    status, out = run(tmp_path, table(at="2026-12-02T15:30:00"), "--drug", "ziconotide", "--target", "4.8 mcg/day",
                      "--clinic-hours", "09:00-15:00", capsys=capsys)
    assert status == 0 and out["schedule"][0]["at"] == "2026-12-07T09:00:00"
    assert out["schedule"][0]["delayed_by"] == "weekend"


def test_pacc_2017_weekly_count_binds_the_fourth_increase(tmp_path, capsys):
    # increases at 48, 96, 144 h; the 4th may come 48 h later (192 h) by the interval, but then it would be the
    # 4th in the 7 days (168 h) after the first: it waits until 48 + 168 = 216 h
    status, out = run(tmp_path, table(profile="pacc-2017"), "--drug", "ziconotide", "--target", "12 mcg/day",
                      "--clinic-days", ALL_DAYS, capsys=capsys)
    assert status == 0
    t0 = dt.datetime(2026, 12, 2, 9)
    rows = out["schedule"]
    assert [r["daily_dose"] for r in rows] == [4.8, 7.2, 9.6, 12.0]
    assert [at(r) - t0 for r in rows] == [48 * H, 96 * H, 144 * H, (48 + 168) * H]
    assert [r["waited_for"] for r in rows] == ["ZIC-INTERVAL"] * 3 + ["weekly-count"]
    # fr-ait-2020 has no weekly count: the same table reaches 12 at 192 h
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "12 mcg/day", "--clinic-days", ALL_DAYS,
                      capsys=capsys)
    assert at(out["schedule"][-1]) - t0 == 192 * H


def test_a_naive_pump_is_refilled_at_day_14(tmp_path, capsys):
    # first fill Monday 2026-12-07 09:00 at 1.2 mcg/day (0.048 mL/day); steps of 2.4 every 48 h, Sundays moved to
    # Monday: Wed 9, Fri 11, Mon 14, Wed 16, Fri 18, Mon 21 (day 14: the 14-day first-fill limit), Wed 23, Fri 25,
    # Mon 28; the refill is at day 14 exactly, with the step due then
    status, out = run(tmp_path, table(at="2026-12-07T09:00:00", rate="0.048 mL/day", pump="ziconotide_naive = true"),
                      "--drug", "ziconotide", "--target", "21.6 mcg/day", capsys=capsys)
    assert status == 0
    t0 = dt.datetime(2026, 12, 7, 9)
    rows = out["schedule"]
    days = [2, 4, 7, 9, 11, 14, 16, 18, 21]
    assert [(at(r) - t0).days for r in rows] == days
    doses = [round(1.2 + STEP * (i + 1), 9) for i in range(8)] + [21.6]
    assert [r["daily_dose"] for r in rows] == approx(doses)
    refills = [r for r in rows if r["refill"]]
    assert len(refills) == 1 and at(refills[0]) - t0 == dt.timedelta(days=14)
    assert refills[0]["refill_reason"] == "REFILL-STABILITY" and refills[0]["concentration"] == 25.0
    assert refills[0]["fill_volume"] == 20.0


def test_the_low_alarm_forces_a_refill_at_the_last_clinic_time_before_it(tmp_path, capsys):
    # a 5 mL reservoir (low alarm 2 mL: 3 mL usable), worst case 14.5 % fast; every day a clinic day.
    # 2.4, 4.8, 7.2 mcg/day for 48 h each at 25 mcg/mL use 1.145 x (0.096 + 0.192 + 0.288) x 2 mL by Tue 8 09:00;
    # then 9.6 mcg/day is 1.145 x 0.384 mL/day: the alarm comes (3 - used) / that days later, early on Sat 12;
    # the refill is at the last clinic time before it, Fri 11 17:00; then 3 mL last beyond the 14-day horizon
    used = 1.145 * (0.096 + 0.192 + 0.288) * 2
    alarm = dt.datetime(2026, 12, 8, 9) + dt.timedelta(days=(3 - used) / (1.145 * 0.384))
    assert dt.datetime(2026, 12, 12, 4) < alarm < dt.datetime(2026, 12, 12, 5)
    assert 3 / (1.145 * 0.384) > (dt.datetime(2026, 12, 16, 9) - dt.datetime(2026, 12, 11, 17)).total_seconds() / 86400
    text = table(pump='reservoir = "5 mL"').replace('volume = "20 mL"', 'volume = "5 mL"').replace('"2 day"', '"14 day"')
    status, out = run(tmp_path, text, "--drug", "ziconotide", "--target", "9.6 mcg/day", "--clinic-days", ALL_DAYS,
                      capsys=capsys)
    assert status == 0
    refills = [r for r in out["schedule"] if r["refill"]]
    assert [(r["at"], r["refill_reason"], r["daily_dose"], r["fill_volume"]) for r in refills] == [
        ("2026-12-11T17:00:00", "REFILL-LOW-ALARM", 9.6, 5.0)]
    assert out["reached_at"] == "2026-12-08T09:00:00"


def test_a_target_above_the_ceiling_exits_1_naming_dose_max(tmp_path, capsys):
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "21.7 mcg/day", capsys=capsys)
    assert status == 1
    assert out["reached_at"] is None and out["rule"] == "DOSE-MAX" and out["schedule"] == []
    v = out["violations"][0]
    assert (v["rule"], v["severity"], v["value"], v["limit"]) == ("DOSE-MAX", "hard", 21.7, 21.6)
    # the ceiling itself can be reached (programmed case)
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "0.0216 mg/day", capsys=capsys)
    assert status == 0 and out["schedule"][-1]["daily_dose"] == 21.6


def test_a_low_concentration_is_refilled_at_a_higher_presentation(tmp_path, capsys):
    # rate_max 0.2 mL/day: at 25 mcg/mL, 4.8 mcg/day is 0.192 mL/day but 7.2 would need 0.288: the session of 7.2
    # refills at 100 mcg/mL (7.2 / 100 = 0.072 mL/day, above the 0.048 minimum); 9.6 is 0.096 mL/day there
    status, out = run(tmp_path, table(pump='rate_max = "0.2 mL/day"'), "--drug", "ziconotide", "--target", "9.6 mcg/day",
                      capsys=capsys)
    assert status == 0
    rows = out["schedule"]
    assert [r["concentration"] for r in rows] == [25.0, 100.0, 100.0]
    assert [r["refill"] for r in rows] == [False, True, False]
    assert rows[1]["refill_reason"] == "RATE-RANGE"
    assert [r["rate"] for r in rows] == approx([4.8 / 25, 7.2 / 100, 9.6 / 100])
    # nothing delivers 2.4 mcg/day below 0.02 mL/day at 100 mcg/mL with rate_min 0.05: the start fails the range
    status, out = run(tmp_path, table(pump='rate_max = "0.05 mL/day"', rate="0.048 mL/day"), "--drug", "ziconotide",
                      "--target", "9.6 mcg/day", capsys=capsys)
    # 1.2 + 2.4 = 3.6 needs 0.144 at 25, 0.036 at 100 (below the 0.048 minimum): no concentration delivers it
    assert status == 1 and out["rule"] == "RATE-RANGE" and out["reached_at"] is None
    assert out["violations"][0]["rule"] == "RATE-RANGE" and "PRIALT" in out["violations"][0]["source"]  # the device minimum


def test_slow_pace_follows_the_profile_slow_schedule(tmp_path, capsys):
    # fr-ait-2020 slow: steps of 0.5 mcg/day, 48 h apart; 2.5 mcg/mL at 0.2 mL/day is 0.5 mcg/day; to 2.0: 1.0, 1.5,
    # 2.0 at Fri 48 h, Mon 120 h (Sunday moved), Wed 168 h
    status, out = run(tmp_path, table(conc="2.5 mcg/mL", rate="0.2 mL/day"), "--drug", "ziconotide", "--target",
                      "2 mcg/day", "--pace", "slow", capsys=capsys)
    assert status == 0
    t0 = dt.datetime(2026, 12, 2, 9)
    assert [r["daily_dose"] for r in out["schedule"]] == approx([0.5 + 0.5, 0.5 + 2 * 0.5, 0.5 + 3 * 0.5])
    assert [at(r) - t0 for r in out["schedule"]] == [48 * H, 120 * H, 168 * H]
    # pacc-2017 gives no slow schedule: bad input naming --pace
    (tmp_path / "p.toml").write_text(table(profile="pacc-2017"), encoding="utf-8")
    status = main(["titrate", str(tmp_path / "p.toml"), "--drug", "ziconotide", "--target", "4.8 mcg/day", "--pace", "slow"])
    assert status == 2 and "--pace" in capsys.readouterr().err


def test_a_first_dose_in_a_mix_keeps_the_other_drug(tmp_path, capsys):
    # morphine 10 mg/mL at 0.2 mL/day (2 mg/day); ziconotide starts at 2.4 mcg/day: 12 mcg/mL at the same rate, the
    # minute after the last session; then 4.8 mcg/day (24 mcg/mL) 48 h later (Friday 09:01)
    status, out = run(tmp_path, table(mix='morphine = "10 mg/mL"', rate="0.2 mL/day"), "--drug", "ziconotide",
                      "--target", "4.8 mcg/day", capsys=capsys)
    assert status == 0
    rows = out["schedule"]
    assert [r["at"] for r in rows] == ["2026-12-02T09:01:00", "2026-12-04T09:01:00"]
    assert [r["mix"]["morphine"] for r in rows] == [10.0, 10.0]
    assert [r["mix"]["ziconotide"] for r in rows] == approx([2.4 / 0.2, 4.8 / 0.2])
    assert all(r["refill"] and r["rate"] == 0.2 for r in rows)


def test_output_table_validates_and_reaches_one_day_past(tmp_path, capsys):
    src = tmp_path / "t.toml"
    src.write_text(table(), encoding="utf-8")
    dest = tmp_path / "titrated.toml"
    assert main(["titrate", str(src), "--drug", "ziconotide", "--target", "9.6 mcg/day", "-o", str(dest)]) == 0
    capsys.readouterr()
    assert main(["validate", str(dest)]) == 0
    t, _ = parse_table_bytes(dest.read_bytes(), str(dest))
    assert [s.at for s in t.sessions][-1] == dt.datetime(2026, 12, 9, 9)
    assert t.datetime_at(t.horizon) == dt.datetime(2026, 12, 10, 9)  # reached_at + 1 day
    # exit 1: nothing written
    dest2 = tmp_path / "no.toml"
    assert main(["titrate", str(src), "--drug", "ziconotide", "--target", "30 mcg/day", "-o", str(dest2)]) == 1
    assert not dest2.exists()


def test_bad_input_exits_2_naming_every_option(tmp_path, capsys):
    src = tmp_path / "t.toml"
    src.write_text(table(), encoding="utf-8")
    dest = tmp_path / "o.toml"
    status = main(["titrate", str(src), "--drug", "zicotide", "--target", "1 mcg/day", "--clinic-days", "Mon,Fry",
                   "--clinic-hours", "17:00-09:00", "-o", str(dest)])
    err = capsys.readouterr().err
    assert status == 2 and not dest.exists()
    assert "--drug" in err and "ziconotide" in err and "--clinic-days" in err and "'Fri'" in err and "--clinic-hours" in err
    assert main(["titrate", str(src), "--drug", "ziconotide", "--target", "2 mL/day"]) == 2
    assert "--target" in capsys.readouterr().err
    assert main(["titrate", str(src), "--drug", "ziconotide", "--target", "1.2 mcg/day"]) == 2  # below the current 2.4
    assert main(["titrate", str(src), "--drug", "morphine", "--target", "1 mg/day"]) == 2  # no titration limits
    assert "--drug" in capsys.readouterr().err


def test_any_drug_with_titration_limits_in_the_profile(tmp_path, capsys):
    # a hospital profile gives clonidine steps of 10 mcg/day at least 24 h apart: 100 mcg/mL at 0.5 mL/day is 50
    # mcg/day; to 80: 60, 70, 80 on Thu, Fri, Mon (Saturday moved to Monday)
    src = "Hospital drug library, intrathecal clonidine titration protocol, 2026"
    (tmp_path / "hosp.toml").write_text(textwrap.dedent(f"""
        schema = "pumpsim.profile/1"
        name = "hospital"
        title = "a hospital library"
        base = "fr-ait-2020"
        [drugs.clonidine]
        step_max = {{ value = "10 mcg/day", source = "{src}", verified = true }}
        step_interval = {{ value = "24 h", source = "{src}", verified = true }}
        """), encoding="utf-8")
    status, out = run(tmp_path, table(mix='clonidine = "100 mcg/mL"', rate="0.5 mL/day"), "--drug", "clonidine",
                      "--target", "80 mcg/day", "--profile", str(tmp_path / "hosp.toml"), capsys=capsys)
    assert status == 0
    assert [r["daily_dose"] for r in out["schedule"]] == [60.0, 70.0, 80.0]
    assert [at(r).strftime("%a %H:%M") for r in out["schedule"]] == ["Thu 09:00", "Fri 09:00", "Mon 09:00"]
    assert [r["waited_for"] for r in out["schedule"]] == ["step-interval", "step-interval", "clinic-day"]


# --------------------------------------------------------------------------- property
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=st.integers(0, 13), hour=st.integers(6, 20), start=st.sampled_from([1.2, 2.4]),
       target=st.floats(2.4, 21.6), profile=st.sampled_from(["fr-ait-2020", "pacc-2017"]),
       naive=st.booleans(), days=st.sets(st.integers(0, 6), min_size=1),
       conc=st.sampled_from(["25 mcg/mL", "5 mcg/mL"]))
def test_every_generated_schedule_validates(day, hour, start, target, profile, naive, days, conc):
    c = float(conc.split()[0])  # 5 mcg/mL (diluted: 40 days, a presentation needed above 5 x 24 = 120 mcg/day: never)
    when = dt.datetime(2026, 12, 1, hour) + dt.timedelta(days=day)
    rate = max(start / c, 0.048)
    text = table(at=when.isoformat(), conc=conc, rate=f"{rate:.10g} mL/day", profile=profile,
                 pump="ziconotide_naive = true" if naive else "")
    t, prof = parse_table_bytes(text.encode(), "gen.toml")
    target = round(min(target, 19.2 if profile == "pacc-2017" else 21.6), 3)
    if target < rate * c:
        target = rate * c
    clinic = parse_clinic(",".join(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[d] for d in sorted(days)), "09:00-17:00")
    res = titrate(t, prof, "ziconotide", target, clinic=clinic)
    assert res.exit_status == 0, (res.rule, [v.message for v in res.violations])
    assert validate(res.titrated, prof).exit_status == 0
    import tomllib
    written = titrated_toml(tomllib.loads(text), res, "gen.toml", "pumpsim titrate")
    back, back_prof = parse_table_bytes(written.encode(), "out.toml")
    assert validate(back, back_prof).exit_status == 0
    prev = t.sessions[-1].at
    for r in res.rows:
        assert r.at > prev and r.at.weekday() in clinic.days and clinic.open <= r.at.time() <= clinic.close
        prev = r.at
    assert not res.rows or res.rows[-1].daily_dose == approx(target)


def test_a_target_just_below_the_dose_programmed_is_refused_with_digits_that_tell_them_apart(tmp_path, capsys):
    """1.19999999 is below 1.2 beyond the 1e-9 tolerance (FORMAT.md §4), so it is refused: the message
    once said "already programmed at 1.2 mcg/day, above the target 1.2 mcg/day"."""
    src = tmp_path / "t.toml"
    src.write_text(table(rate="0.048 mL/day"), encoding="utf-8")  # 25 mcg/mL x 0.048 mL/day: 1.2 mcg/day
    assert main(["titrate", str(src), "--drug", "ziconotide", "--target", "1.19999999 mcg/day"]) == 2
    err = capsys.readouterr().err
    assert "--target: ziconotide is already programmed at 1.2 mcg/day, above the target 1.19999999 mcg/day" in err
    assert "give a target of at least 1.2 mcg/day" in err
    # within the tolerance it is the dose programmed: nothing to do, not an error
    status, out = run(tmp_path, table(rate="0.048 mL/day"), "--drug", "ziconotide", "--target", "1.2000000001 mcg/day",
                      capsys=capsys)
    assert status == 0 and out["schedule"] == [] and "ziconotide is already programmed at the target" in out["notes"]


def test_a_target_just_above_the_hard_ceiling_names_both_numbers_apart(tmp_path, capsys):
    # fr-ait-2020's hard ceiling is 21.6 mcg/day; 21.6000001 is above it by 4.6e-9, beyond the tolerance
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "21.6000001 mcg/day", capsys=capsys)
    assert status == 1 and out["rule"] == "DOSE-MAX"
    assert out["violations"][0]["message"].startswith(
        "the target 21.6000001 mcg/day is above the hard daily ceiling 21.6 mcg/day")
    assert main(["titrate", str(tmp_path / "t.toml"), "--drug", "ziconotide", "--target", "21.6000001 mcg/day"]) == 1
    assert capsys.readouterr().out.startswith("NO SCHEDULE: ziconotide cannot be raised to 21.6000001 mcg/day (DOSE-MAX).")
    status, out = run(tmp_path, table(), "--drug", "ziconotide", "--target", "21.60000000001 mcg/day", capsys=capsys)
    assert out.get("rule") != "DOSE-MAX"  # within the tolerance: at the ceiling, not above it
