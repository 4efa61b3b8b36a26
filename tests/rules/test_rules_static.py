"""Each static rule: a table that breaks it, one that sits exactly at the limit, the source."""
import pytest

from pumpsim.rules import static  # noqa: F401  (registers the static rules)
from pumpsim.rules.kit import Skipped, Violation, run
from tests.conftest import parse


def table(sessions: str, pump: str = 'model = "synchromed-ii-20"', head: str = "", patient: str = "") -> str:
    return f'schema = "pumpsim.table/1"\nhorizon = "30 day"\n{head}\n[pump]\n{pump}\n{patient}\n{sessions}'


def S(at: str, refill: str | None = None, rate: str | None = None, extra: str = "") -> str:
    out = f"[[session]]\nat = {at}\n"
    if refill:
        out += f"refill = {refill}\n"
    if rate:
        out += f'rate = "{rate}"\n'
    return out + extra


def found(text: str, rule: str, profile: str | None = None) -> list[Violation]:
    t, p = parse(text, profile=profile)
    return [f for f in run("static", t, p, only=[rule]) if isinstance(f, Violation)]


def skipped(text: str, rule: str) -> list[Skipped]:
    t, p = parse(text)
    return [f for f in run("static", t, p, only=[rule]) if isinstance(f, Skipped)]


MORPH = '{ volume = "20 mL", mix = { morphine = "5 mg/mL" } }'
D1, D2, D3, D4 = "2026-12-01T09:00:00", "2026-12-03T09:00:00", "2026-12-05T09:00:00", "2026-12-10T09:00:00"


def test_mix_drug_count():
    four = '{ volume = "20 mL", mix = { morphine = "5 mg/mL", ziconotide = "25 mcg/mL", ropivacaine = "2 mg/mL", clonidine = "50 mcg/mL" } }'
    (v,) = found(table(S(D1, four, "0.1 mL/day")), "MIX-DRUG-COUNT")
    assert (v.severity, v.value, v.limit, v.unit) == ("hard", 4, 3, "molecules")
    assert "≤ 3" in v.source and v.verified
    three = four.replace(', clonidine = "50 mcg/mL"', "")
    assert found(table(S(D1, three, "0.1 mL/day")), "MIX-DRUG-COUNT") == []


def test_incompatible_in_one_syringe_and_in_the_line():
    sd = 'model = "syringe-driver-50"\nroute = "subcutaneous"'
    both = '{ volume = "20 mL", mix = { ketamine = "10 mg/mL", diazepam = "1 mg/mL" } }'
    (v,) = found(table(S(D1, both, "2 mL/day"), sd), "MIX-INCOMPATIBLE")
    assert v.drug == "diazepam+ketamine" and v.severity == "hard" and "diazépam" in v.source
    # ketamine follows a phenobarbital mix: they meet in the line (dead volume given)
    seq = S(D1, '{ volume = "20 mL", mix = { phenobarbital = "1 mg/mL" } }', "2 mL/day") + \
        S(D2, '{ volume = "20 mL", mix = { ketamine = "10 mg/mL" } }')
    (v,) = found(table(seq, sd + '\ndead_volume = "1 mL"'), "MIX-INCOMPATIBLE")
    assert "line" in v.message and v.session == 2
    assert found(table(seq, sd + '\ndead_volume = "0 mL"'), "MIX-INCOMPATIBLE") == []


def test_ketamine_is_not_intrathecal():
    ket = '{ volume = "20 mL", mix = { ketamine = "10 mg/mL" } }'
    (v,) = found(table(S(D1, ket, "0.5 mL/day")), "DRUG-ROUTE")
    assert v.drug == "ketamine" and v.severity == "hard" and "kétamine" in v.source
    sd = 'model = "syringe-driver-50"\nroute = "subcutaneous"'
    assert found(table(S(D1, ket, "2 mL/day"), sd), "DRUG-ROUTE") == []


@pytest.mark.parametrize("conc,n", [("50 mg/mL", 0), ("50.0000001 mg/mL", 1), ("50000 mcg/mL", 0), ("51 mg/mL", 1)])
def test_conc_max_is_strictly_above_with_tolerance(conc, n):
    got = found(table(S(D1, f'{{ volume = "20 mL", mix = {{ morphine = "{conc}" }} }}', "0.1 mL/day")), "CONC-MAX")
    assert len(got) == n
    if n:
        assert got[0].limit == 50 and got[0].unit == "mg/mL" and "50 mg/mL" in got[0].source


