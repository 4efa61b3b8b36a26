"""`pumpsim reconcile`: hand-derived cases of each TEL rule (arithmetic in the tests), bad records."""
from __future__ import annotations

import datetime as dt
import json
import math
import textwrap

import pytest

from pumpsim.cli.main import main
from pumpsim.telemetry.reconcile import cusum_alarms, thresholds
from tests.conftest import BASE

HEADER = "time,event,volume_mL,estimate_mL,boluses,note\n"

# 2027-01-05T10:00 first session; flex 0.2 mL/day from 00:00, 0.5 mL/day from 08:00 (mean 0.4 mL/day);
# on 2027-01-10T10:00 a simple rate of 0.3 mL/day; the refill planned 2027-01-15T10:00.
FLEX = BASE + """
[[session]]
at = 2027-01-05T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
steps = [ { from = "00:00", rate = "0.2 mL/day" }, { from = "08:00", rate = "0.5 mL/day" } ]

[[session]]
at = 2027-01-10T10:00:00
rate = "0.3 mL/day"

[[session]]
at = 2027-01-15T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
"""

# 0.5 mL/day; boluses of 50 uL, lockout 6 h, at most 3 in 24 h; a refill planned 2027-01-08T10:00.
BOLUS = BASE + """
[[session]]
at = 2027-01-05T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
rate = "0.5 mL/day"
bolus = { volume = "50 uL", lockout = "6 h", max_per_24h = 3 }

[[session]]
at = 2027-01-08T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
"""


def run(tmp_path, table: str, csv: str, capsys, *extra: str) -> tuple[int, dict]:
    t = tmp_path / "t.toml"
    t.write_text(textwrap.dedent(table))
    r = tmp_path / "r.csv"
    r.write_text(HEADER + textwrap.dedent(csv).lstrip())
    status = main(["reconcile", str(t), str(r), "--format", "json", *extra])
    out = capsys.readouterr().out
    return status, (json.loads(out) if out else {})


def rules(report: dict) -> set[str]:
    return {v["rule"] for v in report["violations"]}


def test_flex_schedule_and_a_refill_two_days_late(tmp_path, capsys):
    # recorded 2 days after its planned time: matched to that session, the interval ends there.
    # Jan 5 10:00 -> Jan 10 10:00 flex: 5 days x (0.2 x 8/24 + 0.5 x 16/24) = 5 x 0.4 = 2.0 mL
    # Jan 10 10:00 -> Jan 17 10:00 at 0.3 mL/day: 7 x 0.3 = 2.1 mL
    expected = 5 * (0.2 * 8 / 24 + 0.5 * 16 / 24) + 7 * 0.3
    aspirated = 16.31
    status, rep = run(tmp_path, FLEX, "2027-01-17T10:00:00,refill,16.31,,,\n", capsys)
    iv = rep["intervals"][0]
    assert (iv["from"], iv["to"]) == ("2027-01-05T10:00:00", "2027-01-17T10:00:00")
    assert iv["delivered_expected"] == pytest.approx(expected, abs=1e-6) and expected == pytest.approx(4.1)
    assert iv["delivered_observed"] == pytest.approx(20 - aspirated)
    assert iv["ratio"] == pytest.approx((20 - aspirated) / expected)  # 0.9: inside 0.855-1.145
    assert iv["band"] == [0.855, 1.145]
    assert status == 0 and rep["verdict"] == "pass"


