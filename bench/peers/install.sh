#!/usr/bin/env bash
# Installs what bench/peers needs and does not find: nginx, HAProxy, wrk and
# gnuplot from Debian (as root only; otherwise it names the packages to
# install), and the Portkey gateway from npm, exactly as
# bench/peers/portkey/package-lock.json pins it (npm ci: no resolution,
# install scripts off) into bench/peers/portkey/node_modules (git-ignored).
#
#   bench/peers/install.sh [--no-portkey]
#
# Idempotent: a second run asks apt and npm for nothing. Exits 0 when all is
# there, 1 when something is still missing (the message says what).
#
# The Debian packages would start nginx and HAProxy on every interface
# where an init system runs their scripts: while apt runs, a policy-rc.d
# (when the machine has none) forbids starting services. The benchmark
# starts its own processes on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")"

portkey=1
for arg in "$@"; do
  case "$arg" in
    --no-portkey) portkey=0 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "peers install: unknown argument $arg (--no-portkey)" >&2; exit 2 ;;
  esac
done

say() { echo "peers install: $*" >&2; }

# command → Debian package
declare -A PKG=([nginx]=nginx [haproxy]=haproxy [wrk]=wrk [gnuplot]=gnuplot-nox)
if ((portkey)); then
  # a node already on PATH (NodeSource's bundles npm) is kept
  PKG[node]=nodejs
  PKG[npm]=npm
fi

missing=()
for cmd in nginx haproxy wrk gnuplot node npm; do
  [[ -n "${PKG[$cmd]:-}" ]] || continue
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG[$cmd]}")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them as root: apt-get install --no-install-recommends ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  cleanup() { ((made_policy)) && rm -f /usr/sbin/policy-rc.d; return 0; }
  trap cleanup EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  cleanup
  trap - EXIT
else
  say "Debian packages present (nginx, haproxy, wrk, gnuplot$( ((portkey)) && echo ', node, npm'))"
fi

if ((portkey)); then
  want=$(node -p 'require("./portkey/package-lock.json").packages["node_modules/@portkey-ai/gateway"].version')
  have=$(node -p 'try { require("./portkey/node_modules/@portkey-ai/gateway/package.json").version } catch { "" }')
  if [[ "$have" == "$want" && -f portkey/node_modules/.package-lock.json ]]; then
    say "portkey gateway $have already installed"
  else
    say "installing the portkey gateway $want (npm ci into bench/peers/portkey)"
    (cd portkey && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
    have=$(node -p 'require("./portkey/node_modules/@portkey-ai/gateway/package.json").version')
    [[ "$have" == "$want" ]] || { say "npm ci left gateway $have, not $want"; exit 1; }
    say "portkey gateway $have installed"
  fi
fi
