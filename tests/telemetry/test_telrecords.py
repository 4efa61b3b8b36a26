"""`pumpsim telemetry --records`: records a pump would write, reconciled back (round trip), faults."""
from __future__ import annotations

import json
import textwrap

import pytest

from pumpsim.cli.main import main
from pumpsim.io.records import read_records
from tests.conftest import BASE

# 4 refills 28 days apart at 0.5 mL/day (14 mL asked per interval), boluses on request, refills up
# to 2 days late, the pump's accuracy drawn per refill interval (sd 3 %, never beyond 10 %).
TABLE = BASE.replace('horizon = "30 day"', 'horizon = "90 day"') + """
[[session]]
at = 2027-01-05T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
rate = "0.5 mL/day"
bolus = { volume = "20 uL", lockout = "4 h", max_per_24h = 4 }

[[session]]
at = 2027-01-20T10:00:00
rate = "0.45 mL/day"

[[session]]
at = 2027-02-02T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }
rate = "0.5 mL/day"

[[session]]
at = 2027-03-02T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }

[[session]]
at = 2027-03-30T10:00:00
refill = { volume = "20 mL", mix = { morphine = "5 mg/mL" } }

[variability]
pump_accuracy  = { dist = "normal", sd = "3 %", clip = "10 %", per = "refill" }
bolus_requests = { dist = "poisson", per_day = 2.0 }
refill_delay   = { dist = "uniform", low = "0 day", high = "2 day" }
"""


def write(tmp_path, table: str = TABLE):
    t = tmp_path / "t.toml"
    t.write_text(textwrap.dedent(table))
    return t


def records(tmp_path, *args: str, table: str = TABLE, name: str = "r.csv"):
    t = write(tmp_path, table)
    out = tmp_path / name
    assert main(["telemetry", str(t), "--records", "-o", str(out), *args]) == 0
    return t, out