def test_flex_steps_over_part_days_on_the_wall_clock(tmp_path, capsys):
    # recorded 4 h early (Jan 15 06:00): 5 days of flex (2.0 mL), then 0.3 mL/day from Jan 10 10:00
    # to Jan 15 06:00 = 4 days 20 h: 0.3 x (4 + 20/24)
    expected = 2.0 + 0.3 * (4 + 20 / 24)
    status, rep = run(tmp_path, FLEX, "2027-01-15T06:00:00,refill,16.0,,,\n", capsys)
    assert rep["intervals"][0]["delivered_expected"] == pytest.approx(expected, abs=1e-6)
    # the same flex schedule throughout (no second session): 9 full days, then Jan 14 10:00-24:00 at
    # 0.5 and Jan 15 00:00-06:00 at 0.2
    flex_only = FLEX.replace('[[session]]\nat = 2027-01-10T10:00:00\nrate = "0.3 mL/day"\n', "")
    status, rep = run(tmp_path, flex_only, "2027-01-15T06:00:00,refill,16.0,,,\n", capsys)
    assert rep["intervals"][0]["delivered_expected"] == pytest.approx(9 * 0.4 + 14 / 24 * 0.5 + 6 / 24 * 0.2, abs=1e-6)


def test_counted_and_uncounted_boluses_give_a_range(tmp_path, capsys):
    csv = """
    2027-01-06T10:00:00,interrogation,,19.4,2,
    2027-01-08T10:00:00,refill,18.3,,,
    """
    status, rep = run(tmp_path, BOLUS, csv, capsys)
    basal = 3 * 0.5
    counted = 2 * 0.05  # [Jan 5 10:00, Jan 6 10:00]: 2 counted
    # (Jan 6 10:00, Jan 8 10:00] not counted: greedy just after 10:00, 16:00, 22:00 on Jan 6 and Jan 7
    # (the 4th waits 24 h after the 1st); Jan 8 10:00+ is past the end: 6 grants
    greedy = 6 * 0.05
    iv = rep["intervals"][0]
    assert iv["delivered_expected"] == pytest.approx(basal + counted)
    assert iv["delivered_expected_low"] == pytest.approx(basal + counted)
    assert iv["delivered_expected_high"] == pytest.approx(basal + counted + greedy)
    observed = 20 - 18.3
    assert iv["ratio_low"] == pytest.approx(observed / (basal + counted + greedy))
    assert iv["ratio_high"] == pytest.approx(observed / (basal + counted))
    assert iv["ratio"] == iv["ratio_high"]
    # the interrogation: 20 - 1 day x 0.5 - 2 x 0.05 = 19.4, as displayed
    assert rep["interrogations"] == [{"at": "2027-01-06T10:00:00", "estimate_observed": 19.4,
                                      "estimate_expected": pytest.approx(20 - 0.5 - 0.1)}]
    assert status == 0 and rules(rep) == set()


def test_estimate_off_by_0_3_ml_is_a_program_mismatch(tmp_path, capsys):
    status, rep = run(tmp_path, BOLUS, "2027-01-06T10:00:00,interrogation,,19.7,2,\n", capsys)
    (v,) = rep["violations"]
    assert v["rule"] == "TEL-PROGRAM-MISMATCH" and v["severity"] == "hard" and status == 1
    assert v["value"] == pytest.approx(19.7 - 19.4) and v["limit"] == pytest.approx(0.1)
    assert "0.1 mL" in v["source"] or "0.1 mL" in v["message"]
    # 0.05 mL off: within the 0.1 mL tolerance
    status, rep = run(tmp_path, BOLUS, "2027-01-06T10:00:00,interrogation,,19.45,2,\n", capsys)
    assert status == 0 and rep["violations"] == []


def test_mismatch_tolerance_grows_with_the_uncounted_boluses(tmp_path, capsys):
    # Jan 7 10:00 without a count: the program gives 20 - 2 x 0.5 - 2 x 0.05 = 18.9 with no bolus since
    # Jan 6, and up to 3 more (just after 10:00, 16:00, 22:00): range 0.15 mL, tolerance 0.1 + 0.15
    csv = """
    2027-01-06T10:00:00,interrogation,,19.4,2,
    2027-01-07T10:00:00,interrogation,,{est},,
    """
    status, rep = run(tmp_path, BOLUS, csv.format(est=18.7), capsys)  # 0.2 mL off: within 0.25
    assert status == 0 and rep["interrogations"][1]["estimate_expected"] == pytest.approx(18.9)
    status, rep = run(tmp_path, BOLUS, csv.format(est=18.6), capsys)  # 0.3 mL off: beyond
    (v,) = rep["violations"]
    assert v["rule"] == "TEL-PROGRAM-MISMATCH" and v["limit"] == pytest.approx(0.1 + 3 * 0.05)


