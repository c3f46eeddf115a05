#!/usr/bin/env bash
# Create the project environment on a fresh machine: venv, locked dependencies (hash-checked), the project itself,
# the embedded model runtime (built once, cached), and — when run as root with apt — the optional system tools.
# Idempotent: a stamp over the lock files skips work already done.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"
started=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.scientist-lock-$(cat requirements/bootstrap.txt requirements/lock.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing locked dependencies (hash-checked)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements/bootstrap.txt
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --require-hashes -r requirements/lock.txt
  rm -f "$VENV"/.scientist-lock-*
  touch "$stamp"
fi
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .

echo "==> embedded model runtime"
bash scripts/build_llama.sh "$VENV"

if [ "${SCIENTIST_SYSTEM_DEPS:-1}" = "1" ]; then
  bash scripts/system_deps.sh
fi
echo "==> environment ready in $(( $(date +%s) - started )) s: $VENV"
