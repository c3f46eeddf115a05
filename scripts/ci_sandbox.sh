#!/usr/bin/env bash
# Make this machine ready for the sandbox tests (idempotent; safe to run on every CI build):
#   1. install docker.io, mmdebstrap and bubblewrap if missing (needs root and apt-get),
#   2. start dockerd if no engine answers, and wait for it,
#   3. build the sandbox image and the bwrap root filesystem if missing (cached per machine: ~2 min once).
# Prints the time each step took. Usage: scripts/ci_sandbox.sh [PYTHON]   (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-${PYTHON:-.venv/bin/python}}"
now() { date +%s; }
step() { echo "==> $1"; step_started=$(now); }
done_step() { echo "    $(( $(now) - step_started )) s"; }
started=$(now)

step "system packages (docker.io mmdebstrap bubblewrap)"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v bwrap >/dev/null || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "missing ${missing[*]}: install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/scientist-ci-apt.log 2>&1 \
    || { tail -20 /tmp/scientist-ci-apt.log >&2; exit 1; }
  echo "    installed ${missing[*]}"
else
  echo "    already installed"
fi
done_step

step "docker engine"
if docker info >/dev/null 2>&1; then
  echo "    already running"
else
  if [ "$(id -u)" != "0" ]; then
    echo "the Docker engine is not running and starting it needs root: sudo dockerd &" >&2
    exit 1
  fi
  # Detached from this script, so it outlives it; the log says why if it does not come up.
  setsid dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; /tmp/dockerd.log:" >&2; tail -20 /tmp/dockerd.log >&2; exit 1; }
  echo "    started (log: /tmp/dockerd.log)"
fi
done_step

step "sandbox image and bwrap root filesystem"
"$python" -c "from scientist.commands.sandbox import app; app()" build
done_step

echo "sandbox ready in $(( $(now) - started )) s"