def test_zero_aspirated_is_empty_and_under_infusion_is_not_judged(tmp_path, capsys):
    # 10 mL at 0.5 mL/day for 30 days: the program asks 15 mL; 0 mL aspirated: 10 mL delivered (0.667)
    table = BASE.replace('horizon = "30 day"', 'horizon = "60 day"') + """
    [[session]]
    at = 2027-01-05T10:00:00
    refill = { volume = "10 mL", mix = { morphine = "5 mg/mL" } }
    rate = "0.5 mL/day"

    [[session]]
    at = 2027-02-04T10:00:00
    refill = { volume = "10 mL", mix = { morphine = "5 mg/mL" } }
    """
    status, rep = run(tmp_path, table, "2027-02-04T10:00:00,refill,0,,,\n", capsys)
    assert rep["intervals"][0]["ratio"] == pytest.approx(10 / 15)
    assert rules(rep) == {"TEL-EMPTY"} and status == 1
    # over-infusion is still judged after 0 mL: 10 mL in 16 days at 0.5 (8 mL asked): 1.25 > 1.145
    table16 = table.replace("2027-02-04T10:00:00", "2027-01-21T10:00:00")
    status, rep = run(tmp_path, table16, "2027-01-21T10:00:00,refill,0,,,\n", capsys)
    # ... and the residual of 10 - 8 = 2 mL expected, 0 aspirated, is 2 mL off (soft)
    assert rules(rep) == {"TEL-EMPTY", "TEL-OVER-INFUSION", "TEL-DISCREPANCY"}
    over = next(v for v in rep["violations"] if v["rule"] == "TEL-OVER-INFUSION")
    assert over["value"] == pytest.approx(10 / 8) and over["limit"] == pytest.approx(1.145)


def test_under_infusion_message_in_words(tmp_path, capsys):
    # 20 mL, 0.5 mL/day for 28 days asks 14.0 mL; 8.8 mL aspirated: 11.2 mL delivered (80 %)
    table = BASE.replace('horizon = "30 day"', 'horizon = "60 day"') + """
    [[session]]
    at = 2027-01-05T10:00:00
    refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
    rate = "0.5 mL/day"

    [[session]]
    at = 2027-02-02T10:00:00
    refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
    """
    status, rep = run(tmp_path, table, "2027-02-02T10:00:00,refill,8.8,,,\n", capsys)
    under = next(v for v in rep["violations"] if v["rule"] == "TEL-UNDER-INFUSION")
    assert under["value"] == pytest.approx(11.2 / 14.0) and under["limit"] == pytest.approx(0.855)
    assert ("Between the refills of 5 Jan 2027 and 2 Feb 2027 the pump delivered 11.2 mL where the program asked "
            "14.0 mL (80.0 %, below the 85.5 % the device tolerance allows): check for a motor stall or catheter "
            "occlusion, and for withdrawal") in under["message"]
    assert "14.5 %" in under["source"]
    # 8.8 mL aspirated where 6.0 mL remain: 2.8 mL more than the range, beyond 1 mL (20 mL reservoir)
    disc = next(v for v in rep["violations"] if v["rule"] == "TEL-DISCREPANCY")
    assert disc["severity"] == "soft" and disc["value"] == pytest.approx(8.8 - 6.0) and disc["limit"] == 1.0
    assert "Maino" in disc["source"]
    assert status == 1
    # text report: verdict first, the same sentence
    main(["reconcile", str(tmp_path / "t.toml"), str(tmp_path / "r.csv")])
    text = capsys.readouterr().out
    assert text.startswith("FAIL") and "delivered 11.2 mL where the program asked 14.0 mL" in text


