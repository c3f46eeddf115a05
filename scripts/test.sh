#!/usr/bin/env bash
# The whole suite (what `make test` and CI run), in two phases so it fits the CI budget on 2 cores:
#   1. everything that can share the machine, on all cores (pytest-xdist; tests that share a resource carry an
#      `xdist_group` mark and run on one worker: --dist loadgroup);
#   2. the `serial` tests alone: the embedded model live and whatever needs the whole machine, so live timings
#      never compete for the cores.
# Line coverage of the `scientist` package over both phases (CLI subprocesses included) is printed at the end.
# Extra arguments go to both pytest calls (e.g. `make test ARGS="-x"`). `live_full` tests run in `make test-live`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${VENV:-.venv}/bin/python"
workers="${SCIENTIST_TEST_WORKERS:-auto}"
started=$(date +%s)
# One BLAS/OpenMP thread per worker: two workers each spawning a thread per core would oversubscribe the cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# These machines set PYTHONDONTWRITEBYTECODE (set-up compiles site-packages for that reason): without bytecode for the
# project itself every one of the suite's Python processes (CLI subprocesses, study cells, pytest workers) compiles
# scientist/ again, and every pytest process re-rewrites the test modules' asserts (its cache is that bytecode):
# collection alone measured 14.7 -> 8.3 CPU-s per pytest process. The files land in gitignored __pycache__ folders.
unset PYTHONDONTWRITEBYTECODE
export COVERAGE_FILE="${COVERAGE_FILE:-$PWD/.coverage}"
rm -f "$COVERAGE_FILE" "$COVERAGE_FILE".*

echo "==> phase 1: parallel ($workers workers)"
timeline="${SCIENTIST_TEST_TIMELINE:-$PWD/test-timeline.jsonl}"  # per test: worker, start, end (tests/conftest.py)
serial_list="$PWD/.serial-test-files"  # the files holding serial tests, as phase 1 collected them (tests/conftest.py)
rm -f "$timeline" "$serial_list"
SCIENTIST_TEST_TIMELINE="$timeline" SCIENTIST_TEST_SERIAL_FILES="$serial_list" \
  "$PY" -m pytest -n "$workers" --dist loadgroup \
  -m "not serial and not live_full" --cov --cov-report= "$@"
parallel_rc=$?
phase1=$(( $(date +%s) - started ))
"$PY" scripts/test_timeline.py "$timeline"  # where the phase's wall went: each worker's busy time and end

echo "==> phase 2: serial (live model, whole-machine tests)"
serial_files=()  # a full run collects only the files phase 1 found serial tests in; a partial one, what it was given
if [ "$#" = "0" ] && [ -s "$serial_list" ]; then
  mapfile -t serial_files <"$serial_list"
fi
env -u OMP_NUM_THREADS -u MKL_NUM_THREADS -u OPENBLAS_NUM_THREADS \
  "$PY" -m pytest -m "serial and not live_full" --cov --cov-append --cov-report= "$@" "${serial_files[@]}"
serial_rc=$?
[ "$serial_rc" = "5" ] && serial_rc=0  # no serial tests selected (e.g. a -k filter): not a failure

echo "suite finished in $(( $(date +%s) - started )) s (parallel phase ${phase1} s)"
# Per-file lines in coverage.txt; the total here, checked against fail_under (pyproject) on a full run only.
"$PY" -m coverage report --skip-covered --skip-empty --fail-under=0 >coverage.txt 2>&1
coverage_rc=0
if [ "$#" = "0" ]; then  # a partial run (-k, a file) covers less by design
  "$PY" -m coverage report --format=total >/dev/null 2>&1 || coverage_rc=$?
fi
echo "line coverage of scientist: $("$PY" -m coverage report --format=total --fail-under=0)% (per file: coverage.txt)"
[ "$coverage_rc" = "0" ] || echo "coverage fell below fail_under in pyproject.toml ([tool.coverage.report])" >&2
[ "$parallel_rc" = "0" ] && [ "$serial_rc" = "0" ] && [ "$coverage_rc" = "0" ]
