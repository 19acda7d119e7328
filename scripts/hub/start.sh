#!/usr/bin/env bash
# Starts the multi-user deployment installed by scripts/hub/install.sh, on loopback:
#   - the identity provider, as OS user warden-idp;
#   - JupyterHub, as root with umask 077: it starts its proxy, the Warden service (as OS user
#     warden) and, on demand, each user's JupyterLab (as that user).
#   bash scripts/hub/start.sh [--port 8000] [--foreground]
# Returns once the IdP, the hub and Warden answer; the other ports are free ones, written with
# the PIDs to <state>/run/ (root only). --foreground stays attached and stops all on Ctrl-C.
# Stop with scripts/hub/stop.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${WARDEN_HUB_PREFIX:-/opt/warden-hub}
STATE=${WARDEN_HUB_STATE:-/srv/warden-hub}
RUN=$STATE/run
VENV=$PREFIX/venv
port=8000
foreground=false
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --foreground) foreground=true; shift ;;
    *) echo "usage: bash scripts/hub/start.sh [--port 8000] [--foreground]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "start.sh: run as root (JupyterHub starts each user's server as that user)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/jupyterhub" ]; then
  echo "start.sh: not installed; run bash scripts/hub/install.sh first" >&2
  exit 1
fi
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
if alive hub || alive idp; then
  echo "start.sh: already running (see $RUN); stop it with bash scripts/hub/stop.sh" >&2
  exit 1
fi
install -d -m 700 "$RUN"

free_port() { "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if ! "$VENV/bin/python" -c 'import socket, sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' "$port" 2>/dev/null; then
  echo "start.sh: port $port is taken; choose another with --port" >&2
  exit 1
fi
export WARDEN_HUB_PREFIX=$PREFIX WARDEN_HUB_STATE=$STATE WARDEN_HUB_PORT=$port
export WARDEN_HUB_API_PORT=$(free_port) WARDEN_HUB_PROXY_API_PORT=$(free_port)
export WARDEN_HUB_IDP_PORT=$(free_port) WARDEN_HUB_SERVICE_PORT=$(free_port)
export WARDEN_HUB_NODE=$(command -v node)
export WARDEN_HUB_SERVICE_BUNDLE=$("$VENV/bin/python" -I -c 'import warden, pathlib; print(pathlib.Path(warden.__file__).parent / "service" / "warden-service.cjs")')
env | grep '^WARDEN_HUB_' | sort > "$RUN/ports.env"

# Each process gets a clean environment and leaves the caller's session (setsid).
umask 077
CLEAN_PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
setsid setpriv --reuid=warden-idp --regid=warden-idp --init-groups \
  env -i PATH="$CLEAN_PATH" HOME="$STATE/idp" LANG=C.UTF-8 NODE_ENV=production \
  "$WARDEN_HUB_NODE" "$PREFIX/node/idp-server.mjs" --state "$STATE/idp" --port "$WARDEN_HUB_IDP_PORT" \
  --redirect-uri "http://127.0.0.1:$port/hub/oauth_callback" \
  > "$RUN/idp.log" 2>&1 < /dev/null &
echo $! > "$RUN/idp.pid"
(cd "$STATE/hub" && exec setsid env -i PATH="$CLEAN_PATH" HOME=/root LANG=C.UTF-8 \
  $(cat "$RUN/ports.env") \
  "$VENV/bin/jupyterhub" -f "$PREFIX/etc/jupyterhub_config.py") \
  > "$RUN/jupyterhub.log" 2>&1 < /dev/null &
echo $! > "$RUN/hub.pid"

# Waits until a URL answers 200, while the process behind it lives.
wait_http() {  # name url pid-file seconds
  "$VENV/bin/python" - "$@" <<'EOF'
import os, sys, time, urllib.request
name, url, pid_file, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
pid = int(open(pid_file).read())
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"start.sh: {name} exited")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.3)
sys.exit(f"start.sh: {name} did not answer {url} within {seconds:.0f} s")
EOF
}
fail() {
  echo "--- $RUN/idp.log"; tail -n 30 "$RUN/idp.log"
  echo "--- $RUN/jupyterhub.log"; tail -n 60 "$RUN/jupyterhub.log"
  bash "$HERE/stop.sh"
  exit 1
}
wait_http "identity provider" "http://127.0.0.1:$WARDEN_HUB_IDP_PORT/.well-known/openid-configuration" "$RUN/idp.pid" 60 || fail
wait_http JupyterHub "http://127.0.0.1:$port/hub/api" "$RUN/hub.pid" 180 || fail
wait_http "Warden service" "http://127.0.0.1:$WARDEN_HUB_SERVICE_PORT/api/v1/health" "$RUN/hub.pid" 120 || fail

echo "Warden multi-user hub: http://127.0.0.1:$port (log in as a persona; logins: $STATE/hub/logins.txt)"
if $foreground; then
  trap 'bash "$HERE/stop.sh"; exit 0' INT TERM
  echo "Ctrl-C stops it."
  while alive hub; do sleep 1; done
  bash "$HERE/stop.sh"
fi