def test_discrepancy_within_the_band(tmp_path, capsys):
    # 14.0 mL asked, residual 6.0 mL expected; 7.2 mL aspirated: ratio 12.8 / 14 = 0.914 (in the
    # band) but 1.2 mL off the residual: a soft TEL-DISCREPANCY only; 6.9 mL (0.9 off): nothing
    table = BASE.replace('horizon = "30 day"', 'horizon = "60 day"') + """
    [[session]]
    at = 2027-01-05T10:00:00
    refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
    rate = "0.5 mL/day"

    [[session]]
    at = 2027-02-02T10:00:00
    refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
    """
    status, rep = run(tmp_path, table, "2027-02-02T10:00:00,refill,7.2,,,\n", capsys)
    assert rules(rep) == {"TEL-DISCREPANCY"} and status == 0 and rep["verdict"] == "warn"
    assert rep["violations"][0]["value"] == pytest.approx(1.2)
    status, rep = run(tmp_path, table, "2027-02-02T10:00:00,refill,6.9,,,\n", capsys)
    assert rep["violations"] == [] and status == 0


def test_bolus_excess_counts_the_greedy_maximum(tmp_path, capsys):
    # [Jan 5 10:00, Jan 6 10:00] closed: grants at 10:00, 16:00, 22:00 and, 24 h after the first
    # (the window (t - 24 h, t) excludes it), Jan 6 10:00: 4 at most
    status, rep = run(tmp_path, BOLUS, "2027-01-06T10:00:00,interrogation,,19.3,4,\n", capsys)
    assert status == 0 and rep["violations"] == []
    status, rep = run(tmp_path, BOLUS, "2027-01-06T10:00:00,interrogation,,19.25,5,\n", capsys)
    (v,) = rep["violations"]
    assert v["rule"] == "TEL-BOLUS-EXCESS" and v["value"] == 5 and v["limit"] == 4 and status == 1
    # (Jan 6 10:00, Jan 6 22:00]: just after 10:00 and 16:00; 22:00+ is past: 2 at most
    csv = "2027-01-06T10:00:00,interrogation,,19.3,4,\n2027-01-06T22:00:00,interrogation,,,3,\n"
    status, rep = run(tmp_path, BOLUS, csv, capsys)
    assert [(v["rule"], v["value"], v["limit"]) for v in rep["violations"]] == [("TEL-BOLUS-EXCESS", 3, 2)]


def test_end_refill_without_row_is_not_checked_and_context_is_listed(tmp_path, capsys):
    csv = "2027-01-06T08:00:00,mri,,,,\n2027-01-06T10:00:00,interrogation,,19.4,2,\n" \
          "2027-01-06T11:00:00,alarm,,,,motor-stall\n"
    status, rep = run(tmp_path, BOLUS, csv, capsys)
    assert rep["intervals"] == []
    assert {s["rule"] for s in rep["not_checked"]} >= {"TEL-OVER-INFUSION", "TEL-UNDER-INFUSION"}
    assert rep["context"] == [{"at": "2027-01-06T08:00:00", "event": "mri", "note": ""},
                              {"at": "2027-01-06T11:00:00", "event": "alarm", "note": "motor-stall"}]


def test_drift_cusum_hand_derived():
    # ratio 0.92 every refill: z = ln(0.92) / 0.077 = -1.083 sd; the lower sum grows by |z| - 0.5
    # = 0.583 per refill and passes h = 5 at the 9th (8 x 0.583 = 4.66, 9 x 0.583 = 5.25)
    thr = thresholds()
    z = -math.log(0.92) / float(thr.drift_sigma.value) - float(thr.drift_reference.value)
    n = math.floor(float(thr.drift_threshold.value) / z) + 1
    assert n == 9
    assert cusum_alarms([0.92] * 12) == [n - 1]
    # a single refill at 0.87 (inside the band) does not alarm; nor does noise around 1
    assert cusum_alarms([0.87]) == [] and cusum_alarms([1.05, 0.95] * 20) == []
    # 1.2 every refill: z = 2.37, +1.87 per refill: the 3rd refill
    assert cusum_alarms([1.2] * 4) == [2]


