"""A mutational fuzzer for every reader and command that takes a user's file or argument:
telemetry records (``reconcile``), patient files (``pathway``), session programs (``program``)
and the arguments of ``titrate``. Tables have their own target (``fuzz_tables.py``).

Run for a set time:  .venv/bin/python tests/fuzz/fuzz_inputs.py --target records --seconds 600 [--seed 1]
(``--target all`` shares the time between the four).

Each case mutates a shipped example (the mutations of ``fuzz_tables.py``, plus tokens of the
target's own format) and runs the command in this process, exactly as ``pumpsim`` would. Every
case must end with exit 0, 1 or 2 and print no traceback, within :data:`SLOW` seconds. Anything
else is recorded: the input is written under ``tests/fuzz/crashes/`` (to keep as a regression
file once fixed) and reported. The summary line gives the number of inputs, the exits 0/1/2, the
crashes and the slow cases. Deterministic for a seed (up to which cases fit in the time).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

from fuzz_tables import mutate  # noqa: E402

from pumpsim.cli.main import main  # noqa: E402

SLOW = 30.0  # [s]: a case slower than this is reported as a hang
TABLE = REPO / "benchmarks" / "tables" / "telemetry-year.toml"
TITRATE_TABLE = REPO / "docs" / "examples" / "ziconotide-start.toml"

TOKENS = {
    "records": [b",", b"\r", b"\r\n", b"\n", b"\"", b"interrogation", b"refill", b"bolus", b"note", b"1e308", b"-1",
                b"nan", b"9999-12-31T23:59:59", b"0001-01-01T00:00:00", b"2027-02-30T09:00:00", b"\xef\xbc\x91",
                b"\xd9\xa3", b"1_0", b"9" * 400, b"x" * 200_000],
    "patient": [b"[labs]", b"[dates]", b"[patient]", b"[[treatment]]", b"prothrombin", b"inr", b"aptt", b"platelets",
                b"apixaban", b"warfarin", b"lmwh", b"methadone", b"= { at = 2027-01-04 }", b"9999-12-31", b"0001-01-01",
                b"2027-02-30", b"\"70 %\"", b"\"1.5\"", b"\"150 G/L\"", b"true", b"[[", b"]]", b"{", b"}"],
    "program": [b"[[administration]]", b"[[review]]", b"ketamine", b"esketamine", b"setting = \"home\"",
                b"monitoring = \"60 min\"", b"route = \"intravenous\"", b"route = \"oral\"", b"dose = \"0.5 mg/kg\"",
                b"weight = \"70 kg\"", b"9999-12-31T23:59:59", b"0001-01-01T00:00:00", b"[[", b"]]", b"{", b"}"],
}
TARGET_WORDS = ["9.6 mcg/day", "1.19999999 mcg/day", "0 mcg/day", "1e308 mcg/day", "nan mcg/day", "9.6 mg/day",
                "9.6", "-1 mcg/day", "9.6 mL/day", "24 mcg/day", "2.4 mcg/day", "21.6 mcg/day"]
TITRATE_FLAGS = [["--drug", "ziconotide"], ["--drug", "morphine"], ["--drug", "x"], ["--format", "json"],
                 ["--clinic", "mon,thu"], ["--clinic", "xyz"], ["--clinic", "mon 09:00"], ["--profile", "pacc-2017"],
                 ["--profile", "none"], ["--start", "2027-01-01"], ["--start", "9999-12-31"]]


def seeds(target: str) -> list[bytes]:
    pattern = {"records": ("scenarios/records", "*.csv"), "patient": ("scenarios/patients", "*.toml"),
               "program": ("scenarios/programs", "**/*.toml")}[target]
    return [p.read_bytes() for p in sorted((REPO / pattern[0]).glob(pattern[1])) if p.stat().st_size < 200_000]


def mutate_for(rng: random.Random, target: str, pool: list[bytes]) -> bytes:
    data = mutate(rng, rng.choice(pool), pool)
    if rng.random() < 0.5:  # a token of the target's own format
        b = bytearray(data)
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = rng.choice(TOKENS[target])
        data = bytes(b)
    return data


def titrate_argv(rng: random.Random) -> list[str]:
    argv = ["titrate", str(TITRATE_TABLE), "--drug", "ziconotide", "--target", rng.choice(TARGET_WORDS)]
    for _ in range(rng.randrange(3)):
        argv += rng.choice(TITRATE_FLAGS)
    return argv


def run_case(argv: list[str]) -> tuple[int | None, str, float]:
    """Run one command in-process; (exit status or None on an escaped exception, stderr, seconds)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse: usage errors
            code = e.code if isinstance(e.code, int) else 2
        except Exception:
            return None, traceback.format_exc(limit=4), time.monotonic() - t0
    return code, err.getvalue(), time.monotonic() - t0


def run(seconds: float, seed: int, target: str = "all") -> int:
    targets = ["records", "patient", "program", "titrate"] if target == "all" else [target]
    rng = random.Random(seed)
    pools = {t: seeds(t) for t in targets if t != "titrate"}
    exits: Counter = Counter()
    crashes: dict[str, str] = {}
    slow: list[tuple[str, float]] = []
    n = 0
    crash_dir = REPO / "tests" / "fuzz" / "crashes"
    end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="pumpsim-fuzz-") as tmp:
        while time.monotonic() < end:
            t = targets[n % len(targets)]
            n += 1
            if t == "titrate":
                argv = titrate_argv(rng)
                data = " ".join(argv).encode()
                argv += ["-o", str(Path(tmp) / "t.toml")]
                ext = ".args"
            else:
                data = mutate_for(rng, t, pools[t])
                ext = ".csv" if t == "records" else ".toml"
                path = Path(tmp) / f"fuzz{ext}"
                path.write_bytes(data)
                argv = {"records": ["reconcile", str(TABLE), str(path)], "patient": ["pathway", str(path)],
                        "program": ["program", str(path)]}[t]
            code, err, dt = run_case(argv)
            exits[code] += 1
            key = f"{t}-{hashlib.sha1(data).hexdigest()[:12]}"
            bad = code is None or code not in (0, 1, 2) or "Traceback" in err
            if bad and key not in crashes:
                crashes[key] = err[-2000:]
                crash_dir.mkdir(exist_ok=True)
                (crash_dir / f"{key}{ext}").write_bytes(data)
            if dt > SLOW:
                slow.append((key, dt))
                crash_dir.mkdir(exist_ok=True)
                (crash_dir / f"slow-{key}{ext}").write_bytes(data)
    print(f"fuzz {'+'.join(targets)}: {n} inputs in {seconds:g} s (seed {seed}): exit 0: {exits[0]}, exit 1: {exits[1]}, "
          f"exit 2: {exits[2]}, {len(crashes)} crash(es), {len(slow)} over {SLOW:g} s")
    for key, tb in crashes.items():
        print(f"--- {key}\n{tb}")
    for key, dt in slow:
        print(f"--- slow {key}: {dt:.1f} s")
    return 1 if crashes or slow else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target", choices=["all", "records", "patient", "program", "titrate"], default="all")
    a = ap.parse_args()
    sys.exit(run(a.seconds, a.seed, a.target))
