#!/usr/bin/env bash
# The system side of set-up (scripts/setup.sh runs it beside the model build): optional tools (LaTeX, poppler,
# chromium), the default sandbox (Docker engine + the offline-built image and the bwrap root filesystem), and in CI
# (or with SCIENTIST_POSTGRES=1) a loopback PostgreSQL server for the run-store tests.
# Usage: scripts/system_tools.sh PYTHON    (the project's venv python: the image is built by `scientist sandbox build`)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:?usage: system_tools.sh PYTHON}"
with_postgres=0
if [ "${CI:-}" = "true" ] || [ "${SCIENTIST_POSTGRES:-0}" = "1" ]; then
  with_postgres=1
fi
# One apt transaction for everything (apt takes a lock: separate installs would queue anyway).
SCIENTIST_APT_EXTRA="docker.io mmdebstrap $([ "$with_postgres" = "1" ] && echo postgresql)" bash scripts/system_deps.sh

# Without root, say what is missing; CI must have it.
if ! bash scripts/ci_sandbox.sh "$python"; then
  [ "${CI:-}" = "true" ] && exit 1
  echo "warning: the Docker sandbox is not ready (see above); runs need --sandbox local (bubblewrap) or a working Docker" >&2
fi
if [ "$with_postgres" = "1" ] && ! bash scripts/ci_postgres.sh; then
  [ "${CI:-}" = "true" ] && exit 1
  echo "warning: no PostgreSQL server; the store tests against it will be skipped" >&2
fi
