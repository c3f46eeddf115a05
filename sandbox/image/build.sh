#!/usr/bin/env bash
# Build the sandbox image offline: Debian packages only (mmdebstrap), no container registry needed.
#
#   build.sh [--docker TAG] [--rootfs DIR] [--version N]
#
# --docker TAG  import the root filesystem into Docker and add the user/workdir layer (Dockerfile) as TAG
# --rootfs DIR  also unpack it into DIR, read-only root for the bubblewrap backend (same libraries as Docker)
# Both may be given; the Debian root filesystem is built once. `scientist sandbox build` calls this script.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tag="" rootfs="" version="1"
while [ $# -gt 0 ]; do
  case "$1" in
    --docker) tag="$2"; shift 2 ;;
    --rootfs) rootfs="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) echo "usage: $0 [--docker TAG] [--rootfs DIR] [--version N]" >&2; exit 64 ;;
  esac
done
[ -n "$tag$rootfs" ] || { echo "nothing to build: give --docker TAG and/or --rootfs DIR" >&2; exit 64; }
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 69; }

# Everything the experiment templates import, as Debian packages (python-is-python3: `python` works too).
packages="python3,python-is-python3,python3-numpy,python3-scipy,python3-matplotlib"
work="$(mktemp -d "${TMPDIR:-/tmp}/scientist-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
t() { date +%s; }

start=$(t)
echo "==> mmdebstrap bookworm ($packages)"
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --customize-hook='mkdir -p "$1/work/run"' \
  bookworm "$work/rootfs.tar"
digest="rootfs-sha256:$(sha256sum "$work/rootfs.tar" | cut -d' ' -f1)"
echo "    $(( $(t) - start )) s, $(du -h "$work/rootfs.tar" | cut -f1), $digest"

if [ -n "$tag" ]; then
  base="${tag%%:*}-base:${version}"
  step=$(t)
  echo "==> docker import -> $base"
  docker import --change 'CMD ["python3"]' "$work/rootfs.tar" "$base" >/dev/null
  echo "    $(( $(t) - step )) s"
  step=$(t)
  echo "==> docker build (user and workdir layer) -> $tag"
  # The legacy builder: bookworm's docker.io has no buildx, and the default bridge network may not exist.
  DOCKER_BUILDKIT=0 docker build --quiet --network=none --build-arg "BASE=$base" \
    --label "org.scientist.sandbox.version=$version" --label "org.scientist.sandbox.rootfs=$digest" -t "$tag" -f "$here/Dockerfile" "$here" >/dev/null
  echo "    $(( $(t) - step )) s"
fi

if [ -n "$rootfs" ]; then
  step=$(t)
  echo "==> unpack root filesystem -> $rootfs"
  mkdir -p "$(dirname "$rootfs")"
  staging="$(mktemp -d "$(dirname "$rootfs")/.rootfs.XXXXXX")"
  tar -xf "$work/rootfs.tar" -C "$staging" --exclude='./dev/*'
  chmod 755 "$staging"
  echo "$version" > "$staging/.scientist-sandbox-version"
  echo "$digest" > "$staging/.scientist-sandbox-id"
  rm -rf "$rootfs.old"
  [ -e "$rootfs" ] && mv "$rootfs" "$rootfs.old"
  mv "$staging" "$rootfs"
  rm -rf "$rootfs.old"
  echo "    $(( $(t) - step )) s"
fi
echo "==> sandbox image built in $(( $(t) - start )) s"
