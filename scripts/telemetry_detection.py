"""The detection and budget tables of `pumpsim reconcile` (docs/TELEMETRY.md §6): how often each fault
is flagged, soft or hard, at the first refill after it and within the year; each rule's findings per
patient-year on fault-free histories against the budgets; TEL-DRIFT against the Lorden limit.

Every history is one simulated year of the table ``benchmarks/tables/telemetry-year.toml``
(13 refill intervals of 28 days, up to 2 days late; patient boluses; the pump's accuracy drawn
per refill interval with the published spread, sd 7.7 %), written as records by the same code as
``pumpsim telemetry --records`` (the simulation engine, the kernels' draws) and judged by
``pumpsim reconcile``. A fault starts at a random instant of the 3rd to 5th interval (rate faults)
or at its 3rd to 5th refill (pocket fill, another program, "from a refill on"); the row
"none (baseline)" draws the same random start with no fault: what the other rows must beat.

    python scripts/telemetry_detection.py            # the tables of docs/TELEMETRY.md (about 3 minutes)
    python scripts/telemetry_detection.py --quick    # a smoke run for CI (under a minute)

Columns of the detection table: "1st refill" = the fraction of histories with a finding (soft or
hard, any TEL rule) at the first refill after the fault's start (its first record: the pump is
interrogated at its refills), "1st refill hard" = the same for hard findings, "year" = with a
finding before the end of the year, "hard" = with a hard one, "refills to hard" = the median number
of refills from the start to the first hard finding (1: the first refill after it) among those
flagged hard, "drift soft/hard" = with a TEL-DRIFT finding of that tier, "first rule" = the rule
most often first. The budget table: findings per patient-year on fault-free histories, with a 95 %
interval (the ratio estimator's normal interval over histories).
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from pumpsim.io.tables import read_table
from pumpsim.model.table import Sourced
from pumpsim.rules import kit
from pumpsim.rules.kit import Violation
from pumpsim.telemetry.evidence import gather
from pumpsim.telemetry.reconcile import cusum_alarms, reconcile, thresholds
from pumpsim.telemetry.synthetic import Fault, records

TABLE = Path(__file__).resolve().parent.parent / "benchmarks" / "tables" / "telemetry-year.toml"
RULES = ("TEL-OVER-INFUSION", "TEL-UNDER-INFUSION", "TEL-EMPTY", "TEL-PROGRAM-MISMATCH", "TEL-BOLUS-EXCESS",
         "TEL-DISCREPANCY", "TEL-DRIFT")
#: The budgets of fault-free histories [findings per patient-year].
BUDGET_HARD, BUDGET_ALL = 0.05, 1.0
# (label, kind, size as shown, value, duration, starts at a refill)
FAULTS = [
    ("none (baseline)", "none", "-", None, None, False),
    ("over-infusion", "over", "+5 %", 1.05, None, False),
    ("over-infusion", "over", "+10 %", 1.10, None, False),
    ("over-infusion", "over", "+20 %", 1.20, None, False),
    ("over-infusion", "over", "+30 %", 1.30, None, False),
    ("over-infusion from a refill on", "over", "+50 %", 1.50, None, True),
    ("under-infusion", "under", "-5 %", 0.95, None, False),
    ("under-infusion", "under", "-10 %", 0.90, None, False),
    ("under-infusion", "under", "-20 %", 0.80, None, False),
    ("motor stall", "stall", "1 day", None, dt.timedelta(days=1), False),
    ("motor stall", "stall", "3 days", None, dt.timedelta(days=3), False),
    ("motor stall", "stall", "7 days", None, dt.timedelta(days=7), False),
    ("motor stall", "stall", "10 days", None, dt.timedelta(days=10), False),
    ("catheter occlusion", "occlusion", "complete", None, None, False),
    ("catheter occlusion from a refill on", "occlusion", "complete", None, None, True),
    ("pocket fill", "pocket", "1 mL", 1.0, None, True),
    ("pocket fill", "pocket", "2 mL", 2.0, None, True),
    ("pocket fill", "pocket", "4 mL", 4.0, None, True),
    ("pocket fill (half an interval)", "pocket", "7 mL", 7.0, None, True),
    ("another program", "program", "rate x 1.1", 1.1, None, True),
    ("another program", "program", "rate x 0.9", 0.9, None, True),
]


#: Variants of the thresholds for the trade-off table: (soft band half-width [fraction] or None for the
#: device's accuracy, TEL-DISCREPANCY's z). The first is the contract's.
VARIANTS = [(None, 2.576), (None, 2.807), (None, 3.0), (None, 3.291), (0.16, 2.576), (0.16, 3.0), (0.18, 2.576),
            (0.18, 3.0), (0.20, 3.0)]


def findings(ev, variant=(None, 2.576)) -> list[Violation]:
    """The TEL findings of the evidence ``ev`` with the soft band and TEL-DISCREPANCY's z of ``variant``."""
    band, z = variant
    thr = dataclasses.replace(ev.thresholds, z_prediction=Sourced(z, "variant", False))
    acc = ev.accuracy if band is None else Sourced(band, "variant", False)
    ev = dataclasses.replace(ev, thresholds=thr, accuracy=acc)
    return [f for f in kit.run("telemetry", ev) if isinstance(f, Violation)]


