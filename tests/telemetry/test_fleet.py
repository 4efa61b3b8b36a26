"""pumpsim fleet: ingest (all or nothing, idempotent), scan (the group test, Dask or not), simulate."""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import pytest

from pumpsim.cli.main import main
from pumpsim.io.fleetdb import FleetStore
from pumpsim.model.errors import InputError
from pumpsim.telemetry.fleet.grouptest import cusum, innovations
from pumpsim.telemetry.fleet.ingest import ingest
from pumpsim.telemetry.fleet.scan import scan, sig6
from pumpsim.telemetry.fleet.simulate import simulate_fleet

pytest.importorskip("duckdb")

ONSET = "2027-07-01"


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Path:
    """3 lots of 10 pumps over 2 years; every pump of lot L2 delivers 10 % more from 1 July 2027."""
    out = tmp_path_factory.mktemp("fleet") / "faulty"
    simulate_fleet(out, 30, 2, seed=1, lot_size=10, faults=[f"lot=L2:over:1.10@{ONSET}"], workers=1)
    return out


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    """The same fleet without the fault."""
    out = tmp_path_factory.mktemp("fleet") / "healthy"
    simulate_fleet(out, 30, 2, seed=1, lot_size=10, workers=1)
    return out


@pytest.fixture(scope="module")
def faulty_db(faulty, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("db") / "fleet.duckdb"
    ingest(db, faulty / "manifest.csv")
    return db


# --------------------------------------------------------------------------- the group test, by hand
def test_innovations_by_hand():
    # sigma 0.077, tau 0.03. First refill x = 0.1: prior mean 0, variance 0.077^2 + 0.03^2 = 0.006829,
    # z = 0.1 / 0.0826378 = 1.21010. Second x = 0: precision 1/0.0009 + 1/0.005929 = 1279.77, mean
    # (0.1 / 0.005929) / 1279.77 = 0.0131789, variance 0.005929 + 1/1279.77 = 0.0067104, z = -0.160884.
    # Another pump's first refill x = -0.05 is judged on the prior alone: z = -0.605050.
    z = innovations([(1, "A", 0.1), (2, "A", 0.0), (3, "B", -0.05)], 0.077, 0.03)
    assert z == pytest.approx([1.21010, -0.160884, -0.605050], abs=2e-6)


def test_cusum_signals_one_step_past_the_threshold():
    # k 0.25, h 20: steps of 5.25 add 5 each; 20 after four is AT the threshold: no signal
    up, lo, first = cusum([5.25] * 4, 0.25, 20.0)
    assert up == [5.0, 10.0, 15.0, 20.0] and first is None and lo == [0.0] * 4
    up, lo, first = cusum([5.25] * 3 + [5.26], 0.25, 20.0)
    assert first == 3 and up[3] == pytest.approx(20.01)
    _, lo, first = cusum([-5.25] * 3 + [-5.26], 0.25, 20.0)
    assert first == 3 and lo[3] == pytest.approx(20.01)


def test_six_significant_digits():
    assert sig6(1.0544213) == 1.05442 and sig6(20.08479) == 20.0848 and sig6(0.0) == 0.0 and sig6(None) is None


# --------------------------------------------------------------------------- simulate
def test_simulate_writes_lots_of_k_consecutive_pumps_one_model_each(faulty):
    rows = list(csv.DictReader((faulty / "manifest.csv").read_text(encoding="utf-8").splitlines()))
    assert [r["pump_id"] for r in rows[:2]] == ["P00001", "P00002"] and len(rows) == 30
    assert [r["lot"] for r in rows] == ["L1"] * 10 + ["L2"] * 10 + ["L3"] * 10
    for lot in ("L1", "L2", "L3"):
        assert len({r["model"] for r in rows if r["lot"] == lot}) == 1
    truth = json.loads((faulty / "fleet.json").read_text())
    assert truth["faults"] == [{"group": "lot", "name": "L2", "spec": f"over:1.10@{ONSET}"}]
    # the tables span the 2 years asked from 2027-01-04
    table = (faulty / rows[0]["table"]).read_text()
    assert "at = 2027-01-04T09:00:00" in table and 'horizon = "730 day"' in table


def test_simulate_rejects_a_group_that_is_not_in_the_fleet(tmp_path, capsys):
    rc = main(["fleet", "simulate", str(tmp_path / "x"), "--pumps", "4", "--years", "1", "--lot-size", "2",
               "--fault", "lot=L7:over:1.05@2027-06-01", "--fault", "lot=L1:over:0.9@2027-06-01"])
    err = capsys.readouterr().err
    assert rc == 2 and "--fault[1]" in err and "no lot 'L7'" in err
    assert "--fault[2]" in err and "factor 0.9 out of range for over" in err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- ingest
def test_ingest_twice_changes_nothing_and_new_rows_append(faulty, tmp_path):
    src = tmp_path / "f"
    shutil.copytree(faulty, src)
    full = (src / "records" / "P00001.csv").read_text()
    lines = full.splitlines(keepends=True)
    (src / "records" / "P00001.csv").write_text("".join(lines[:11]))  # the header and 10 rows
    db = tmp_path / "fleet.duckdb"
    first = ingest(db, src / "manifest.csv")
    with FleetStore(db, read_only=True) as s:
        before = s.counts()
    assert first.new_pumps == 30 and before["pumps"] == 30 and before["records"] == first.new_rows
    again = ingest(db, src / "manifest.csv")
    assert (again.new_pumps, again.new_tables, again.new_assignments, again.new_rows) == (0, 0, 0, 0)
    assert again.kept_rows == first.new_rows
    with FleetStore(db, read_only=True) as s:
        assert s.counts() == before
    (src / "records" / "P00001.csv").write_text(full)  # the same file, grown: its new rows append
    grown = ingest(db, src / "manifest.csv")
    assert grown.new_rows == len(lines) - 11
    with FleetStore(db, read_only=True) as s:
        assert s.counts()["records"] == before["records"] + len(lines) - 11


def test_a_bad_manifest_is_rejected_whole_with_nothing_written(faulty, tmp_path, capsys):
    src = tmp_path / "f"
    shutil.copytree(faulty, src)
    rows = (src / "manifest.csv").read_text().splitlines()
    rows[2] = rows[2].replace("P00002", "P00001")  # a pump twice
    rows[3] = rows[3].replace(",L1,", ",L1,").split(",")[0] + ",no-such-pump,L1," + ",".join(rows[3].split(",")[3:])
    rows[4] = ",".join(rows[4].split(",")[:3] + ["tables/missing.toml"] + rows[4].split(",")[4:])
    (src / "manifest.csv").write_text("\n".join(rows) + "\n")
    rec = src / "records" / "P00006.csv"
    text = rec.read_text().splitlines()
    text[3] = text[3].replace(",refill,", ",refil,") if ",refill," in text[3] else text[3].replace(",interrogation,", ",interogation,")
    rec.write_text("\n".join(text) + "\n")
    db = tmp_path / "fleet.duckdb"
    rc = main(["fleet", "ingest", str(db), str(src / "manifest.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "nothing was written" in err
    assert "row 2 (line 3), column pump_id: pump 'P00001' is listed twice (line 2)" in err
    assert "row 3 (line 4), column model: unknown device model 'no-such-pump'" in err
    assert "row 4 (line 5), column table: table file 'tables/missing.toml' not found" in err
    assert "P00006.csv: row 3 (line 4), column event: unknown event" in err
    assert not db.exists()
    # with a database already there: still nothing written
    ingest(db, faulty / "manifest.csv")
    with FleetStore(db, read_only=True) as s:
        before = s.counts()
    assert main(["fleet", "ingest", str(db), str(src / "manifest.csv")]) == 2
    with FleetStore(db, read_only=True) as s:
        assert s.counts() == before


def test_a_stored_row_with_other_values_and_a_changed_lot_are_input_errors(faulty, tmp_path):
    src = tmp_path / "f"
    shutil.copytree(faulty, src)
    db = tmp_path / "fleet.duckdb"
    ingest(db, src / "manifest.csv")
    rec = src / "records" / "P00003.csv"
    rows = rec.read_text().splitlines()
    k = next(i for i, r in enumerate(rows) if ",refill," in r)
    cells = rows[k].split(",")
    cells[2] = f"{float(cells[2]) + 0.5:.2f}"
    rows[k] = ",".join(cells)
    rec.write_text("\n".join(rows) + "\n")
    man = (src / "manifest.csv").read_text().replace("P00004,", "P00004,X,", 1)
    man = man.replace("P00004,X,", "P00004,", 1)
    lines = man.splitlines()
    lines[5] = lines[5].replace(",L1,", ",L9,")  # P00005 moved to another lot
    (src / "manifest.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        ingest(db, src / "manifest.csv")
    msgs = [str(p) for p in e.value.problems]
    assert any("P00003.csv" in m and f"line {k + 1}" in m and "is stored with volume" in m for m in msgs)
    assert any("pump P00005 is stored with model" in m and "column lot" in m for m in msgs)


def test_a_model_that_is_not_the_tables_is_an_input_error(faulty, tmp_path):
    src = tmp_path / "f"
    shutil.copytree(faulty, src)
    lines = (src / "manifest.csv").read_text().splitlines()
    cells = lines[1].split(",")
    other = "synchromed-ii-40" if cells[1] != "synchromed-ii-40" else "synchromed-ii-20"
    lines[1] = ",".join([cells[0], other] + cells[2:])
    (src / "manifest.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as e:
        ingest(tmp_path / "x.duckdb", src / "manifest.csv")
    assert [p.field for p in e.value.problems] == ["row 1 (line 2), column model"]
    assert not (tmp_path / "x.duckdb").exists()


# --------------------------------------------------------------------------- scan
def test_a_plus_10_percent_lot_is_signalled_and_the_others_are_not(faulty_db):
    rep = scan(faulty_db)
    by = {g.value: g for g in rep.groups}
    assert set(by) == {"L1", "L2", "L3"}
    g = by["L2"]
    assert g.signal and g.direction == "over" and g.pumps == 10
    assert dt.datetime.fromisoformat(ONSET) < g.signal_at < dt.datetime(2028, 1, 1)
    assert g.onset <= g.signal_at and g.statistic > g.threshold
    assert g.mean_ratio > 1.03 and g.ci95[0] < g.mean_ratio < g.ci95[1]
    assert not by["L1"].signal and not by["L3"].signal
    assert rep.exit_status == 1 and rep.verdict == "fail"
    assert len(rep.pumps) == 30


def test_no_signal_on_the_fault_free_fleet(healthy, tmp_path):
    db = tmp_path / "h.duckdb"
    ingest(db, healthy / "manifest.csv")
    for by in ("lot", "model"):
        rep = scan(db, by=by)
        assert rep.groups and not rep.signalling, [(g.value, g.statistic) for g in rep.groups]
        assert all(g.statistic < g.threshold for g in rep.groups)


def test_the_mean_ratio_is_the_geometric_mean_of_the_groups_refills(faulty_db):
    rep = scan(faulty_db)
    xs = [x for p, o in rep.pumps if p.lot == "L1" for _, x, _ in o.refills]
    g = next(g for g in rep.groups if g.value == "L1")
    assert g.refills == len(xs) and g.mean_ratio == pytest.approx(math.exp(sum(xs) / len(xs)), rel=1e-12)


def test_since_keeps_the_later_refills_only(faulty_db):
    rep = scan(faulty_db, since=dt.datetime(2028, 1, 1))
    assert all(at >= dt.datetime(2028, 1, 1) for _, o in rep.pumps for at, _, _ in o.refills)
    assert sum(g.refills for g in rep.groups) < sum(g.refills for g in scan(faulty_db).groups)


def test_scan_gives_the_same_json_with_and_without_dask_local(faulty_db, capsys):
    assert main(["fleet", "scan", str(faulty_db), "--format", "json"]) == 1
    plain = capsys.readouterr().out
    assert main(["fleet", "scan", str(faulty_db), "--format", "json", "--dask", "local"]) == 1
    assert capsys.readouterr().out == plain
    assert main(["fleet", "scan", str(faulty_db), "--format", "json", "--workers", "1"]) == 1
    assert capsys.readouterr().out == plain
    doc = json.loads(plain)
    assert doc["schema"] == "pumpsim.fleet/1" and [g["value"] for g in doc["groups"] if g["signal"]] == ["L2"]
    assert {"pump_id", "verdict", "rules", "last_refill"} <= set(doc["pumps"][0])


def test_the_text_report_leads_with_the_signalling_groups_then_hard_pumps(faulty_db, tmp_path, capsys):
    assert main(["fleet", "scan", str(faulty_db), "--plot", str(tmp_path / "plots")]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("FAIL: 1 group(s) signal")
    assert lines[2] == "Groups that signal (a delivery bias shared by the group's pumps):"
    assert lines[3].startswith("  lot L2 (") and "OVER-infusion signalled on" in lines[3]
    if "Pumps with hard findings:" in out:
        assert out.index("Pumps with hard findings:") > out.index("Groups that signal")
    assert sorted(p.name for p in (tmp_path / "plots").iterdir())[0].startswith("fleet-lot-L2-")


def test_scan_of_a_missing_database_is_exit_2(tmp_path, capsys):
    assert main(["fleet", "scan", str(tmp_path / "none.duckdb")]) == 2
    assert "no fleet database at this path" in capsys.readouterr().err


def test_a_file_that_is_not_a_fleet_database_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "notes.duckdb"
    bad.write_text("not a database\n")
    assert main(["fleet", "scan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "fleet database" in err
    assert bad.read_text() == "not a database\n"