def test_conc_max_under_pacc_and_unit_of_ziconotide():
    got = found(table(S(D1, MORPH.replace("5 mg/mL", "25 mg/mL"), "0.1 mL/day")), "CONC-MAX", profile="pacc-2017")
    assert got[0].limit == 20 and got[0].verified is False
    (z,) = found(table(S(D1, '{ volume = "20 mL", mix = { ziconotide = "0.2 mg/mL" } }', "0.01 mL/day")), "CONC-MAX")
    assert (z.value, z.limit, z.unit) == (200, 100, "mcg/mL")


def test_rate_range_checks_every_flex_step():
    steps = 'steps = [ { from = "00:00", rate = "0.04 mL/day" }, { from = "08:00", rate = "25 mL/day" } ]\n'
    got = found(table(S(D1, MORPH, extra=steps)), "RATE-RANGE")
    assert sorted(v.value for v in got) == [0.04, 25.0]
    assert found(table(S(D1, MORPH, "0.048 mL/day")), "RATE-RANGE") == []
    assert found(table(S(D1, MORPH, "2 uL/h")), "RATE-RANGE") == []  # 0.048 mL/day exactly
    sd = 'model = "syringe-driver-50"\nroute = "intrathecal"'
    assert {s.rule for s in skipped(table(S(D1, MORPH, "1 mL/day"), sd), "RATE-RANGE")} == {"RATE-RANGE"}


def test_overfill():
    (v,) = found(table(S(D1, MORPH.replace("20 mL", "20.5 mL"), "0.5 mL/day")), "OVERFILL")
    assert (v.value, v.limit) == (20.5, 20)
    assert found(table(S(D1, MORPH, "0.5 mL/day")), "OVERFILL") == []


ZIC25 = '{ volume = "20 mL", mix = { ziconotide = "25 mcg/mL" } }'


def test_zic_start_hard_soft_and_exact_limit():
    assert found(table(S(D1, ZIC25, "0.048 mL/day")), "ZIC-START") == []           # 1.2 mcg/day exactly
    (v,) = found(table(S(D1, ZIC25, "0.096 mL/day")), "ZIC-START")                 # 2.4: soft only
    assert (v.severity, v.limit) == ("soft", 1.2)
    (v,) = found(table(S(D1, ZIC25, "0.1 mL/day")), "ZIC-START")                   # 2.5: hard
    assert (v.severity, v.value, v.limit) == ("hard", pytest.approx(2.5), 2.4)


def test_zic_step_judges_the_increase():
    seq = S(D1, ZIC25, "0.048 mL/day") + S(D3, rate="0.144 mL/day") + S(D4, rate="0.25 mL/day")
    (v,) = found(table(seq), "ZIC-STEP")  # 1.2 -> 3.6 is +2.4 (allowed); 3.6 -> 6.25 is +2.65
    assert v.value == pytest.approx(2.65) and v.limit == 2.4 and v.session == 3


def test_zic_interval_48h_exactly_allowed_and_decreases_not_judged():
    ok = S(D1, ZIC25, "0.048 mL/day") + S(D2, rate="0.096 mL/day")                 # 48 h later
    assert found(table(ok), "ZIC-INTERVAL") == []
    early = S(D1, ZIC25, "0.048 mL/day") + S("2026-12-03T08:59:00", rate="0.096 mL/day")
    (v,) = found(table(early), "ZIC-INTERVAL")
    assert v.value == pytest.approx(48 - 1 / 60) and v.limit == 48 and v.unit == "h"
    # a decrease 1 h after the start is not judged, but the next increase counts from it
    down_up = S(D1, ZIC25, "0.048 mL/day") + S("2026-12-01T10:00:00", rate="0.04 mL/day") + \
        S("2026-12-03T09:30:00", rate="0.06 mL/day")
    (v,) = found(table(down_up), "ZIC-INTERVAL")
    assert v.session == 3 and v.value == pytest.approx(47.5)


def test_zic_interval_pacc_counts_increases_in_seven_days():
    seq = S(D1, ZIC25, "0.02 mL/day")
    for k, day in enumerate((3, 5, 7, 9), start=1):
        seq += S(f"2026-12-{day:02d}T09:00:00", rate=f"{0.02 + 0.02 * k:.2f} mL/day")
    assert found(table(seq), "ZIC-INTERVAL") == []
    (v,) = found(table(seq), "ZIC-INTERVAL", profile="pacc-2017")  # 4th increase within 7 days (days 3,5,7,9)
    assert (v.value, v.limit, v.session) == (4, 3, 5)


def test_zic_contraindication():
    pat = "[patient]\npsychosis = true\n"
    (v,) = found(table(S(D1, ZIC25, "0.048 mL/day"), patient=pat), "ZIC-CONTRAINDICATION")
    assert v.severity == "hard" and "psychose" in v.source
    assert found(table(S(D1, MORPH, "0.1 mL/day"), patient=pat), "ZIC-CONTRAINDICATION") == []


