"""The generated tables are valid input, and the same table in other units reads the same."""
from hypothesis import given, settings

from .conftest import parse
from .strategies.tables import table_specs, to_toml


@settings(max_examples=150, deadline=None)
@given(table_specs())
def test_generated_tables_parse_and_units_do_not_matter(spec):
    a, _ = parse(to_toml(spec))
    b, _ = parse(to_toml(spec, alt_units=True))
    assert len(a.sessions) == len(spec["sessions"])
    assert a.horizon == b.horizon or abs(a.horizon - b.horizon) <= 1e-12 * a.horizon
    for pa, pb in zip(a.programs, b.programs):
        assert abs(pa.mean_rate - pb.mean_rate) <= 1e-9 * pa.mean_rate
        for (da, ca), (db, cb) in zip(pa.mix, pb.mix):
            assert da == db and abs(ca - cb) <= 1e-9 * ca
