#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   1. installs missing packages (deploy/install-deps.sh; needs root or sudo),
#   2. builds into build/ and runs every test but the container suite (unit,
#      mock upstream, end to end, pressure, bindings, packaging: pip, gem
#      and luarocks installs, and ops: Prometheus rules and dashboard), the end-to-end and binding tests a second time
#      with the sidecar on its epoll loop backend, then the container suite
#      (tests/container: builds deploy/Dockerfile with podman and runs the
#      image, a pod made from deploy/kubernetes and the systemd unit), then
#      builds release (-O3) and client-only (library + bindings) trees, which
#      must compile without a warning too,
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer into
#      build-asan/ and runs the unit, end-to-end and binding tests once more,
#   4. builds the libFuzzer targets with clang into build-fuzz/, replays every
#      input that once crashed one, and fuzzes each for $RINGSIDE_FUZZ_SECONDS
#      (default 20; tests/fuzz/run.sh is the long run).
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
# the official OpenAI SDK the front door's tests drive (npm ci, pinned)
bash tests/frontdoor/sdk/install.sh

step() {   # a step's title, with the time the suite has taken so far
  printf '== %s  [%dm%02ds]\n' "$1" $((SECONDS / 60)) $((SECONDS % 60))
}

setup() {   # setup DIR [meson options...]
  local dir=$1; shift
  if [[ -f $dir/build.ninja ]]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

step "build (debugoptimized, -Werror)"
setup build -Dwerror=true
step "tests (the sidecar on its default loop, io_uring)"
meson test -C build --print-errorlogs --num-processes 2 --no-suite container
step "end-to-end and binding tests again, the sidecar on its epoll backend"
RINGSIDE_TEST_IO_BACKEND=epoll meson test -C build --print-errorlogs --num-processes 2 --suite e2e --suite bindings
step "container tests (podman: the image, seccomp profiles, a client in another container, a pod)"
meson test -C build --print-errorlogs --suite container

step "release build (-O3, -Werror) and its unit tests"
setup build-release -Dbuildtype=release -Dwerror=true
meson test -C build-release --print-errorlogs --num-processes 2 --suite unit
step "client-only build (libringside and the bindings; no sidecar, tests or benchmarks)"
setup build-client -Dsidecar=false -Dtests=false -Dbench=false -Dwerror=true

step "build with ASan + UBSan"
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug -Dwerror=true
step "unit, end-to-end and binding tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite e2e --suite bindings \
  --timeout-multiplier 3

step "fuzz targets (clang-14, libFuzzer + ASan + UBSan): regressions, then ${RINGSIDE_FUZZ_SECONDS:-20} s each"
CC=clang-14 setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true
meson test -C build-fuzz --print-errorlogs --suite fuzz
step "all tests passed"
