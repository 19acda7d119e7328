#!/usr/bin/env bash
# Runs the Galata UI tests: type-checked, on a fresh demo lake, against three JupyterLab servers
# (alice, carlos, cora) in Chromium.
#   bash ui-tests/run.sh [playwright args]   # the tests; they write no file outside ui-tests/
#   bash ui-tests/run.sh --screenshot        # alice's tests, also rewriting docs/screenshot.png
#   bash ui-tests/run.sh --hub               # the multi-user hub's test (ui-tests/hub), against
#                                            # the hub that tests/hub started (WARDEN_HUB_*)
set -euo pipefail
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$(dirname "$0")"
hub=false
case "${1:-}" in
  --screenshot)
    shift
    export WARDEN_SCREENSHOT="$(cd .. && pwd)/docs/screenshot.png"
    set -- --project alice "$@"
    ;;
  --hub) shift; hub=true ;;
esac
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.warden-lock 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.warden-lock
fi
../node_modules/.bin/tsc -p tsconfig.json --noEmit
if $hub; then
  exec npx playwright test --config hub/playwright.config.js "$@"
fi
rm -rf .lake
# Free loopback ports for the three JupyterLab servers, so parallel runs on one machine do not collide.
WARDEN_UI_PORTS=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(",".join(str(s.getsockname()[1]) for s in socks))')
export WARDEN_UI_PORTS
(cd .. && npx tsx src/service/demo/cli.ts --out ui-tests/.lake --rows 400)
npx playwright test "$@"