def _refills_between(times: list[dt.datetime], onset: dt.datetime, at: dt.datetime) -> int:
    return sum(1 for t in times if onset < t <= at) or 1


def judge_fault(rec, onset: dt.datetime, times: list[dt.datetime]) -> dict:
    """What the findings after ``onset`` say: the refills to the first finding of each kind."""
    after = [v for v in rec.violations if dt.datetime.fromisoformat(v.at) > onset]
    first_refill = min((t for t in times if t > onset), default=None)

    def first(vs):
        if not vs:
            return None
        return min(vs, key=lambda v: v.at)

    f_any, f_hard = first(after), first([v for v in after if v.severity == "hard"])
    drift = [v for v in after if v.rule == "TEL-DRIFT"]
    at_first = [v for v in after if first_refill is not None and dt.datetime.fromisoformat(v.at) <= first_refill]
    return {
        "any": f_any is not None, "hard": f_hard is not None,
        "first_any": bool(at_first), "first_hard": any(v.severity == "hard" for v in at_first),
        "refills_hard": None if f_hard is None else _refills_between(times, onset, dt.datetime.fromisoformat(f_hard.at)),
        "drift_soft": any(v.severity == "soft" for v in drift), "drift_hard": any(v.severity == "hard" for v in drift),
        "first_rule": None if f_any is None else f_any.rule,
    }


def rate_ci(counts: list[int], years: list[float]) -> tuple[float, float, float]:
    """Findings per patient-year and its 95 % interval (ratio estimator over histories)."""
    c, y = np.asarray(counts, float), np.asarray(years, float)
    r = c.sum() / y.sum()
    n = len(c)
    se = math.sqrt(np.var(c - r * y, ddof=1) / n) / y.mean() if n > 1 else float("nan")
    return r, max(r - 1.96 * se, 0.0), r + 1.96 * se


