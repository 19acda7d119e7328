#!/usr/bin/env bash
# Create (or refresh) the project's Python environment in .venv, idempotently.
#
# REQUIREMENTS names what the project needs; python-constraints.txt pins every package of
# the environment (those and their dependencies) to one exact version, so every machine
# and CI run gets the same set. Both are hashed into a stamp file: a second run with the
# same list and pins does nothing but re-link the editable warden package.
#
#   bash scripts/python-env.sh            # install from the pins
#   bash scripts/python-env.sh --relock   # resolve REQUIREMENTS (and LOCK_ONLY) afresh in a
#                                         # scratch venv and rewrite python-constraints.txt
set -euo pipefail

# pip's isolated sub-builds do not inherit --retries: without this an unreachable
# index makes pip retry for minutes.
export PIP_RETRIES=0

cd "$(dirname "$0")/.."
VENV=.venv
CONSTRAINTS=python-constraints.txt
# jupyterlab matches the Galata version of ui-tests/package.json.
REQUIREMENTS=(
  jupyterlab==4.6.4 jupyter_server ipykernel pandas pyarrow polars
  pytest requests pyjwt httpx hatchling editables jupyter_builder ruff
)
# Pinned too, but installed only by hand: DuckDB's Python package, the baseline of bench/scan.py.
LOCK_ONLY=(duckdb==1.5.6)

if [ "${1:-}" = "--relock" ]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  python3 -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install --retries 0 --quiet "${REQUIREMENTS[@]}" "${LOCK_ONLY[@]}"
  {
    echo "# Exact versions of the Python environment, used as pip constraints by scripts/python-env.sh."
    echo "# Written by \`bash scripts/python-env.sh --relock\` ($("$scratch/venv/bin/python" --version)); do not edit by hand."
    "$scratch/venv/bin/pip" freeze --all --exclude pip --exclude setuptools | sort --ignore-case
  } > "$CONSTRAINTS"
  echo "python-env: wrote $CONSTRAINTS"
  exit 0
fi

STAMP="$VENV/.requirements.sha256"
WANTED_HASH=$({ printf '%s\n' "${REQUIREMENTS[@]}"; cat "$CONSTRAINTS"; } | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANTED_HASH" ]; then
  "$VENV/bin/pip" install --retries 0 --quiet --constraint "$CONSTRAINTS" "${REQUIREMENTS[@]}"
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
