#!/usr/bin/env bash
# run_target.sh EXE NAME
# Replays every input that once crashed target NAME (a regression fails the
# test at once), then fuzzes it for $RINGSIDE_FUZZ_SECONDS (default 20)
# from its hand-written seeds and the corpus earlier long runs grew. New
# inputs go to a scratch directory, not into the source tree; run.sh is the
# long run that keeps them.
set -euo pipefail
exe=$1 name=$2
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/seeds/$name corpus=$here/corpus/$name regressions=$here/regressions/$name
secs=${RINGSIDE_FUZZ_SECONDS:-20}
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

# libFuzzer's own exit code for a crash is 77, which meson reads as "skipped"
if compgen -G "$regressions/*" >/dev/null; then
  echo "== $name: replaying $(ls "$regressions" | wc -l) regression inputs"
  "$exe" -error_exitcode=1 -runs=1 "$regressions"/*
fi
mkdir -p "$work/new" "$work/artifacts"
dirs=()
for d in "$seeds" "$corpus"; do
  [[ -d $d ]] && dirs+=("$d")
done
echo "== $name: fuzzing for $secs s from $(find "${dirs[@]}" -type f | wc -l) inputs (seeds and corpus)"
if ! "$exe" -error_exitcode=1 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
     -artifact_prefix="$work/artifacts/" "$work/new" "${dirs[@]}"; then
  for f in "$work"/artifacts/*; do
    [[ -f $f ]] || continue
    echo "== $name: crashing input $(basename "$f") (base64; save it into tests/fuzz/regressions/$name/):"
    base64 -w 0 "$f"; echo
  done
  exit 1
fi
