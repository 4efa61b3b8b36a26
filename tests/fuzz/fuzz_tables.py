"""A mutational fuzzer for the input path: bytes -> parse -> validate (and telemetry's simulation).

Run for a set time:  .venv/bin/python tests/fuzz/fuzz_tables.py --seconds 600 [--seed 1]

Seeds are the shipped scenarios and the bad-input corpus; each case applies 1 to 8 random
mutations (byte flips, deletions, duplications, splices of other files, swaps of numbers, units,
keys and drug names for plausible others). Every input must either be accepted (and then
validate must finish) or be refused with InputError (exit 2). Anything else is a crash: the
input is written to tests/bad_inputs/fuzz-crash-<hash>.toml (to keep as a regression file once
fixed) and reported. Deterministic for a seed.
"""
from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pumpsim.io.tables import parse_table_bytes  # noqa: E402
from pumpsim.model.errors import InputError  # noqa: E402
from pumpsim.rules.validate import validate  # noqa: E402

TOKENS = [b"mL", b"uL", b"mg", b"mcg", b"g", b"h", b"min", b"day", b"week", b"month", b"%", b"/", b"-", b"0",
          b"1e308", b"nan", b"inf", b"00:00", b"23:59", b"24:00", b"morphine", b"ziconotide", b"ketamine",
          b"bupivacaine", b"off", b"true", b"[[session]]", b"refill", b"rate", b"steps", b"bolus", b"lockout",
          b"max_per_24h", b"duration", b"[variability]", b"runs = 3", b"\"", b"{", b"}", b"[", b"]", b"=",
          b"\n", b"2027-02-30T09:00:00", b"1999-01-01T00:00:00", b"9999-12-31T23:59:59"]


def seeds() -> list[bytes]:
    files = sorted((REPO / "scenarios").glob("*.toml")) + sorted((REPO / "tests" / "bad_inputs").glob("*.toml"))
    return [p.read_bytes() for p in files if p.stat().st_size < 100_000]


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(min(8, 1 + int(rng.expovariate(1.5)))):  # mostly one or two mutations
        op = rng.randrange(6)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 1 and b:
            del b[pos:pos + rng.randint(1, 16)]
        elif op == 2:
            b[pos:pos] = rng.choice(TOKENS)
        elif op == 3 and b:
            a = rng.randrange(len(b))
            b[pos:pos] = b[a:a + rng.randint(1, 64)]
        elif op == 4:
            other = rng.choice(pool)
            a = rng.randrange(len(other) + 1)
            b[pos:pos] = other[a:a + rng.randint(1, 200)]
        else:
            digits = [i for i, c in enumerate(b) if 48 <= c <= 57]
            if digits:
                i = rng.choice(digits)
                b[i:i + 1] = str(rng.choice([0, 1, 9, 10**6, 10**12])).encode()
    return bytes(b)


def run(seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    pool = seeds()
    n = accepted = refused = 0
    crashes: dict[str, str] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = mutate(rng, rng.choice(pool), pool)
        n += 1
        try:
            table, profile = parse_table_bytes(data, "fuzz.toml")
            validate(table, profile)
            accepted += 1
        except InputError:
            refused += 1
        except Exception:  # a crash: anything but a clean refusal
            key = hashlib.sha1(data).hexdigest()[:12]
            if key not in crashes:
                crashes[key] = traceback.format_exc(limit=3)
                (REPO / "tests" / "bad_inputs" / f"fuzz-crash-{key}.toml").write_bytes(data)
    print(f"fuzz: {n} inputs in {seconds:g} s (seed {seed}): {accepted} accepted, {refused} refused (exit 2), "
          f"{len(crashes)} crash(es)")
    for key, tb in crashes.items():
        print(f"--- fuzz-crash-{key}.toml\n{tb}")
    return 1 if crashes else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sys.exit(run(a.seconds, a.seed))
