#!/usr/bin/env bash
# Starts the demo: JupyterLab with Warden on the demo lake, signed in as a persona.
#   bash scripts/demo.sh [alice|pat|carlos|cora] [--rows N] [--port P]
# Installs and builds what is missing first (scripts/setup.sh), generates the demo lake
# into .demo/ (once per size), then runs JupyterLab on http://127.0.0.1:<port>.
#   bash scripts/demo.sh --hub [--rows N] [--port P]
# The multi-user deployment instead (as root): JupyterHub with the four personas as OS users,
# logging in through the demo identity provider (scripts/hub); prints each one's password.
set -euo pipefail
export PIP_RETRIES=0
cd "$(dirname "$0")/.."

persona=alice
rows=2000
port=
hub=false
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --hub) hub=true; shift ;;
    alice|pat|carlos|cora) persona=$1; shift ;;
    *) echo "usage: bash scripts/demo.sh [alice|pat|carlos|cora] [--rows N] [--port P] | --hub [--rows N] [--port P]" >&2; exit 2 ;;
  esac
done

if $hub; then
  bash scripts/hub/install.sh --rows "$rows"
  echo "Personas (user name, password); alice: analyst, pat: privacy officer, carlos: contractor, cora: compliance:"
  sed 's/^/  /' "${WARDEN_HUB_STATE:-/srv/warden-hub}/hub/logins.txt"
  exec bash scripts/hub/start.sh --port "${port:-8000}" --foreground
fi
port=${port:-8888}

bash scripts/setup.sh
if [ "$(cat .demo/.rows 2>/dev/null)" != "$rows" ]; then
  npx tsx src/service/demo/cli.ts --out .demo --rows "$rows"
  echo "$rows" > .demo/.rows
fi
mkdir -p .demo/notebooks

echo "Warden demo as '$persona' (alice: analyst, pat: privacy officer, carlos: contractor, cora: compliance)"
exec .venv/bin/jupyter lab \
  --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --ServerApp.allow_root=True \
  --ServerApp.open_browser=False --ServerApp.root_dir=.demo/notebooks \
  --Warden.config_dir="$PWD/.demo/config" --Warden.principal="$persona"
