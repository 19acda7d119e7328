#!/usr/bin/env bash
# One JupyterLab for the UI tests: Warden embedded on the test demo lake, as persona $1 on port $2.
set -euo pipefail
cd "$(dirname "$0")"
persona=$1
port=$2
root="$PWD/.lab/$persona"
rm -rf "$root" && mkdir -p "$root"
exec ../.venv/bin/jupyter lab --config jupyter_server_test_config.py \
  --ServerApp.port="$port" --ServerApp.root_dir="$root" --ServerApp.log_level=WARN \
  --Warden.config_dir="$PWD/.lake/config" --Warden.principal="$persona"
