#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is needed first
# (scripts/setup.sh), then type-checks, lints (eslint; ruff, pinned and configured in
# pyproject.toml), checks the import rules (.dependency-cruiser.cjs) and runs the service,
# extension, Python and UI tests.
set -euo pipefail
export PIP_RETRIES=0
cd "$(dirname "$0")/.."

bash scripts/setup.sh --browser
export PATH="$PWD/.venv/bin:$PATH"

# Trino's install (cold: s3s-fs built with cargo, Trino from Maven, ~15 min) runs beside the
# first suites; the Trino step's own install.sh waits for it (it holds a lock) and reports any
# failure again in the step's output.
mkdir -p "${WARDEN_CACHE:-$HOME/.cache/warden}"
bash scripts/trino/install.sh > "${WARDEN_CACHE:-$HOME/.cache/warden}/trino-install.log" 2>&1 &

failed=()
run() {
  local name=$1
  shift
  echo "=== $name: $*"
  if "$@"; then echo "=== $name: passed"; else echo "=== $name: FAILED"; failed+=("$name"); fi
}

run typecheck npm run --silent typecheck
run lint npm run --silent lint
run ruff .venv/bin/ruff check .
run ruff-format .venv/bin/ruff format --check .
run dependencies npm run --silent check:deps
run service npm run --silent test:service
run extension npx jest --ci
run python .venv/bin/python -m pytest -q tests/python
# The multi-user deployment (scripts/hub: JupyterHub, OS users, IdP), installed as root.
run hub .venv/bin/python -m pytest -q -p no:cacheprovider tests/hub
# Last but the UI: its install has been running since the start.
run trino bash scripts/trino/test.sh
if [ -d ui-tests ]; then
  run ui bash ui-tests/run.sh
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
