#!/usr/bin/env bash
# Installs Warden's multi-user deployment on this machine, as root, idempotently:
#   - OS users: `warden` (the service), `warden-idp` (the identity provider) and one per
#     persona (scripts/hub/personas.json), each with a private home;
#   - <prefix> (default /opt/warden-hub, readable by all, no secrets): a Python venv from the
#     system's Python with pinned JupyterHub, oauthenticator, JupyterLab and the Warden wheel
#     (server extension, Lab extension, kernel client, bundled service); the Node packages
#     (configurable-http-proxy, oidc-provider) and our identity provider; the hub's config;
#   - <state> (default /srv/warden-hub): hub/ (root only: database, cookie secret, OAuth client
#     secret, operator token, demo logins), idp/ (warden-idp only: accounts, client, signing
#     key), warden/ (warden only: config, masking key, lake, audit log).
# Only registries are used (apt, PyPI, npm). Run again at will: each step is skipped when up
# to date. Start with scripts/hub/start.sh.
#   bash scripts/hub/install.sh [--rows N]
set -euo pipefail
export PIP_RETRIES=0
cd "$(dirname "$0")/../.."
REPO=$PWD
HUB_SOURCES=$REPO/scripts/hub
PREFIX=${WARDEN_HUB_PREFIX:-/opt/warden-hub}
STATE=${WARDEN_HUB_STATE:-/srv/warden-hub}
rows=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    *) echo "usage: bash scripts/hub/install.sh [--rows N]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (it creates OS users and installs into $PREFIX and $STATE)" >&2
  exit 1
fi
log() { echo "hub-install: $*"; }
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
umask 022

# -- system packages ----------------------------------------------------------------------
NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "install.sh: Node.js 20 or later is needed on the PATH" >&2
  exit 1
fi
missing=()
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v setpriv >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# -- the project's build: service bundle and Lab extension ---------------------------------
bash scripts/setup.sh >/dev/null

# -- OS users ---------------------------------------------------------------------------------
ensure_system_user() {  # name home
  if ! id -u "$1" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$2" --no-create-home --shell /usr/sbin/nologin "$1"
    log "created system user $1"
  fi
}
mkdir -p "$STATE"
chmod 755 "$STATE"
ensure_system_user warden "$STATE/warden"
ensure_system_user warden-idp "$STATE/idp"
personas=$("$NODE" -e 'for (const p of require(process.argv[1]).personas) console.log(p.name)' "$HUB_SOURCES/personas.json")
for persona in $personas; do
  if ! id -u "$persona" >/dev/null 2>&1; then
    useradd --create-home --user-group --shell /bin/bash "$persona"
    log "created user $persona"
  fi
  home=$(getent passwd "$persona" | cut -d: -f6)
  # Private homes: notebooks, kernel connection files and job tokens are the user's alone.
  chmod 700 "$home"
done

# -- Python: JupyterHub, JupyterLab and the Warden wheel, in a venv everyone can run ----------
# The system's Python, which every OS user can run; python-constraints.txt is resolved for the
# project's own (possibly newer) Python and cannot constrain this one. The versions shared with
# it are the same.
REQUIREMENTS=(
  jupyterhub==6.1.1 oauthenticator==17.4.0 jupyterlab==4.6.4 jupyter_server==2.21.1
  ipykernel==7.4.0 nbconvert==7.17.2 papermill==2.7.0 pandas==3.1.1 pyarrow==26.0.1
  requests==2.34.2 pyjwt==2.15.1 hatchling editables
)
VENV=$PREFIX/venv
if [ ! -x "$VENV/bin/python" ]; then
  mkdir -p "$PREFIX"
  /usr/bin/python3 -m venv "$VENV"
fi
wanted=$(printf '%s\n' "${REQUIREMENTS[@]}" | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$VENV/.requirements.sha256" "$wanted"; then
  log "pip: ${REQUIREMENTS[*]}"
  "$VENV/bin/pip" install --retries 0 --quiet --upgrade pip
  "$VENV/bin/pip" install --retries 0 --quiet "${REQUIREMENTS[@]}"
  echo "$wanted" > "$VENV/.requirements.sha256"
fi
# The Warden wheel, rebuilt when the package (Python, service bundle, Lab extension) changed.
package_hash=$( (cd "$REPO" && find warden install.json pyproject.toml hatch_build.py jupyter-config -type f \
  -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$VENV/.warden-package.sha256" "$package_hash"; then
  log "pip: the Warden package from $REPO"
  wheels=$(mktemp -d)
  "$VENV/bin/pip" wheel --retries 0 --quiet --no-deps --no-build-isolation -w "$wheels" "$REPO"
  "$VENV/bin/pip" install --retries 0 --quiet --no-deps --force-reinstall "$wheels"/*.whl
  rm -rf "$wheels"
  echo "$package_hash" > "$VENV/.warden-package.sha256"
fi

# -- Node: the proxy, the identity provider ---------------------------------------------------
mkdir -p "$PREFIX/node" "$PREFIX/etc"
lock_hash=$(cat "$HUB_SOURCES/idp/package.json" "$HUB_SOURCES/idp/package-lock.json" | sha256sum | cut -d' ' -f1)
if ! stamp_ok "$PREFIX/node/.lock.sha256" "$lock_hash"; then
  log "npm: configurable-http-proxy, oidc-provider"
  cp "$HUB_SOURCES/idp/package.json" "$HUB_SOURCES/idp/package-lock.json" "$PREFIX/node/"
  (cd "$PREFIX/node" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_hash" > "$PREFIX/node/.lock.sha256"
fi
cp "$HUB_SOURCES/idp/server.mjs" "$PREFIX/node/idp-server.mjs"
cp "$HUB_SOURCES/jupyterhub_config.py" "$PREFIX/etc/jupyterhub_config.py"
chmod -R go-w,a+rX "$PREFIX"

# -- state: secrets and data, each readable by its owner only --------------------------------
install -d -m 700 -o root -g root "$STATE/hub"
install -d -m 700 -o warden-idp -g warden-idp "$STATE/idp"
install -d -m 700 -o warden -g warden "$STATE/warden"
if [ ! -s "$STATE/hub/operator-token" ]; then
  (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))' > "$STATE/hub/operator-token")
fi
(umask 077 && "$NODE" "$HUB_SOURCES/idp/provision.mjs" --personas "$HUB_SOURCES/personas.json" \
  --idp-state "$STATE/idp" --hub-state "$STATE/hub" >/dev/null)
chown -R warden-idp:warden-idp "$STATE/idp"

# Warden: the demo lake and policies, with the hub's identity settings and directory.
if [ "$(cat "$STATE/warden/.rows" 2>/dev/null)" != "$rows" ]; then
  log "demo lake: $rows rows"
  rm -rf "$STATE/warden/config" "$STATE/warden/lake"
  npx tsx src/service/demo/cli.ts --out "$STATE/warden" --rows "$rows" >/dev/null
  echo "$rows" > "$STATE/warden/.rows"
fi
cp -r src/service/demo/config/catalog src/service/demo/config/policies "$STATE/warden/config/"
cp "$HUB_SOURCES/warden.yaml" "$HUB_SOURCES/directory.yaml" "$STATE/warden/config/"
mkdir -p "$STATE/warden/audit"
chown -R warden:warden "$STATE/warden"
chmod -R go-rwx "$STATE/warden"
log "ready: start it with bash scripts/hub/start.sh"
