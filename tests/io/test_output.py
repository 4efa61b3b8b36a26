"""The one writer of every command (pumpsim.io.output): whole or untouched, permissions kept,
links followed, devices written through, stale temporary files of killed writers removed, a
folder of figures swapped whole."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from pumpsim.io.output import OutputError, check_destination, check_folder, write_atomic, write_folder


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    out = tmp_path / "report.html"
    out.write_text("old")
    os.chmod(out, 0o600)
    write_atomic(out, "new")
    assert out.read_text() == "new" and mode(out) == 0o600


def test_a_new_private_file_is_0600_and_a_new_public_one_follows_the_umask(tmp_path):
    write_atomic(tmp_path / "patient.html", "x", private=True)
    assert mode(tmp_path / "patient.html") == 0o600
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "table.toml", "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "table.toml") == 0o644


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_device_is_written_through_not_replaced(tmp_path):
    write_atomic("/dev/null", "anything")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    if os.path.exists("/dev/full"):
        with pytest.raises(OutputError) as e:
            write_atomic("/dev/full", "x" * 10_000)
        assert "/dev/full" in str(e.value) and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_stale_temporary_files_of_dead_writers_are_removed_on_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    stale = tmp_path / f".out.csv.{pid}.abc123.tmp"
    stale.write_text("half")
    mine = tmp_path / f".out.csv.{os.getpid()}.zzz.tmp"  # a live writer's file is left alone
    mine.write_text("in progress")
    other = tmp_path / ".other.csv.1.abc.tmp"  # another output's file is not ours to judge here
    other.write_text("x")
    write_atomic(tmp_path / "out.csv", "done")
    assert not stale.exists() and mine.exists() and other.exists()
    assert (tmp_path / "out.csv").read_text() == "done"


def test_a_missing_or_unwritable_folder_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_destination(tmp_path / "no" / "x.csv", [])
    with pytest.raises(OutputError, match="overwrite an input"):
        check_destination(tmp_path / "in.toml", [tmp_path / "in.toml"])
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o500)
        with pytest.raises(OutputError, match="not writable"):
            check_destination(ro / "x.csv", [])


def test_an_output_folder_is_created_but_never_its_missing_parents(tmp_path):
    assert check_folder(tmp_path / "figs", [], ["a.png"]) == tmp_path / "figs"
    with pytest.raises(OutputError, match="does not exist"):
        check_folder(tmp_path / "no" / "figs", [], ["a.png"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_folder(tmp_path / "file", [], ["a.png"])


def test_a_folder_is_written_whole_and_keeps_the_files_that_are_not_ours(tmp_path):
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "reservoir.png").write_bytes(b"old")
    (figs / "notes.txt").write_text("mine")
    written = write_folder(figs, {"reservoir.png": b"new", "doses.png": b"new"})
    assert written == [figs / "reservoir.png", figs / "doses.png"]
    assert (figs / "reservoir.png").read_bytes() == b"new" and (figs / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs"]  # no temporary folder left


def test_a_folder_swap_cut_between_its_renames_is_undone_on_the_next_write(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    figs = tmp_path / "figs"
    old = tmp_path / f".figs.old.{dead}.x1"  # the killed writer had moved the old folder away
    old.mkdir()
    (old / "reservoir.png").write_bytes(b"old")
    half = tmp_path / f".figs.new.{dead}.x2"
    half.mkdir()
    (half / "reservoir.png").write_bytes(b"half")
    write_folder(figs, {"doses.png": b"new"})
    assert (figs / "reservoir.png").read_bytes() == b"old" and (figs / "doses.png").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs"]


def test_a_failed_folder_write_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "reservoir.png").write_bytes(b"old")
    real = os.rename
    failed = []

    def boom(src, dst):  # the new folder cannot take the old one's place (once)
        if str(dst) == str(figs) and ".figs.new." in str(src) and not failed:
            failed.append(src)
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(OutputError, match="No space left"):
        write_folder(figs, {"reservoir.png": b"new"})
    assert (figs / "reservoir.png").read_bytes() == b"old"  # the old folder is back, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs"]
