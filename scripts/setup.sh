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

# Independent slow steps run side by side (CI counts wall time; they wait on different things):
#   - system tools (apt: LaTeX, Docker engine, PostgreSQL...), then the Docker engine and the sandbox image;
#   - the embedded model runtime (a C++ build, cached per machine);
#   - bytecode for the installed packages: these machines set PYTHONDONTWRITEBYTECODE, so without it every new
#     process (each CLI call, each test worker) compiles litellm and friends again (a replayed run: 80 s -> 35 s).
#     Compiled once per machine, locked set and Python, then linked into each new venv (scripts/bytecode.sh).
#   - mypy's cache (kept outside the checkout by scripts/typecheck.py), warmed beside the others: cold, the first
#     `make lint` took 87 s after set-up on an empty cache (2026-12-06); warm, seconds. Its verdict is lint's job.
logs="$VENV/setup-logs"
mkdir -p "$logs"
declare -A jobs=()
background() {  # NAME COMMAND...: run in the background, output in $logs/NAME.log
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  jobs[$name]=$!
}

background model bash scripts/build_llama.sh "$VENV"
site_packages=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
bytecode_stamp="${stamp/scientist-lock-/scientist-bytecode-}"  # compiled once per locked set (a rescan costs ~10 s)
if [ ! -f "$bytecode_stamp" ]; then
  python_tag=$("$VENV/bin/python" -c 'import sys; print(sys.implementation.cache_tag)')
  bytecode_cache="${XDG_CACHE_HOME:-$HOME/.cache}/scientist/bytecode/${bytecode_stamp##*-}-$python_tag"
  background bytecode bash -c "bash scripts/bytecode.sh '$VENV/bin/python' '$site_packages' '$bytecode_cache' \
    && touch '$bytecode_stamp'"
fi
background typecache bash -c "'$VENV/bin/python' scripts/typecheck.py || true"
if [ "${SCIENTIST_SYSTEM_DEPS:-1}" = "1" ]; then
  background system bash scripts/system_tools.sh "$VENV/bin/python"
fi

failed=0
for name in "${!jobs[@]}"; do
  if wait "${jobs[$name]}"; then
    echo "==> $name: done"
  else
    echo "==> $name: failed (log: $logs/$name.log)" >&2
    tail -15 "$logs/$name.log" >&2
    failed=1
  fi
done
grep -h "^    \|^==>" "$logs/model.log" "$logs/bytecode.log" "$logs/system.log" 2>/dev/null | sed 's/^/    /' || true
[ "$failed" = "0" ] || exit 1
echo "==> environment ready in $(( $(date +%s) - started )) s: $VENV"
