"""The fuzz target runs (briefly, in CI); the long run is documented in the README."""
import importlib.util
from pathlib import Path


def test_fuzz_target_finds_no_crash_in_a_short_run(capsys):
    path = Path(__file__).parent / "fuzz" / "fuzz_tables.py"
    spec = importlib.util.spec_from_file_location("fuzz_tables", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.run(3.0, seed=3) == 0
    out = capsys.readouterr().out
    assert "0 crash(es)" in out and "accepted" in out
