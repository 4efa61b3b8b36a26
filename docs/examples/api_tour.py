# %% [markdown]
# # A tour of the pumpsim Python API
#
# Notebook-style: each `# %%` is a cell (Jupyter with jupytext, VS Code and Spyder run them one by
# one), and a plain script the test suite runs from the root of the repository:
#
#     python docs/examples/api_tour.py [FOLDER]
#
# The figure goes into FOLDER (else into a new temporary folder). docs/API.md documents the functions.

# %%
import sys
import tempfile
from pathlib import Path

import pumpsim

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FOLDER = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pumpsim-tour-"))
FOLDER.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Validate a shipped scenario
# `late-refill.toml`: a SynchroMed II filled with 20 mL at 0.5 mL/day on 2026-12-01 09:00, refilled
# 38 days later. `validate` simulates the nominal, worst and programmed cases once and judges them.

# %%
table = pumpsim.load_table(SCENARIOS / "late-refill.toml")
result = pumpsim.validate(table)
print(f"verdict: {result.verdict} (exit status {result.exit_status})")

# %% [markdown]
# ## Read a violation
# Its instant is a `datetime.datetime` (`at`) and a number of seconds since the first session (`t`);
# its value and limit are in `unit`; `source` names the document behind the limit.

# %%
violation = next(v for v in result.violations if v.rule == "REFILL-EMPTY-WORST")
print(f"{violation.rule} ({violation.severity}): {violation.value:.4g} {violation.unit} without drug, "
      f"judged at the session of {violation.at:%Y-%m-%d %H:%M}")
worst = result.reservoir["worst"]
print(f"worst case: the reservoir is empty at {worst.empty_at:%Y-%m-%d %H:%M:%S} (t = {worst.empty_t:.0f} s)")
nominal = result.reservoir["nominal"]
print(f"nominal case: low alarm at {nominal.low_alarm_at:%Y-%m-%d %H:%M}; "
      f"{len(result.nominal.t)} breakpoints simulated")
for drug, dose in result.doses.items():
    print(f"{drug}: at most {dose.max_24h_worst:.4g} {dose.unit} in any 24 h (worst case)")

# %% [markdown]
# ## A figure, without touching matplotlib's global state
# Each figure function of `pumpsim.plots` takes the result and returns a `matplotlib.figure.Figure`
# (a notebook shows it; `savefig` writes it). Nothing is simulated again.

# %%
figure = pumpsim.plots.reservoir_figure(result)
png = FOLDER / "reservoir.png"
figure.savefig(png, dpi=100)
print(f"figure: {png}, {png.stat().st_size} bytes")

# %% [markdown]
# ## Monte-Carlo runs over the [variability] section
# `variability-late-refills.toml`: pump accuracy, bolus requests and refill delays drawn per run.

# %%
simulation = pumpsim.simulate(pumpsim.load_table(SCENARIOS / "variability-late-refills.toml"), runs=1000, seed=3)
low, high = simulation.p_empty_ci95
print(f"{simulation.runs} runs: the reservoir ran dry in {100 * simulation.p_empty:.3g} % of runs "
      f"(95 % CI {100 * low:.3g}-{100 * high:.3g} %)")
