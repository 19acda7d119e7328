#!/usr/bin/env bash
# Stops what scripts/hub/start.sh started, by the PIDs it recorded: JupyterHub first (it stops
# its proxy, the Warden service and the users' servers), then the identity provider.
set -euo pipefail
STATE=${WARDEN_HUB_STATE:-/srv/warden-hub}
RUN=$STATE/run

stop_pid_file() {  # name
  local file=$RUN/$1.pid pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop.sh: $1 (pid $pid) did not stop within 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}
stop_pid_file hub
stop_pid_file idp