def test_drift_through_reconcile(tmp_path, capsys):
    # ten 28-day intervals at 0.4 mL/day (11.2 mL asked) each delivering 0.92 x 11.2 = 10.304 mL:
    # every refill within the band and within 1 mL of its residual, TEL-DRIFT at the 9th
    start = dt.datetime(2027, 1, 5, 10)
    sessions = ""
    rows = ""
    for k in range(11):
        at = start + dt.timedelta(days=28 * k)
        sessions += f'\n[[session]]\nat = {at.isoformat()}\nrefill = {{ volume = "20 mL", mix = {{ morphine = "5 mg/mL" }} }}\n'
        if k == 0:
            sessions += 'rate = "0.4 mL/day"\n'
        else:
            rows += f"{at.isoformat()},refill,{20 - 0.92 * 11.2:.3f},,,\n"
    table = BASE.replace('horizon = "30 day"', 'horizon = "300 day"') + sessions
    status, rep = run(tmp_path, table, rows, capsys)
    assert [v["rule"] for v in rep["violations"]] == ["TEL-DRIFT"] and status == 0
    assert rep["violations"][0]["at"] == (start + dt.timedelta(days=28 * 9)).isoformat()


@pytest.mark.parametrize("csv, where, what", [
    ("time,event,volume_mL\n2027-01-08T10:00:00,refill,18.3\n", None, None),  # valid: exit 0
    ("event,volume_mL\nrefill,2\n", "header (line 1), column time", "missing column 'time'"),
    ("time,event,volume_mL\n2027-01-08 25:00,refill,2\n", "row 1 (line 2), column time", "not a date-time"),
    ("time,event,volume_mL\n2027-01-08T10:00:00,refil,2\n", "row 1 (line 2), column event", "did you mean 'refill'"),
    ("time,event,volume_mL\n2027-01-20T10:00:00,refill,2\n", "row 1 (line 2), column time", "matches no refill"),
    ("time,event,estimate_mL\n2027-01-08T10:00:00,refill,\n", "header (line 1), column volume_mL", "missing column"),
    ("time,event,volume_mL\n2027-01-08T10:00:00,refill,\n", "row 1 (line 2), column volume_mL", "aspirated volume"),
    ("time,event,volume_mL,boluses\n2027-01-06T10:00:00,interrogation,,-1\n", "row 1 (line 2), column boluses", "whole number"),
])
def test_malformed_records_exit_2_naming_line_and_column(tmp_path, capsys, csv, where, what):
    t = tmp_path / "t.toml"
    t.write_text(textwrap.dedent(BOLUS))
    r = tmp_path / "r.csv"
    r.write_text(csv)
    plots = tmp_path / "figs"
    status = main(["reconcile", str(t), str(r), "--plot", str(plots)])
    err = capsys.readouterr().err
    if where is None:
        assert status == 0
        return
    assert status == 2 and str(r) in err and where in err and what in err
    assert not plots.exists()  # nothing written


def test_every_bad_row_is_reported_at_once(tmp_path, capsys):
    t = tmp_path / "t.toml"
    t.write_text(textwrap.dedent(BOLUS))
    r = tmp_path / "r.csv"
    r.write_text(HEADER + "yesterday,refill,1,,,\n2027-01-06T10:00:00,checkup,,,,\n2027-01-06T11:00:00,interrogation,,x,,\n")
    assert main(["reconcile", str(t), str(r)]) == 2
    err = capsys.readouterr().err
    assert "row 1 (line 2), column time" in err and "row 2 (line 3), column event" in err and "row 3 (line 4), column estimate_mL" in err


