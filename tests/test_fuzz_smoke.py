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


def test_the_fuzzer_of_records_patients_programs_and_titrate_finds_no_crash_in_a_short_run(capsys):
    path = Path(__file__).parent / "fuzz" / "fuzz_inputs.py"
    spec = importlib.util.spec_from_file_location("fuzz_inputs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.run(6.0, seed=3, target="all") == 0
    out = capsys.readouterr().out
    assert ", 0 crash(es), 0 over 30 s" in out
    n = int(out.split(" inputs in ")[0].rsplit(" ", 1)[-1])
    assert n >= 8, out  # every target ran at least twice