def reconcile(t, out, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    status = main(["reconcile", str(t), str(out), "--format", "json"])
    return status, json.loads(capsys.readouterr().out)


def hard(rep: dict) -> set[str]:
    return {v["rule"] for v in rep["violations"] if v["severity"] == "hard"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fault_free_records_reconcile_without_hard_finding(tmp_path, capsys, seed):
    t, out = records(tmp_path, "--seed", str(seed))
    rows = read_records(out)
    events = [r.event for r in rows]
    # an interrogation at each of the 5 sessions, a refill row at each of the 3 refills after the first
    assert events.count("interrogation") == 5 and events.count("refill") == 3
    status, rep = reconcile(t, out, capsys)
    assert hard(rep) == set() and status == 0
    assert len(rep["intervals"]) == 3
    # the pump's display follows the table's program: each estimate within 0.01 mL (CSV rounding)
    assert all(abs(i["estimate_observed"] - i["estimate_expected"]) <= 0.0051 for i in rep["interrogations"])
    # the pump's accuracy is drawn per refill interval: the ratios differ between intervals
    ratios = [iv["ratio"] for iv in rep["intervals"]]
    assert max(ratios) - min(ratios) > 1e-3 and all(0.9 - 0.01 < r < 1.1 + 0.01 for r in ratios)


def test_one_factor_per_run_gives_the_same_ratio_every_interval(tmp_path, capsys):
    # per = "run" (the default), no boluses, no delays: every interval delivers factor x 14 mL
    table = TABLE.replace(', per = "refill"', "").replace('bolus_requests = { dist = "poisson", per_day = 2.0 }\n', "")
    t, out = records(tmp_path, "--seed", "4", table=table)
    status, rep = reconcile(t, out, capsys)
    ratios = [iv["ratio"] for iv in rep["intervals"]]
    assert max(ratios) - min(ratios) < 0.002 and abs(ratios[0] - 1) > 1e-4


def test_same_seed_same_records(tmp_path):
    _, a = records(tmp_path, "--seed", "7", name="a.csv")
    _, b = records(tmp_path, "--seed", "7", name="b.csv")
    _, c = records(tmp_path, "--seed", "8", name="c.csv")
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("fault, rule", [
    ("over:1.3@2027-02-05", "TEL-OVER-INFUSION"),  # 1.3 x 14 mL: ratio 1.3 > 1.145
    ("under:0.7@2027-02-05", "TEL-UNDER-INFUSION"),
    ("stall@2027-02-10T10:00/10day", "TEL-UNDER-INFUSION"),  # 10 of 28 days without delivery: about 0.64
    ("occlusion@2027-03-05", "TEL-UNDER-INFUSION"),
    ("pocket:3mL@2027-02-02", "TEL-OVER-INFUSION"),  # 17 mL in the reservoir: 3 mL aspirated, 17 delivered
    ("program:1.3@2027-02-02", "TEL-PROGRAM-MISMATCH"),  # the display falls 30 % faster than the table's
])
def test_each_injected_fault_fires_its_rule(tmp_path, capsys, fault, rule):
    t, out = records(tmp_path, "--seed", "1", "--fault", fault)
    status, rep = reconcile(t, out, capsys)
    assert rule in hard(rep) and status == 1


def test_stall_and_mri_rows_are_context(tmp_path, capsys):
    t, out = records(tmp_path, "--fault", "stall@2027-02-10T10:00/1day", "--fault", "mri@2027-03-10T14:00/12h")
    status, rep = reconcile(t, out, capsys)
    ctx = [(c["at"], c["event"], c["note"]) for c in rep["context"]]
    assert ("2027-02-10T10:00:00", "alarm", "motor-stall") in ctx
    assert any(c[:2] == ("2027-03-10T14:00:00", "mri") for c in ctx)


def test_pocket_fill_keeps_the_entered_volume_in_the_display(tmp_path, capsys):
    # 1 mL outside the reservoir: the pump still counts from the 20 mL entered; no mismatch
    t, out = records(tmp_path, "--seed", "1", "--fault", "pocket:1mL@2027-02-02")
    status, rep = reconcile(t, out, capsys)
    assert "TEL-PROGRAM-MISMATCH" not in hard(rep)


@pytest.mark.parametrize("spec, words", [
    ("overfill:1.3@2027-02-05", "did you mean 'over'"),
    ("over:0.9@2027-02-05", "above 1"),
    ("stall@2027-02-05", "needs a duration"),
    ("over:1.3@someday", "not a date"),
    ("stall@2027-02-05/3 parsec", "duration"),
    ("pocket:3mL@2027-02-20", "no refill of the table"),
    ("over:1.3@2028-02-05", "outside the simulated span"),
])
def test_bad_fault_spec_exits_2_and_writes_nothing(tmp_path, capsys, spec, words):
    t = write(tmp_path)
    out = tmp_path / "r.csv"
    assert main(["telemetry", str(t), "--records", "-o", str(out), "--fault", spec]) == 2
    assert words in capsys.readouterr().err and not out.exists()


def test_fault_without_records_is_refused(tmp_path, capsys):
    t = write(tmp_path)
    assert main(["telemetry", str(t), "-o", str(tmp_path / "x.csv"), "--fault", "over:1.3@2027-02-05"]) == 2
    assert "--records" in capsys.readouterr().err


def test_pump_accuracy_per_must_be_run_or_refill(tmp_path, capsys):
    t = write(tmp_path, TABLE.replace('per = "refill"', 'per = "visit"'))
    assert main(["validate", str(t)]) == 2
    assert "variability.pump_accuracy.per" in capsys.readouterr().err


def test_report_with_records_adds_the_figure(tmp_path, capsys):
    t, out = records(tmp_path, "--seed", "1")
    plain, with_records = tmp_path / "a.html", tmp_path / "b.html"
    assert main(["report", str(t), "-o", str(plain)]) == 0
    assert main(["report", str(t), "-o", str(with_records), "--records", str(out)]) == 0
    n_plain = plain.read_text().count('class="figure"')
    assert with_records.read_text().count('class="figure"') == n_plain + 1
    assert "Telemetry records r.csv" in with_records.read_text()
