#!/usr/bin/env bash
# Starts the demo: JupyterLab with Warden on the demo lake, signed in as a persona.
#   bash scripts/demo.sh [alice|pat|carlos|cora] [--rows N] [--port P]
# Installs and builds what is missing first (scripts/setup.sh), generates the demo lake
# into .demo/ (once per size), then runs JupyterLab on http://127.0.0.1:<port>.
set -euo pipefail
export PIP_RETRIES=0
cd "$(dirname "$0")/.."

persona=alice
rows=2000
port=8888
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    alice|pat|carlos|cora) persona=$1; shift ;;
    *) echo "usage: bash scripts/demo.sh [alice|pat|carlos|cora] [--rows N] [--port P]" >&2; exit 2 ;;
  esac
done

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