def test_dose_step_down_and_stopping():
    seq = S(D1, MORPH, "0.4 mL/day") + S(D2, rate="0.2 mL/day") + S(D3, rate="0.09 mL/day")
    (v,) = found(table(seq), "DOSE-STEP-DOWN")  # 50 % exactly allowed; then 55 %
    assert v.value == pytest.approx(55) and v.limit == 50 and v.severity == "soft" and v.session == 3
    stop = S(D1, MORPH, "0.4 mL/day") + S(D2, '{ volume = "20 mL", mix = { ropivacaine = "2 mg/mL" } }')
    (v,) = found(table(stop), "DOSE-STEP-DOWN")
    assert v.value == pytest.approx(100) and v.drug == "morphine"


def test_opioid_conversion():
    pat = '[patient]\nprior_oral_morphine = "300 mg/day"\n'
    assert found(table(S(D1, MORPH, "0.2 mL/day"), patient=pat), "OPIOID-CONVERSION") == []  # 1 mg/day = 300/300
    (v,) = found(table(S(D1, MORPH, "0.3 mL/day"), patient=pat), "OPIOID-CONVERSION")
    assert v.value == pytest.approx(1.5) and v.limit == pytest.approx(1.0) and "équi-analgésiques" in v.source
    assert skipped(table(S(D1, MORPH, "0.3 mL/day")), "OPIOID-CONVERSION")


def test_granuloma_at_or_above():
    assert found(table(S(D1, MORPH.replace("5 mg/mL", "19.9 mg/mL"), "0.1 mL/day")), "GRANULOMA-RISK") == []
    (v,) = found(table(S(D1, MORPH.replace("5 mg/mL", "20 mg/mL"), "0.1 mL/day")), "GRANULOMA-RISK")
    assert v.severity == "soft" and v.limit == 20


def test_refill_stability_by_mix():
    long = 'schema = "pumpsim.table/1"\nhorizon = "200 day"\n[pump]\nmodel = "synchromed-ii-40"\n'
    # morphine alone: 90 days; refill at day 90 exactly is allowed, at day 91 is not
    ok = S(D1, MORPH, "0.1 mL/day") + S("2027-03-01T09:00:00", MORPH)  # 90 days later
    # the first mix stays exactly 90 days (allowed); the second stays 110 days to the horizon
    assert [v.session for v in found(long + ok, "REFILL-STABILITY")] == [2]
    late = S(D1, MORPH, "0.1 mL/day") + S("2027-03-02T09:00:00", MORPH)
    v = found(long + late, "REFILL-STABILITY")[0]
    assert (v.value, v.limit, v.drug, v.session) == (91, 90, "morphine", 1)
    # ziconotide undiluted 84 days, mixed 40, naive 14
    zic = S(D1, ZIC25, "0.048 mL/day") + S("2027-02-23T09:00:00", ZIC25)  # 84 days
    assert [v.session for v in found(long + zic, "REFILL-STABILITY")] == [2]  # the second stays to day 200
    mixed = S(D1, '{ volume = "20 mL", mix = { ziconotide = "25 mcg/mL", morphine = "5 mg/mL" } }', "0.048 mL/day") + \
        S("2027-01-11T09:00:00", MORPH)  # 41 days
    v = found(long + mixed, "REFILL-STABILITY")[0]
    assert (v.value, v.limit, v.drug) == (41, 40, "ziconotide")
    naive = long.replace('synchromed-ii-40"', 'synchromed-ii-40"\nziconotide_naive = true') + \
        S(D1, ZIC25, "0.048 mL/day") + S("2026-12-16T09:00:00", ZIC25)  # 15 days
    v = found(naive, "REFILL-STABILITY")[0]
    assert (v.value, v.limit, v.session) == (15, 14, 1)


@pytest.mark.parametrize("limit", [0.002, 2.4, 5000.0])
def test_limits_are_compared_with_a_relative_tolerance_of_1e_9(limit):
    from pumpsim.model.tolerances import RTOL, above, at_or_above

    assert RTOL == 1e-9  # FORMAT.md §4
    # "above" is strict beyond the tolerance: silent at the limit and within 1e-9 of it
    assert not above(limit, limit)
    assert not above(limit * (1 + 0.5e-9), limit)
    assert above(limit * (1 + 2e-9), limit)
    # "at or above" is inclusive within the tolerance
    assert at_or_above(limit, limit)
    assert at_or_above(limit * (1 - 0.5e-9), limit)
    assert not at_or_above(limit * (1 - 2e-9), limit)
