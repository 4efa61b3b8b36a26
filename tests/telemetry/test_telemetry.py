"""`pumpsim telemetry`: the interrogation log as CSV, written atomically, never over an input."""
from __future__ import annotations

import csv
import os

from pumpsim.cli.main import main
from pumpsim.io import output
from tests.conftest import EXAMPLE, REPO

REFILL_EMPTY = REPO / "scenarios" / "broken" / "refill-empty.toml"


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_log_has_header_events_and_both_volumes(tmp_path):
    out = tmp_path / "log.csv"
    assert main(["telemetry", str(EXAMPLE), "-o", str(out)]) == 0
    r = rows(out)
    assert list(r[0]) == ["time", "day", "event", "value", "value_unit", "reservoir_estimate_mL",
                          "reservoir_true_mL", "programmed_rate_mL_per_day"]
    events = [x["event"] for x in r]
    assert events[:2] == ["session", "refill"] and events[-1] == "end"
    assert events.count("session") == 4
    # worst case: boluses every 6 h, at most 3 a day, until bolus = "off" on 2026-12-10T10:00
    grants = [x for x in r if x["event"] == "bolus granted"]
    assert grants[0]["time"] == "2026-12-01T09:00:00" and grants[1]["time"] == "2026-12-01T15:00:00"
    assert all(x["time"] < "2026-12-10T10:00:00" for x in grants)
    # the pump assumes the nominal rate; the worst-case pump is 14.5 % fast: true < estimate
    last = r[-1]
    assert float(last["reservoir_true_mL"]) < float(last["reservoir_estimate_mL"])
    assert r[0]["programmed_rate_mL_per_day"] == "0.096"


def test_nominal_log_shows_low_alarm_and_empty(tmp_path):
    out = tmp_path / "log.csv"
    assert main(["telemetry", str(REFILL_EMPTY), "--case", "nominal", "-o", str(out)]) == 0
    r = {x["event"]: x for x in rows(out)}
    # 20 mL at 0.5 mL/day from 2026-12-01T09:00: 2 mL left after 36 days, empty after 40
    assert r["low alarm"]["time"] == "2027-01-06T09:00:00"
    assert r["empty"]["time"] == "2027-01-10T09:00:00"
    assert float(r["empty"]["reservoir_true_mL"]) == 0.0


def test_never_overwrites_the_input(capsys):
    before = EXAMPLE.read_bytes()
    assert main(["telemetry", str(EXAMPLE), "-o", str(EXAMPLE)]) == 2
    assert EXAMPLE.read_bytes() == before
    assert "overwrite" in capsys.readouterr().err


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    out = tmp_path / "log.csv"
    out.write_text("old")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    try:
        output.write_atomic(out, "new contents")
    except KeyboardInterrupt:
        pass
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]
