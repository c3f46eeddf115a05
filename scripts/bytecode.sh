#!/usr/bin/env bash
# Bytecode for a venv's installed packages, compiled once per machine and locked set, then shared by hard links.
#   bash scripts/bytecode.sh PYTHON SITE_PACKAGES CACHE_DIR
# Why: these machines set PYTHONDONTWRITEBYTECODE, so without .pyc files every new process compiles litellm and friends
# again (a replayed run: 80 s -> 35 s); compiling all 26k files takes ~45 s of a fresh clone's set-up on 2 cores, and
# each fresh clone (CI's) compiled the same files again. uv installs the packages as hard links to its cache, so their
# mtimes (which a .pyc records, with the size) are the same in every venv of the machine: the .pyc files of one venv
# are valid in the next. A .pyc that does not match its source is ignored by Python and compiled again, never used;
# Python writes a new one by rename, so a linked file is never changed in place. If the sample below finds stale
# files (uv's cache was rebuilt), everything is compiled again and the cache replaced.
set -euo pipefail
python=$1
site_packages=$2
cache=$3

pycache_dirs() {  # the __pycache__ folders under the current folder, NUL-separated
  find . -type d -name __pycache__ -prune -print0
}

restore() {  # hard links to the cached files a new venv lacks (pip compiled what it installed: those stay);
  # its status is not checked (cp -n's differs across coreutils releases): the sample below judges the result
  (cd "$cache" && pycache_dirs | xargs -0 -r cp -aln --parents -t "$site_packages" 2>/dev/null) || true
}

save() {  # into an empty folder: hard links, or copies across file systems
  (cd "$site_packages" && pycache_dirs | xargs -0 -r cp -al --parents -t "$1" 2>/dev/null) \
    || (cd "$site_packages" && pycache_dirs | xargs -0 -r cp -a --parents -t "$1")
}

stale_sample() {  # of every 40th source file: how many have a .pyc that does not match (mtime, size), or too many
  # none (a few never compile: files for newer Pythons, e.g. torch's py312 tests)
  "$python" - "$site_packages" <<'EOF'
import importlib.util, os, struct, sys
root, checked, stale, missing = sys.argv[1], 0, 0, 0
sources = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".py"))
for source in sources[::40]:
    checked += 1
    try:
        with open(importlib.util.cache_from_source(source), "rb") as pyc:
            magic, flags, mtime, size = struct.unpack("<4sIII", pyc.read(16))
    except (OSError, struct.error):
        missing += 1
        continue
    st = os.stat(source)
    stale += (magic, flags, mtime, size) != (importlib.util.MAGIC_NUMBER, 0, int(st.st_mtime) & 0xFFFFFFFF,
                                             st.st_size & 0xFFFFFFFF)
print(stale + (missing if missing * 100 > checked else 0) if checked else 1)
EOF
}

if [ -f "$cache/complete" ]; then
  restore
  stale=$(stale_sample)
  if [ "$stale" = "0" ]; then
    echo "    ==> bytecode: reused the machine's ($cache)"
    exit 0
  fi
  echo "    ==> bytecode: $stale sampled files stale: compiling again"
fi
# (compileall lists the few files written for newer Pythons, e.g. torch's py312 tests, as errors: harmless.)
"$python" -m compileall -q -j 0 "$site_packages" || true
building="$cache.building.$$"
rm -rf "$building" && mkdir -p "$building"
save "$building"
touch "$building/complete"
rm -rf "$cache.old.$$"
[ -e "$cache" ] && mv -T "$cache" "$cache.old.$$"
mv -T "$building" "$cache" 2>/dev/null || rm -rf "$building"  # another set-up finished first: keep its copy
rm -rf "$cache.old.$$"
echo "    ==> bytecode: compiled; kept for the next venv in $cache"
