#!/usr/bin/env bash
# Prepares what the container tests need, each step skipped when already done:
#   1. podman, runc, catatonit (the pause image of `podman kube play`) and
#      debootstrap (Debian packages; needs root or sudo),
#   2. the base image localhost/debian:12-minbase, made with debootstrap
#      because no image registry is reachable here (~2 min, once per machine),
#   3. the ringside image from deploy/Dockerfile (podman caches its layers:
#      a warm build recompiles only when the source changed).
# Usage: tests/container/setup.sh [IMAGE_TAG]   (default localhost/ringside:test)
# Prints one line per step with its wall time; the last line is a JSON
# summary (image, build seconds, image size) for the test to report.
#
# Podman on these machines (../shared/TOOLCHAIN.md): crun fails ("cgroups in
# hybrid mode not supported"), so every call uses --runtime runc; podman's
# default ulimits cannot be raised without CAP_SYS_RESOURCE, so every call
# lowers them. The same flags are in PODMAN_FLAGS for the test.
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=${1:-localhost/ringside:test}
BASE=localhost/debian:12-minbase
MIRROR=${RINGSIDE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUNTIME_FLAGS=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t=$(now)
missing=()
for p in podman runc catatonit debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "setup: packages (${missing[*]:-none missing}) $(since "$t") s"

t=$(now)
if podman image exists "$BASE"; then
  echo "setup: base image $BASE cached"
else
  root=$(mktemp -d /var/tmp/ringside-minbase.XXXXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
  # the image's apt sources: the same mirror, plus updates and security
  cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
  # slim like the official debian:12-slim (which is minbase too): no docs,
  # manuals or translations, now or in what apt installs later (~50 MB less)
  cat >"$root/etc/dpkg/dpkg.cfg.d/ringside-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
SLIM
  find "$root/usr/share/doc" -type f -not -name copyright -delete
  find "$root/usr/share/doc" -depth -type d -empty -delete
  rm -rf "$root"/usr/share/{groff,info,linda,locale,man}/* "$root"/usr/share/lintian/overrides/*
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import - "$BASE" >/dev/null 2>&1
  rm -rf "$root"
  trap - EXIT
  echo "setup: base image $BASE built with debootstrap $(since "$t") s"
fi

t=$(now)
podman build "${RUNTIME_FLAGS[@]}" --jobs 2 -f deploy/Dockerfile -t "$TAG" . >&2
build_s=$(since "$t")
size=$(podman image inspect --format '{{.Size}}' "$TAG")
echo "setup: image $TAG built in $build_s s, $((size / 1000000)) MB"
printf '{"image":"%s","build_s":%s,"size_bytes":%s}\n' "$TAG" "$build_s" "$size"