def test_plot_writes_the_figure(tmp_path, capsys):
    status, _ = run(tmp_path, BOLUS, "2027-01-06T10:00:00,interrogation,,19.4,2,\n2027-01-08T10:00:00,refill,18.3,,,\n",
                    capsys, "--plot", str(tmp_path / "figs"))
    assert status == 0
    png = (tmp_path / "figs" / "reconcile.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "figs" / "reconcile.svg").exists()


def test_count_straddling_an_unrecorded_refill_is_split_by_the_greedy_bounds(tmp_path, capsys):
    table = BOLUS + """
    [[session]]
    at = 2027-01-11T10:00:00
    refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
    """
    csv = """
    2027-01-06T10:00:00,interrogation,,19.4,2,
    2027-01-09T10:00:00,interrogation,,19.4,5,
    2027-01-11T10:00:00,refill,18.2,,3,
    """
    status, rep = run(tmp_path, table, csv, capsys)
    # the refill of Jan 8 has no row: the interval Jan 5 -> Jan 8 is not checked
    assert [(iv["from"], iv["to"]) for iv in rep["intervals"]] == [("2027-01-08T10:00:00", "2027-01-11T10:00:00")]
    assert {s["reason"] for s in rep["not_checked"]} == {
        "the interval from 5 Jan 2027 to 8 Jan 2027 has no refill row at its end (no aspirated volume recorded)"}
    # 5 counted over (Jan 6 10:00, Jan 9 10:00]: before the refill, (Jan 6 10:00, Jan 8 10:00) holds
    # at most 6 (just after 10, 16, 22 h on two days), so at least 5 - 6 -> 0 fall after it; after
    # it, [Jan 8 10:00, Jan 9 10:00] holds at most 4 (10, 16, 22 h and 10 h the next day)
    basal = 3 * 0.5
    iv = rep["intervals"][0]
    assert iv["delivered_expected_low"] == pytest.approx(basal + (0 + 3) * 0.05)
    assert iv["delivered_expected_high"] == pytest.approx(basal + (4 + 3) * 0.05)
    # at Jan 9 10:00 the pump counts from the Jan 8 fill: 20 - 0.5 - (0 to 4) x 0.05
    est = rep["interrogations"][1]
    assert est["estimate_expected"] == pytest.approx(20 - 0.5)
    assert status == 0 and rep["violations"] == []


def test_aspirate_at_the_first_refill_is_not_judged(tmp_path, capsys):
    # a row at the first refill, recorded 1 h late: its 5 mL belong to an earlier fill; the first
    # interval starts at the recorded time: Jan 5 11:00 -> Jan 8 10:00 = 2 days 23 h at 0.5 mL/day
    csv = "2027-01-05T11:00:00,refill,5.0,,0,\n2027-01-08T10:00:00,refill,18.55,,0,\n"
    status, rep = run(tmp_path, BOLUS, csv, capsys)
    (iv,) = rep["intervals"]
    assert iv["from"] == "2027-01-05T11:00:00"
    assert iv["delivered_expected"] == pytest.approx(0.5 * (2 + 23 / 24))
    assert iv["delivered_observed"] == pytest.approx(20 - 18.55)
    assert status == 0 and rep["violations"] == []


def test_report_with_bad_records_writes_nothing(tmp_path, capsys):
    t = tmp_path / "t.toml"
    t.write_text(textwrap.dedent(BOLUS))
    r = tmp_path / "r.csv"
    r.write_text("time,event\n2027-01-06T10:00:00,interogation\n")
    out = tmp_path / "report.html"
    assert main(["report", str(t), "-o", str(out), "--records", str(r)]) == 2
    assert "did you mean 'interrogation'" in capsys.readouterr().err and not out.exists()
