#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] [TARGET...]
# The long fuzz run (the test suite runs each target for tens of seconds).
# Builds the targets into build-fuzz/ (clang-14, ASan + UBSan, libFuzzer),
# then fuzzes each TARGET (default: all) for SECONDS (default 3600) with two
# workers, from its seeds (tests/fuzz/seeds/TARGET/, written by hand, never
# changed here) and its corpus (tests/fuzz/corpus/TARGET/), which it grows
# and minimises with -merge=1 at the end: commit what it adds. A crash stops
# the run with the input saved in tests/fuzz/regressions/TARGET/: commit it
# with the fix, and every test run replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-3600}
shift || true

if [[ ! -f build-fuzz/build.ninja ]]; then
  CC=clang-14 meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build-fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  for exe in build-fuzz/tests/fuzz/fuzz_*; do
    [[ -x $exe && -f $exe ]] && targets+=("${exe##*/fuzz_}")
  done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for t in "${targets[@]}"; do
  exe=build-fuzz/tests/fuzz/fuzz_$t
  seeds=tests/fuzz/seeds/$t corpus=tests/fuzz/corpus/$t regressions=tests/fuzz/regressions/$t
  mkdir -p "$seeds" "$corpus" "$regressions"
  grown=$(mktemp -d)
  echo "== $t: $secs s"
  "$exe" -fork=2 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$regressions/" "$grown" "$seeds" "$corpus"
  merged=$(mktemp -d)
  # the smallest set with the coverage of the old corpus and of this run
  "$exe" -merge=1 "$merged" "$corpus" "$grown" 2>/dev/null
  rm -rf "$corpus" "$grown"
  mv "$merged" "$corpus"
  echo "== $t: corpus now $(ls "$corpus" | wc -l) inputs"
done
