#!/usr/bin/env bash
# Re-run mutants that mutmut marked "suspicious" (their tests ran slower than its time budget,
# so it could not tell killed from survived) without a time budget: exit 0 of the tests means
# the mutant survived. The mutated copy in mutants/src must be imported, not the installed one.
# Usage: scripts/mutation_recheck.sh < list-of-mutant-names
set -uo pipefail
cd "$(dirname "$0")/../mutants"
while read -r m; do
  [ -n "$m" ] || continue
  if PYTHONPATH=src:. MUTANT_UNDER_TEST="$m" ../.venv/bin/python -m pytest -x -q -p no:cacheprovider -p no:randomly \
      tests/test_rules_static.py tests/test_validate.py tests/test_regress.py tests/test_cli.py > /dev/null 2>&1; then
    echo "survived $m"
  else
    echo "killed $m"
  fi
done
