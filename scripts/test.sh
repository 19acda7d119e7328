#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is needed first
# (scripts/setup.sh), then type-checks and runs the service, extension, Python and UI tests.
set -euo pipefail
export PIP_RETRIES=0
cd "$(dirname "$0")/.."

bash scripts/setup.sh --browser
export PATH="$PWD/.venv/bin:$PATH"

failed=()
run() {
  local name=$1
  shift
  echo "=== $name: $*"
  if "$@"; then echo "=== $name: passed"; else echo "=== $name: FAILED"; failed+=("$name"); fi
}

run typecheck npm run --silent typecheck
run service npm run --silent test:service
run extension npx jest --ci
run python .venv/bin/python -m pytest -q tests/python
if [ -d ui-tests ]; then
  run ui bash ui-tests/run.sh
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
