#!/usr/bin/env bash
# Starts the demo: JupyterLab with Warden on the demo lake, signed in as a persona.
#   bash scripts/demo.sh [alice|pat|carlos|cora] [--rows N] [--port P]
# Installs and builds what is missing first (scripts/setup.sh), generates the demo lake
# into .demo/ (once per size), then runs JupyterLab on http://127.0.0.1:<port>.
#   bash scripts/demo.sh --hub [--rows N] [--port P]
# The multi-user deployment instead (as root): JupyterHub with the four personas as OS users,
# logging in through the demo identity provider (scripts/hub); prints each one's password.
#   bash scripts/demo.sh [persona] --trino [--rows N] [--port P]
# The same, with the trial datasets read from a Trino cluster (coordinator and worker on an
# S3 store, scripts/trino) that it starts, loads and stops with JupyterLab.
set -euo pipefail
export PIP_RETRIES=0
cd "$(dirname "$0")/.."

persona=alice
rows=2000
port=
hub=false
trino=false
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --hub) hub=true; shift ;;
    --trino) trino=true; shift ;;
    alice|pat|carlos|cora) persona=$1; shift ;;
    *) echo "usage: bash scripts/demo.sh [alice|pat|carlos|cora] [--trino] [--rows N] [--port P] | --hub [--rows N] [--port P]" >&2; exit 2 ;;
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
demo=.demo
if $trino; then
  # A fresh cluster each time (its keys and ports are per cluster), stopped with JupyterLab.
  demo=.demo-trino
  bash scripts/trino/install.sh
  cluster=$(mktemp -d /tmp/warden-demo-trino-XXXXXX)
  trap 'bash scripts/trino/cluster.sh stop "$cluster"' EXIT
  bash scripts/trino/cluster.sh start "$cluster"
  # Loading needs the loader's password; JupyterLab gets only the service account's (which
  # its server hands to the service and keeps from kernels).
  (
    set -a
    source "$cluster/cluster.env"
    set +a
    npx tsx src/service/demo/trino-lake.ts --rows "$rows"
    npx tsx src/service/demo/cli.ts --out "$demo" --rows "$rows" --trino
  )
  setting() { sed -n "s/^$1=//p" "$cluster/cluster.env"; }
  WARDEN_TRINO_PASSWORD=$(setting WARDEN_TRINO_PASSWORD)
  export WARDEN_TRINO_PASSWORD
  echo "The trial datasets are read from Trino at $(setting WARDEN_TRINO_URL) (catalog $(setting WARDEN_TRINO_CATALOG))"
elif [ "$(cat .demo/.rows 2>/dev/null)" != "$rows" ]; then
  npx tsx src/service/demo/cli.ts --out .demo --rows "$rows"
  echo "$rows" > .demo/.rows
fi
mkdir -p "$demo/notebooks"

echo "Warden demo as '$persona' (alice: analyst, pat: privacy officer, carlos: contractor, cora: compliance)"
# Not exec: with --trino the cluster is stopped when JupyterLab ends.
.venv/bin/jupyter lab \
  --ServerApp.ip=127.0.0.1 --ServerApp.port="$port" --ServerApp.allow_root=True \
  --ServerApp.open_browser=False --ServerApp.root_dir="$demo/notebooks" \
  --Warden.config_dir="$PWD/$demo/config" --Warden.principal="$persona"
