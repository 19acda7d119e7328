#!/usr/bin/env bash
# Installs everything the demo and the tests need, idempotently: npm packages, the Python
# venv (scripts/python-env.sh), the built service and labextension. `--browser` also installs
# Debian's Chromium for the UI tests. Safe to run again: each step is skipped when up to date.
set -euo pipefail
export PIP_RETRIES=0
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$(dirname "$0")/.."

with_browser=false
[ "${1:-}" = "--browser" ] && with_browser=true

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# npm packages, reinstalled only when the lock file changes.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if ! stamp_ok node_modules/.warden-lock "$lock_hash"; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.warden-lock
fi

bash scripts/python-env.sh

# A C compiler: the build compiles the native DuckDB-to-Arrow addon (scripts/build-native.mjs).
if ! command -v "${CC:-cc}" >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
  else
    echo "setup: a C compiler is missing; install one with: sudo apt-get install -y gcc libc6-dev" >&2
    exit 1
  fi
fi

# Build: TypeScript, the service bundle (with the addon) and the labextension.
export PATH="$PWD/.venv/bin:$PATH"
npm run --silent build
# The venv's JupyterLab loads the labextension straight from warden/labextension.
if [ "$(readlink .venv/share/jupyter/labextensions/jupyterlab-warden)" != "$PWD/warden/labextension" ]; then
  jupyter labextension develop --overwrite . >/dev/null
fi

if $with_browser && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: Chromium is missing; install it with: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi
# PostgreSQL 15 server binaries: the service tests start a throwaway cluster of their own
# (src/service/__tests__/postgres-cluster.ts); nothing here starts a server.
if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
  else
    echo "setup: PostgreSQL 15 is missing; install it with: sudo apt-get install -y postgresql-15" >&2
    exit 1
  fi
fi
echo "setup: ready"
