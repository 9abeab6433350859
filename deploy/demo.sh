#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running ringside:
# installs missing packages, builds, starts the bundled mock upstream (unless
# DEEPSEEK_API_KEY is set: then the real https://api.deepseek.com is used),
# starts ringsided on its embedded defaults, sends one request through the
# shared-memory ring and prints the reply. The sidecar then keeps serving in
# the foreground until Ctrl-C (--once: stop after the demo request).
set -euo pipefail
cd "$(dirname "$0")/.."
ONCE=0
[[ ${1:-} == --once ]] && ONCE=1

if [[ -z ${RINGSIDE_SKIP_INSTALL:-} ]]; then
  bash deploy/install-deps.sh
fi
BUILD=${RINGSIDE_BUILD:-build}
if [[ -z ${RINGSIDE_SKIP_BUILD:-} ]]; then
  [[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" >/dev/null
  ninja -C "$BUILD" >/dev/null
fi

RUNDIR=$(mktemp -d /tmp/ringside-demo.XXXXXX)
export RINGSIDE_SOCKET=$RUNDIR/ringside.sock
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${DEEPSEEK_API_KEY:-} ]]; then
  echo "demo: no DEEPSEEK_API_KEY: starting the bundled mock upstream on 127.0.0.1:18089"
  "$BUILD/bench/mockup/ringside-mock-upstream" --port 18089 >"$RUNDIR/mock.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$RUNDIR/mock.log" && break; sleep 0.05; done
  grep -q listening "$RUNDIR/mock.log" || { cat "$RUNDIR/mock.log"; exit 1; }
else
  echo "demo: DEEPSEEK_API_KEY is set: the sidecar will call https://api.deepseek.com"
fi

# the HTTP front door too, open to callers without a key for the demo only
DOOR=127.0.0.1:${RINGSIDE_DEMO_DOOR_PORT:-8080}
"$BUILD/sidecar/ringsided" --front-door-listen "$DOOR" --front-door-anonymous &
pids+=($!)
for _ in $(seq 200); do [[ -S $RINGSIDE_SOCKET ]] && break; sleep 0.05; done

echo "demo: one chat completion through the ring (ringside-call -v):"
"$BUILD/tools/ringside-call" -v \
  --data '{"model":"deepseek-chat","messages":[{"role":"user","content":"Say hello to ringside"}]}'
echo
echo "demo: the same through the OpenAI-compatible front door (curl http://$DOOR/v1/chat/completions):"
curl --noproxy '*' -sS -i "http://$DOOR/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"deepseek-chat","messages":[{"role":"user","content":"Say hello to ringside"}]}'
echo
if ((ONCE)); then
  echo "demo: done"
  exit 0
fi
echo "demo: ringsided is serving on $RINGSIDE_SOCKET; try, in another shell:"
echo "  RINGSIDE_SOCKET=$RINGSIDE_SOCKET $BUILD/tools/ringside-call -v"
echo "  OPENAI_BASE_URL=http://$DOOR/v1 your-openai-app   # any OpenAI SDK, unchanged"
echo "demo: Ctrl-C stops it."
wait "${pids[-1]}"
