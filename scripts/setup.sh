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

# torch is locked as its CPU build (2.13.0+cpu), which is not on the default index: machines of this project's
# kind carry it in /opt/wheels; elsewhere point SCIENTIST_TORCH_FIND_LINKS at a folder or index holding it.
find_links=()
torch_links="${SCIENTIST_TORCH_FIND_LINKS:-/opt/wheels}"
[ -e "$torch_links" ] || [[ "$torch_links" == http* ]] && find_links=(--find-links "$torch_links")

stamp="$VENV/.scientist-lock-$(cat requirements/bootstrap.txt requirements/lock.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing locked dependencies (hash-checked)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r requirements/bootstrap.txt
  if ! "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --require-hashes "${find_links[@]}" \
      -r requirements/lock.txt; then
    echo "error: installing the locked dependencies failed. If torch==2.13.0+cpu was not found, set" \
      "SCIENTIST_TORCH_FIND_LINKS to a folder or index that has PyTorch's CPU wheels." >&2
    exit 1
  fi
  rm -f "$VENV"/.scientist-lock-*
  touch "$stamp"
fi
"$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .

echo "==> embedded model runtime"
bash scripts/build_llama.sh "$VENV"

if [ "${SCIENTIST_SYSTEM_DEPS:-1}" = "1" ]; then
  bash scripts/system_deps.sh
  # The default sandbox: Docker engine + the offline-built image (and the bwrap root filesystem). Without root,
  # say what is missing; CI must have it.
  if ! bash scripts/ci_sandbox.sh "$VENV/bin/python"; then
    [ "${CI:-}" = "true" ] && exit 1
    echo "warning: the Docker sandbox is not ready (see above); runs need --sandbox local (bubblewrap) or a working Docker" >&2
  fi
  # A loopback PostgreSQL server for the run-store tests: always in CI, elsewhere when asked.
  if [ "${CI:-}" = "true" ] || [ "${SCIENTIST_POSTGRES:-0}" = "1" ]; then
    if ! bash scripts/ci_postgres.sh; then
      [ "${CI:-}" = "true" ] && exit 1
      echo "warning: no PostgreSQL server; the store tests against it will be skipped" >&2
    fi
  fi
fi
echo "==> environment ready in $(( $(date +%s) - started )) s: $VENV"