def run(n_clean: int, n_fault: int, seed: int) -> dict:
    table, _ = read_table(TABLE)
    rng = np.random.default_rng(seed)
    refills = [s.at for s in table.sessions if s.refill is not None]
    years: list[float] = []
    per: dict[str, list[int]] = collections.defaultdict(list)
    with_any = 0
    trade: dict[tuple, list[list[int]]] = {v: [[], []] for v in VARIANTS}  # all, all but TEL-EMPTY
    for k in range(n_clean):
        rows = records(table, [], seed * 1_000_003 + k)
        rec = reconcile(table, rows, "history")
        ev, _ = gather(table, rows, "history")
        for v in VARIANTS:
            fs = findings(ev, v)
            trade[v][0].append(len(fs))
            trade[v][1].append(sum(f.rule != "TEL-EMPTY" for f in fs))
        years.append((max(r.time for r in rows if r.event == "refill") - table.start).days / 365.25)
        c = collections.Counter()
        for v in rec.violations:
            c[(v.rule, v.severity)] += 1
            c[("all", "")] += 1
            if v.severity == "hard":
                c[("hard", "")] += 1
                if v.rule != "TEL-EMPTY":
                    c[("hard but TEL-EMPTY", "")] += 1
        with_any += bool(rec.violations)
        keys = [(r, s) for r in RULES for s in ("soft", "hard")] + [("hard but TEL-EMPTY", ""), ("hard", ""), ("all", "")]
        for key in keys:
            per[f"{key[0]}|{key[1]}"].append(c[key])
    clean = {key: rate_ci(v, years) for key, v in per.items()}
    tradeoff = {v: (rate_ci(a, years), rate_ci(b, years)) for v, (a, b) in trade.items()}
    out = []
    for label, kind, size, value, length, at_refill in FAULTS:
        res = []
        for k in range(n_fault):
            j = int(rng.integers(2, 5))  # the 3rd to 5th interval
            onset = refills[j] if at_refill else refills[j] + dt.timedelta(seconds=int(rng.uniform(0, 27 * 86400)))
            faults = [] if kind == "none" else [Fault(kind, onset, value, length, f"{kind}:{size}")]
            rows = records(table, faults, seed * 1_000_003 + 500_000 + k)
            rec = reconcile(table, rows, "history")
            times = [r.time for r in rows if r.event == "refill"]
            if at_refill:  # counted from the refill that carried the fault (maybe late)
                onset = min(times, key=lambda t: abs(t - onset))
            got = judge_fault(rec, onset, times)
            ev, _ = gather(table, rows, "history")
            for v in VARIANTS[1:]:
                alt = judge_fault(_Rec(findings(ev, v)), onset, times)
                got[f"first_any@{v}"], got[f"first_hard@{v}"] = alt["first_any"], alt["first_hard"]
            res.append(got)
        hard_n = [r["refills_hard"] for r in res if r["refills_hard"] is not None]
        firsts = collections.Counter(r["first_rule"] for r in res if r["first_rule"])
        out.append({"fault": label, "size": size,
                    **{key: sum(r[key] for r in res) / n_fault
                       for key in ("first_any", "first_hard", "any", "hard", "drift_soft", "drift_hard")},
                    "refills_hard": statistics.median(hard_n) if hard_n else None,
                    "first_rule": firsts.most_common(1)[0][0] if firsts else "-",
                    "variants": {v: sum(r[f"first_any@{v}"] for r in res) / n_fault for v in VARIANTS[1:]}})
    return {"clean": clean, "faults": out, "n_clean": n_clean, "n_fault": n_fault, "seed": seed,
            "years": sum(years), "share_any": with_any / n_clean, "tradeoff": tradeoff}


@dataclasses.dataclass
class _Rec:
    violations: list[Violation]


