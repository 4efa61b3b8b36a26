#!/usr/bin/env bash
# Mutation testing of the safety rules and the limit computations (not part of CI: ~15 min).
#   .venv/bin/pip install mutmut && scripts/mutation.sh
# Configuration: [tool.mutmut] in pyproject.toml. Results: .venv/bin/mutmut results / browse.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf mutants
.venv/bin/mutmut run --max-children "${JOBS:-2}" > /dev/null 2>&1 || true
.venv/bin/mutmut results > mutants/results.txt 2>/dev/null || true
total=$(grep -c "__mutmut_" mutants/results.txt || true)
python3 - <<'PY'
import re, subprocess
out = subprocess.run([".venv/bin/mutmut", "results", "--all", "true"], capture_output=True, text=True).stdout
states = re.findall(r"__mutmut_\d+: (\w+)", out)
from collections import Counter
c = Counter(states)
killed = c.get("killed", 0); survived = c.get("survived", 0)
total = sum(c.values())
print(f"mutants: {total}; " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
if total:
    print(f"mutation score: {100 * killed / max(1, killed + survived):.1f} % (killed / (killed + survived))")
PY
