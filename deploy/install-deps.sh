#!/usr/bin/env bash
# Installs the Debian 12 packages ringside needs to build, run and test.
# Idempotent: asks apt only for what is missing. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config
  liburing-dev libcurl4-openssl-dev libmsgpack-dev libyaml-dev libyajl-dev libssl-dev
  libcmocka-dev python3-pytest
  swig python3-dev ruby ruby-dev liblua5.4-dev lua5.4
  python3-venv python3-mesonpy python3-mypy luarocks
  libmicrohttpd-dev libjansson-dev curl
  clang-14 libclang-rt-14-dev
  # the container suite (tests/container) and the deploy checks (tests/deploy)
  podman runc catatonit debootstrap python3-yaml
  # the ops suite (tests/ops): Prometheus and promtool. The package enables
  # its own prometheus.service (on :9090, every interface) where systemd
  # runs: `systemctl disable --now prometheus` if you do not want it; the
  # tests start their own on 127.0.0.1
  prometheus
  # the emergency drill's real Alertmanager (tests/ops/test_alerts.py)
  prometheus-alertmanager
  # the /status page rendered headless (tests/ops/test_status_page.py)
  chromium
  # the peer benchmark (bench/peers; its install.sh adds gnuplot and the
  # Portkey gateway): wrk, HAProxy and nginx as peer proxies, nginx as the
  # fixed upstream; nginx and openssl also serve TLS and HTTP/2 to the
  # HTTP/2 tests (tests/e2e/test_http2.py). Where systemd runs, the packages
  # start haproxy.service and nginx.service (:80 on every interface):
  # `systemctl disable --now haproxy nginx` if you do not want them; the
  # bench and the tests start their own on 127.0.0.1
  wrk haproxy nginx openssl
  # bench/burst's h2 mode (and --upstream nginx): nginx's echo module holds
  # each request D ms (echo_sleep) before a fixed answer; burstbench loads
  # it into its own nginx (Debian enables it in the system nginx too, where
  # it does nothing unless a config uses its directives)
  libnginx-mod-http-echo
)

# the OpenAI SDK kit (tests/frontdoor/sdk) runs on node and installs with
# npm; a node already on PATH (e.g. NodeSource's, which bundles npm and
# conflicts with Debian's npm package) is kept
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