def drift_run_lengths(n: int, seed: int, biases=(0.0, 0.05, 0.10, 0.20, -0.05, -0.10, -0.20),
                      cap: int = 30000) -> dict:
    """Run lengths of the drift test alone (refills to its first alarm, soft and hard tiers) in closed
    form: ln(ratio) per refill ~ normal(ln(1 + bias), sd), sd the published spread; no table."""
    thr = thresholds()
    sd = float(thr.sd.value)
    rng = np.random.default_rng(seed)
    out = {}
    for b in biases:
        soft, hard = [], []
        for _ in range(n if b else max(n // 10, 20)):
            x = list(np.exp(np.log1p(b) + sd * rng.standard_normal(cap if b == 0.0 else 600)))
            a = cusum_alarms(x, thr)
            soft.append(a[0] + 1 if a else len(x))
            a = cusum_alarms(x, thr, hard=True)
            hard.append(a[0] + 1 if a else len(x))
        out[b] = {"soft": (float(np.mean(soft)), float(np.median(soft))),
                  "hard": (float(np.mean(hard)), float(np.median(hard)))}
    return out


def lorden(arl0: float, bias: float, sd: float) -> float:
    """The fewest refills any test with one false alarm every ``arl0`` refills needs, on average, for a
    sustained bias (Lorden 1971, asymptotically): ln(A) / (d^2 / 2), d = |ln(1 + bias)| / sd."""
    d = abs(math.log1p(bias)) / sd
    return math.log(arl0) / (d * d / 2)


def render_drift(arl: dict, refills_per_year: float) -> str:
    thr = thresholds()
    k, h, h2 = (float(thr.drift_reference.value), float(thr.drift_threshold.value),
                float(thr.drift_hard_threshold.value))
    sd = float(thr.sd.value)
    a_soft, a_hard = arl[0.0]["soft"][0], arl[0.0]["hard"][0]
    lines = [f"TEL-DRIFT alone (two-sided CUSUM, k = {k:g} sd, soft h = {h:g} sd, hard {h2:g} sd, sd {sd:g}): mean "
             "refills to the first alarm from normal ln(ratio) per refill, against the Lorden limit ln(A) / (d^2 / 2) "
             "at the same false-alarm rate (A = the mean run length without bias):", "",
             "| bias | d [sd] | soft: mean (median) | soft: Lorden limit | hard: mean (median) | hard: Lorden limit |",
             "|---|---|---|---|---|---|"]
    for b, r in arl.items():
        if b == 0:
            lines.append(f"| none | 0 | {r['soft'][0]:.0f} ({r['soft'][1]:g}) | - | {r['hard'][0]:.0f} ({r['hard'][1]:g}) | - |")
            continue
        d = abs(math.log1p(b)) / sd
        lines.append(f"| {b * 100:+.0f} % | {d:.2f} | {r['soft'][0]:.1f} ({r['soft'][1]:g}) | {lorden(a_soft, b, sd):.1f} | "
                     f"{r['hard'][0]:.1f} ({r['hard'][1]:g}) | {lorden(a_hard, b, sd):.1f} |")
    lines += ["", f"No bias: one soft false alarm every {a_soft:.0f} refills ({refills_per_year / a_soft:.3f} per "
              f"patient-year at {refills_per_year:.1f} refills a year), one hard every {a_hard:.0f} "
              f"({refills_per_year / a_hard:.3f} per patient-year)."]
    return "\n".join(lines) + "\n"


def baseline_experiment(n: int, seed: int, between: float = 0.03, years: int = 5, first: int = 3,
                        onset: int = 26, bias: float = 0.10) -> dict:
    """A per-pump baseline against none, in closed form: each pump has its own mean log-ratio drawn
    with sd ``between`` (the between-pump spread the fleet scan uses, unverified), refills around it
    with the published sd. With a baseline the CUSUM runs on ln(ratio) minus the mean of the pump's
    first ``first`` refills (scaled by sqrt(1 + 1/first)) from the refill after them. Returns soft
    false alarms per patient-year without a fault, and the mean refills to the first alarm after a
    ``bias`` starting at refill ``onset`` (among the pumps with no alarm before it)."""
    thr = thresholds()
    sd, k, h = float(thr.sd.value), float(thr.drift_reference.value), float(thr.drift_threshold.value)
    rng = np.random.default_rng(seed)
    per_year = 13
    m = years * per_year
    out = {}
    for with_base in (False, True):
        alarms, delays = 0, []
        for fault in (False, True):
            mu = between * rng.standard_normal(n)
            x = mu[:, None] + sd * rng.standard_normal((n, m))
            if fault:
                x[:, onset:] += math.log1p(bias)
            if with_base:
                z = (x - x[:, :first].mean(axis=1, keepdims=True)) / (sd * math.sqrt(1 + 1 / first))
                z[:, :first] = 0.0
            else:
                z = x / sd
            up = np.zeros(n)
            lo = np.zeros(n)
            first_alarm = np.full(n, -1)
            for i in range(m):
                up = np.maximum(0.0, up + z[:, i] - k)
                lo = np.maximum(0.0, lo - z[:, i] - k)
                hit = (up > h) | (lo > h)
                if not fault:
                    alarms += int(hit.sum())
                first_alarm[(first_alarm < 0) & hit & ((i >= onset) if fault else True)] = i
                up[hit] = 0.0
                lo[hit] = 0.0
            if fault:
                got = first_alarm[first_alarm >= onset]
                delays.append(float(np.mean(got - onset + 1)) if len(got) else float("nan"))
        out[with_base] = (alarms / (n * years), delays[0])
    return out


def render_baseline(res: dict) -> str:
    (fa0, d0), (fa1, d1) = res[False], res[True]
    return ("Per-pump baseline (closed form: pumps with their own mean, between-pump sd 0.03 of the log-ratio, "
            "five years of 13 refills; +10 % from refill 26): without a baseline "
            f"{fa0:.3f} soft drift findings per patient-year and {d0:.1f} refills to find the bias; with the mean of "
            f"the first 3 refills as baseline {fa1:.3f} and {d1:.1f}.\n")


def _m(x) -> str:
    return "-" if x is None else f"{x:g}"


def render(res: dict) -> str:
    thr = thresholds()
    lines = [f"Detection over {res['n_fault']} simulated one-year histories per fault (seed {res['seed']}); "
             f"per-refill spread sd {float(thr.sd.value):g}.", "",
             "| fault | size | 1st refill | 1st refill hard | year | hard | refills to hard | drift soft | drift hard "
             "| first rule |", "|---|---|---|---|---|---|---|---|---|---|"]
    for f in res["faults"]:
        lines.append(f"| {f['fault']} | {f['size']} | {f['first_any']:.2f} | {f['first_hard']:.2f} | {f['any']:.2f} | "
                     f"{f['hard']:.2f} | {_m(f['refills_hard'])} | {f['drift_soft']:.2f} | {f['drift_hard']:.2f} | "
                     f"{f['first_rule']} |")
    c = res["clean"]

    def cell(key: str) -> str:
        r, lo, hi = c[key]
        return f"{r:.3f} ({lo:.3f}-{hi:.3f})"

    lines += ["", f"Budget: findings per patient-year over {res['n_clean']} fault-free histories "
              f"({res['years']:.0f} patient-years), 95 % interval in brackets:", "",
              "| rule | soft | hard |", "|---|---|---|"]
    for r in RULES:
        lines.append(f"| {r} | {cell(r + '|soft')} | {cell(r + '|hard')} |")
    hard, allf = c["hard but TEL-EMPTY|"], c["all|"]
    lines += ["", "| budget | limit | measured | within |", "|---|---|---|---|",
              f"| hard findings other than TEL-EMPTY | {BUDGET_HARD:g} | {cell('hard but TEL-EMPTY|')} | "
              f"{'yes' if hard[2] <= BUDGET_HARD else 'yes (point)' if hard[0] <= BUDGET_HARD else 'NO'} |",
              f"| all findings | {BUDGET_ALL:g} | {cell('all|')} | "
              f"{'yes' if allf[2] <= BUDGET_ALL else 'yes (point)' if allf[0] <= BUDGET_ALL else 'NO'} |",
              "", f"Fault-free patient-years with at least one finding: {res['share_any']:.3f}."]
    lines += ["", "Trade-off: all findings per patient-year on the same fault-free histories, and the share of "
              "histories with a finding at the first refill after a 2 mL pocket fill and a 3-day stall, as the soft "
              "band and TEL-DISCREPANCY's z change (first row: the contract's):", "",
              "| soft band | TEL-DISCREPANCY z | all findings | all but TEL-EMPTY | pocket 2 mL, 1st refill "
              "| stall 3 days, 1st refill |", "|---|---|---|---|---|---|"]
    pocket = next(f for f in res["faults"] if f["size"] == "2 mL")
    stall = next(f for f in res["faults"] if f["size"] == "3 days")
    for v, (a, b) in res["tradeoff"].items():
        band = "device (14.5 %)" if v[0] is None else f"{v[0] * 100:g} %"
        det = [(f["first_any"] if v == VARIANTS[0] else f["variants"][v]) for f in (pocket, stall)]
        lines.append(f"| {band} | {v[1]:g} | {a[0]:.3f} ({a[1]:.3f}-{a[2]:.3f}) | {b[0]:.3f} ({b[1]:.3f}-{b[2]:.3f}) "
                     f"| {det[0]:.2f} | {det[1]:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few histories only (CI smoke run, under a minute)")
    p.add_argument("--clean", type=int, default=3000, help="fault-free histories (default 3000)")
    p.add_argument("--histories", type=int, default=300, help="histories per fault and size (default 300)")
    p.add_argument("--seed", type=int, default=2026)
    a = p.parse_args(argv)
    n_clean, n_fault = (40, 6) if a.quick else (a.clean, a.histories)
    t0 = time.perf_counter()
    res = run(n_clean, n_fault, a.seed)
    sys.stdout.write(render(res))
    sys.stdout.write("\n" + render_drift(drift_run_lengths(10 if a.quick else 2000, a.seed), 365.25 / 28))
    sys.stdout.write("\n" + render_baseline(baseline_experiment(200 if a.quick else 20000, a.seed)))
    print(f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
