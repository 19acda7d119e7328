#!/usr/bin/env bash
# Create (or refresh) the project's Python environment in .venv, idempotently.
# The requirement list is hashed into a stamp file, so a second run with the same
# list does nothing but re-link the editable warden package.
set -euo pipefail

# pip's isolated sub-builds do not inherit --retries: without this an unreachable
# index makes pip retry for minutes.
export PIP_RETRIES=0

cd "$(dirname "$0")/.."
VENV=.venv
REQUIREMENTS=(
  jupyterlab==4.6.4 jupyter_server ipykernel pandas pyarrow polars
  pytest requests pyjwt httpx hatchling editables jupyter_builder
)
STAMP="$VENV/.requirements.sha256"
WANTED_HASH=$(printf '%s\n' "${REQUIREMENTS[@]}" | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANTED_HASH" ]; then
  "$VENV/bin/pip" install --retries 0 --quiet "${REQUIREMENTS[@]}"
  echo "$WANTED_HASH" > "$STAMP"
else
  echo "python-env: requirements already installed"
fi

# Editable install: `import warden` works and the server extension config lands in
# $VENV/etc/jupyter, so `jupyter server` in this venv loads the extension.
if ! "$VENV/bin/python" -c 'import warden' 2>/dev/null \
   || [ ! -f "$VENV/etc/jupyter/jupyter_server_config.d/warden.json" ]; then
  "$VENV/bin/pip" install --retries 0 --quiet --no-build-isolation --no-deps -e .
fi
echo "python-env: ready ($VENV)"
