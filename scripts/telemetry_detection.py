"""The detection table of `pumpsim reconcile` (README, docs/TELEMETRY.md): how often each fault is
flagged and after how many refills, and each rule's false alarms on fault-free histories.

Every history is one simulated year of the table ``benchmarks/tables/telemetry-year.toml``
(13 refill intervals of 28 days, up to 2 days late; patient boluses; the pump's accuracy drawn
per refill interval with the published spread, sd 7.7 %), written as records by the same code as
``pumpsim telemetry --records`` (the simulation engine, one run per history, two with a pocket
fill) and judged by ``pumpsim reconcile``. A fault starts at a random instant of the 3rd to 5th
interval (rate faults) or at its 3rd to 5th refill (pocket fill, another program); the row
"none (baseline)" draws the same random start with no fault: what the other rows must beat.

    python scripts/telemetry_detection.py            # the README table (about 3 minutes)
    python scripts/telemetry_detection.py --quick    # a smoke run for CI (a few seconds)

Columns: P(flag) = fraction of histories with a finding of any TEL rule but TEL-DISCREPANCY
after the fault's start (after the refill that carried it, for a pocket fill or another program) (hard or soft; TEL-DISCREPANCY fires on about a third of fault-free
refills at the published spread, so it detects nothing by itself); P(hard) = the same for hard findings; "refills" = the median number of
refills from the start of the fault to the first finding (1: at the first refill after it),
among the histories flagged; "first rule" = the rule most often first. False alarms: findings
per patient-year, and the fraction of patient-years with at least one, on fault-free histories.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from pumpsim.io.tables import read_table
from pumpsim.telemetry.reconcile import reconcile, thresholds
from pumpsim.telemetry.synthetic import Fault, records

TABLE = Path(__file__).resolve().parent.parent / "benchmarks" / "tables" / "telemetry-year.toml"
NOISY = ("TEL-DISCREPANCY",)  # fires on a third of fault-free refills: not counted as detection (see the doc)
RULES = ("TEL-OVER-INFUSION", "TEL-UNDER-INFUSION", "TEL-EMPTY", "TEL-PROGRAM-MISMATCH", "TEL-BOLUS-EXCESS",
         "TEL-DISCREPANCY", "TEL-DRIFT")
# (label, kind, size as shown, value, duration)
FAULTS = [
    ("none (baseline)", "none", "-", None, None),
    ("over-infusion", "over", "+5 %", 1.05, None),
    ("over-infusion", "over", "+10 %", 1.10, None),
    ("over-infusion", "over", "+20 %", 1.20, None),
    ("over-infusion", "over", "+30 %", 1.30, None),
    ("under-infusion", "under", "-5 %", 0.95, None),
    ("under-infusion", "under", "-10 %", 0.90, None),
    ("under-infusion", "under", "-20 %", 0.80, None),
    ("motor stall", "stall", "1 day", None, dt.timedelta(days=1)),
    ("motor stall", "stall", "3 days", None, dt.timedelta(days=3)),
    ("motor stall", "stall", "7 days", None, dt.timedelta(days=7)),
    ("catheter occlusion", "occlusion", "complete", None, None),
    ("pocket fill", "pocket", "1 mL", 1.0, None),
    ("pocket fill", "pocket", "2 mL", 2.0, None),
    ("pocket fill", "pocket", "4 mL", 4.0, None),
    ("another program", "program", "rate x 1.1", 1.1, None),
    ("another program", "program", "rate x 0.9", 0.9, None),
]


def first_flags(rec, onset: dt.datetime, refill_times: list[dt.datetime]):
    """(refills from the onset to the first finding, its rule, whether any hard) or None."""
    after = [v for v in rec.violations if dt.datetime.fromisoformat(v.at) > onset and v.rule not in NOISY]
    if not after:
        return None
    first = min(after, key=lambda v: v.at)
    at = dt.datetime.fromisoformat(first.at)
    n = sum(1 for t in refill_times if onset < t <= at) or 1
    hard = [v for v in after if v.severity == "hard"]
    hard_n = None
    if hard:
        h_at = dt.datetime.fromisoformat(min(hard, key=lambda v: v.at).at)
        hard_n = sum(1 for t in refill_times if onset < t <= h_at) or 1
    drift = [v for v in after if v.rule == "TEL-DRIFT"]
    drift_n = None
    if drift:
        d_at = dt.datetime.fromisoformat(drift[0].at)
        drift_n = sum(1 for t in refill_times if onset < t <= d_at) or 1
    return n, first.rule, hard_n, drift_n


def run(n_clean: int, n_fault: int, seed: int) -> dict:
    table, _ = read_table(TABLE)
    rng = np.random.default_rng(seed)
    refills = [s.at for s in table.sessions if s.refill is not None]
    years = 0.0
    counts = collections.Counter()
    years_with = collections.Counter()
    for k in range(n_clean):
        rows = records(table, [], seed * 1_000_003 + k)
        rec = reconcile(table, rows, "history")
        span = (max(r.time for r in rows if r.event == "refill") - table.start).days / 365.25
        years += span
        seen = set()
        for v in rec.violations:
            counts[v.rule] += 1
            seen.add(v.rule)
        for r in seen:
            years_with[r] += 1
        any_rule = bool(seen)
        years_with["any"] += any_rule
        counts["any"] += len(rec.violations)
    clean = {r: {"per_year": counts[r] / years, "share_with": years_with[r] / n_clean} for r in (*RULES, "any")}
    clean["years"] = years
    out = []
    for label, kind, size, value, length in FAULTS:
        flagged = hard_flagged = drift_flagged = 0
        delays, hard_delays, drift_delays = [], [], []
        firsts = collections.Counter()
        for k in range(n_fault):
            j = int(rng.integers(2, 5))  # the 3rd to 5th interval
            if kind in ("pocket", "program"):
                onset = refills[j]
            else:
                onset = refills[j] + dt.timedelta(seconds=int(rng.uniform(0, 27 * 86400)))
            faults = [] if kind == "none" else [Fault(kind, onset, value, length, f"{kind}:{size}")]
            rows = records(table, faults, seed * 1_000_003 + 500_000 + k)
            rec = reconcile(table, rows, "history")
            times = [r.time for r in rows if r.event == "refill"]
            if kind in ("pocket", "program"):  # counted from the refill that carried the fault (maybe late)
                onset = min(times, key=lambda t: abs(t - onset))
            got = first_flags(rec, onset, times)
            if got is None:
                continue
            n, rule, hard_n, drift_n = got
            flagged += 1
            delays.append(n)
            firsts[rule] += 1
            if hard_n is not None:
                hard_flagged += 1
                hard_delays.append(hard_n)
            if drift_n is not None:
                drift_flagged += 1
                drift_delays.append(drift_n)
        out.append({"fault": label, "size": size, "p_flag": flagged / n_fault, "p_hard": hard_flagged / n_fault,
                    "refills": statistics.median(delays) if delays else None,
                    "refills_hard": statistics.median(hard_delays) if hard_delays else None,
                    "p_drift": drift_flagged / n_fault,
                    "refills_drift": statistics.median(drift_delays) if drift_delays else None,
                    "first_rule": firsts.most_common(1)[0][0] if firsts else "-"})
    return {"clean": clean, "faults": out, "n_clean": n_clean, "n_fault": n_fault, "seed": seed}


def drift_run_lengths(n: int, seed: int, biases=(0.0, 0.05, 0.10, 0.20, -0.05, -0.10, -0.20),
                      cap: int = 20000) -> dict:
    """Run length of the drift test alone (refills to its first alarm), in closed form: ln(ratio) per
    refill ~ normal(ln(1 + bias), sigma), sigma the published spread; no table, no simulation."""
    from pumpsim.telemetry.reconcile import cusum_alarms

    thr = thresholds()
    sigma = float(thr.drift_sigma.value)
    rng = np.random.default_rng(seed)
    out = {}
    for b in biases:
        lengths = []
        for _ in range(n if b else max(n // 10, 20)):
            x = np.exp(np.log1p(b) + sigma * rng.standard_normal(cap if b == 0.0 else 400))
            al = cusum_alarms(list(x), thr)
            lengths.append(al[0] + 1 if al else len(x))
        out[b] = (float(np.mean(lengths)), float(np.median(lengths)))
    return out


def render_drift(arl: dict, refills_per_year: float) -> str:
    thr = thresholds()
    k, h = float(thr.drift_reference.value), float(thr.drift_threshold.value)
    mean0 = arl[0.0][0]
    lines = [f"TEL-DRIFT alone (two-sided CUSUM, k = {k:g} sd, h = {h:g} sd, sd {float(thr.drift_sigma.value):g}), "
             "run lengths from normal ln(ratio) per refill:", "",
             "| bias | mean refills to alarm | median |", "|---|---|---|"]
    for b, (m, med) in arl.items():
        lines.append(f"| {'none' if b == 0 else f'{b * 100:+.0f} %'} | {m:.1f} | {med:g} |")
    lines += ["", f"No bias: one false alarm every {mean0:.0f} refills, {refills_per_year / mean0:.3f} per patient-year "
              f"at {refills_per_year:.1f} refills a year."]
    return "\n".join(lines) + "\n"


def _m(x) -> str:
    return "-" if x is None else f"{x:g}"


def render(res: dict) -> str:
    thr = thresholds()
    lines = [f"Detection over {res['n_fault']} simulated one-year histories per fault (seed {res['seed']}); "
             f"per-refill spread sd {float(thr.drift_sigma.value):g}.", "",
             "| fault | size | P(flag) | refills to flag | P(hard) | refills to hard | P(TEL-DRIFT) | refills to drift "
             "| first rule |", "|---|---|---|---|---|---|---|---|---|"]
    for f in res["faults"]:
        lines.append(f"| {f['fault']} | {f['size']} | {f['p_flag']:.2f} | {_m(f['refills'])} | {f['p_hard']:.2f} | "
                     f"{_m(f['refills_hard'])} | {f['p_drift']:.2f} | {_m(f['refills_drift'])} | {f['first_rule']} |")
    c = res["clean"]
    lines += ["", f"False alarms over {res['n_clean']} fault-free histories ({c['years']:.0f} patient-years):", "",
              "| rule | findings per patient-year | patient-years with one or more |", "|---|---|---|"]
    for r in (*RULES, "any"):
        lines.append(f"| {r} | {c[r]['per_year']:.3f} | {c[r]['share_with']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few histories only (CI smoke run)")
    p.add_argument("--clean", type=int, default=2000, help="fault-free histories (default 2000)")
    p.add_argument("--histories", type=int, default=300, help="histories per fault and size (default 300)")
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args(argv)
    n_clean, n_fault = (60, 8) if a.quick else (a.clean, a.histories)
    t0 = time.perf_counter()
    res = run(n_clean, n_fault, a.seed)
    sys.stdout.write(render(res))
    sys.stdout.write("\n" + render_drift(drift_run_lengths(20 if a.quick else 2000, a.seed), 365.25 / 28))
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
