#!/usr/bin/env bash
# Runs the Galata UI tests: a fresh demo lake, two JupyterLab servers (alice, carlos), Chromium.
set -euo pipefail
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$(dirname "$0")"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.warden-lock 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.warden-lock
fi
rm -rf .lake
(cd .. && npx tsx src/service/demo/cli.ts --out ui-tests/.lake --rows 400)
npx playwright test "$@"
