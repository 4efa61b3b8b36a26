"""The command line as users and CI call it: exit codes, JSON on stdout, errors on stderr."""
import json
import subprocess
import sys

from pumpsim.cli.main import main, rules_markdown
from tests.conftest import EXAMPLE, REPO


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pumpsim.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_bad_input_exits_2_names_file_and_field_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('rate   = "0.096 mL/day"', 'rate   = "0.096 mg/day"'))
    before = set(tmp_path.iterdir())
    r = run("validate", str(bad), "--format", "json")
    assert r.returncode == 2
    assert r.stdout == ""
    assert str(bad) in r.stderr and "session[1].rate" in r.stderr and "flow rate" in r.stderr
    assert "Traceback" not in r.stderr
    assert set(tmp_path.iterdir()) == before


def test_unknown_profile_option_exits_2(capsys):
    assert main(["validate", str(EXAMPLE), "--profile", "fr-ait-2021"]) == 2
    err = capsys.readouterr().err
    assert "fr-ait-2020" in err and "--profile" in err


def test_user_profile_file_is_validated_like_a_table(tmp_path, capsys):
    prof = tmp_path / "hospital.toml"
    prof.write_text('schema = "pumpsim.profile/1"\nname = "chu-x"\nbase = "fr-ait-2020"\n'
                    '[drugs.morphine]\nmax_concentraton = { value = "30 mg/mL", source = "CHU X", verified = true }\n')
    assert main(["profiles", str(prof)]) == 2
    err = capsys.readouterr().err
    assert "drugs.morphine.max_concentraton" in err and "max_concentration" in err
    prof.write_text('schema = "pumpsim.profile/1"\nname = "chu-x"\nbase = "fr-ait-2020"\n'
                    '[drugs.morphine]\nmax_concentration = { value = "4 mg/mL", source = "CHU X drug library 2026", verified = true }\n')
    assert main(["profiles", str(prof), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["chu-x"]["drugs"]["morphine"]["max_concentration"]["source"] == "CHU X drug library 2026"
    assert data["chu-x"]["drugs"]["ziconotide"]["daily_hard"]["value"] == "21.6 mcg/day"  # inherited


def test_devices_and_profiles_list_what_ships(capsys):
    assert main(["devices", "--format", "json"]) == 0
    devs = json.loads(capsys.readouterr().out)
    assert set(devs) == {"synchromed-ii-20", "synchromed-ii-40", "prometra-ii-20", "prometra-ii-40",
                         "constant-flow-30", "syringe-driver-50"}
    assert devs["synchromed-ii-20"]["low_alarm"]["verified"] is False
    assert devs["synchromed-ii-20"]["accuracy"]["verified"] is True and "ANZCA" in devs["synchromed-ii-20"]["accuracy"]["source"]
    assert main(["profiles", "--format", "json"]) == 0
    profs = json.loads(capsys.readouterr().out)
    assert set(profs) == {"fr-ait-2020", "pacc-2017"}
    # PACC figures recalled, not read from the paper, ship unverified (values PACC as tabulated elsewhere may be verified)
    recalled = [s for d in profs["pacc-2017"]["drugs"].values() for s in d.values() if "as recalled" in s["source"]]
    assert recalled and all(not s["verified"] for s in recalled)
    assert main(["devices"]) == 0
    assert "UNVERIFIED" in capsys.readouterr().out


def test_readme_rule_table_is_the_generated_one():
    readme = (REPO / "README.md").read_text()
    start, end = "<!-- rules:start -->", "<!-- rules:end -->"
    block = readme[readme.index(start) + len(start):readme.index(end)].strip()
    assert block == rules_markdown().strip(), "regenerate with: pumpsim rules --format markdown"


def test_usage_errors_exit_2():
    r = run("validate")
    assert r.returncode == 2 and "usage" in r.stderr
