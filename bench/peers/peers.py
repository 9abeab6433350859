#!/usr/bin/env python3
"""Peer benchmark: ringside beside HAProxy, nginx and Portkey, side by side
in one run, each in front of an nginx serving a fixed chat completion (one
per target, all alike, so that each run's upstream count is its own).
See bench/peers/README.md.

Targets (each loaded at every concurrency, in rounds whose target order
rotates; medians over the rounds):
  direct         wrk -> nginx (the upstream itself: the floor)
  haproxy        wrk -> HAProxy (nbthread 1, keep-alive, http-reuse always) -> nginx
  nginx          wrk -> nginx as a reverse proxy (1 worker, keepalive upstream) -> nginx
  portkey        wrk -> the Portkey AI gateway (node, x-portkey-custom-host) -> nginx
  ringside-ring  ringload (closed loop through the shared-memory ring) -> ringsided -> nginx
  ringside-door  wrk -> ringsided's OpenAI-compatible front door -> nginx

Everything listens on 127.0.0.1 and is stopped by its PID (on success,
failure and Ctrl-C). Installs what is missing first (bench/peers/install.sh).
Progress on stderr; a Markdown table, a JSON file and a PNG plot in the
output dir; one JSON line on stdout: {"bench":"peers",...}. Exit 1 when a
count did not match or something failed (the temp dir is then kept), 130
when interrupted. Python 3 stdlib only.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from peerload import measure_run, run_ringload, run_wrk, smoke_http, write_wrk_lua
from peerprocs import (HERE, RINGSIDE_YAML, Procs, Upstream, log, start_haproxy, start_nginx_proxy,
                       start_portkey, start_ringsided)
from peerreport import ROOT, git_commit, goals18, machine, summarize, versions, write_markdown, write_plot

TARGETS = ("direct", "haproxy", "nginx", "portkey", "ringside-ring", "ringside-door")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds, the target order rotating (default 3)")
    ap.add_argument("--seconds", type=int, default=4, help="measured seconds of each run (default 4)")
    ap.add_argument("--conc", default="1,32,256", help="requests in flight, comma-separated (default 1,32,256)")
    ap.add_argument("--only", default=",".join(TARGETS), help=f"targets among {','.join(TARGETS)} (default all)")
    ap.add_argument("--out", help="output dir for peers.md/.json/.png (default /tmp/peers-DATE-TIME)")
    ap.add_argument("--build", default=os.environ.get("RINGSIDE_BUILD", os.path.join(ROOT, "build")),
                    help="meson build dir with ringsided and ringload (default ./build; measure a release "
                         "build: meson setup build-rel -Dbuildtype=release)")
    ap.add_argument("--no-ninja", action="store_true",
                    help="do not run ninja -C BUILD for ringsided and ringload first")
    ap.add_argument("--no-install", action="store_true", help="do not run bench/peers/install.sh")
    ap.add_argument("--warmup", type=float, default=1,
                    help="seconds of unmeasured load per target before the rounds (default 1; 0: none)")
    ap.add_argument("--portkey-warmup", type=float, default=10,
                    help="Portkey's warm-up instead, for node's JIT (default 10)")
    ap.add_argument("--ring-warmup", type=float, default=0.5,
                    help="ringload's own unmeasured start in each run (its registration; default 0.5)")
    ap.add_argument("--ring-clients", type=int, default=1, help="ringload --clients (default 1)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk -t, capped at the connections (default 2)")
    ap.add_argument("--wrk-timeout", type=int, default=10, help="wrk --timeout seconds (default 10)")
    ap.add_argument("--haproxy-threads", type=int, default=1, help="HAProxy nbthread (default 1)")
    ap.add_argument("--ringside-config", help="YAML for both ringsided (default: RINGSIDE_YAML in "
                                              "peerprocs.py; ${PEERS_UPSTREAM} is the upstream's URL)")
    ap.add_argument("--ringside-arg", action="append", default=[],
                    help="an extra ringsided argument (repeatable, e.g. --ringside-arg=--io-backend=epoll)")
    ap.add_argument("--node-arg", action="append", default=[], help="an extra node argument for Portkey")
    ap.add_argument("--runs-json", help="also write every run's raw figures to this file")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args()

    only = [t.strip() for t in a.only.split(",") if t.strip()]
    bad = [t for t in only if t not in TARGETS]
    if bad or not only:
        ap.error(f"--only takes {','.join(TARGETS)}, not {a.only!r}")
    a.targets = [t for t in TARGETS if t in only]
    try:
        a.concs = [int(c) for c in a.conc.split(",")]
    except ValueError:
        ap.error("--conc takes comma-separated integers")
    if a.rounds < 1 or a.seconds <= 0 or any(c < 1 for c in a.concs) or a.ring_clients < 1:
        ap.error("--rounds, --seconds, --conc and --ring-clients must be positive")
    a.ringsided = os.path.join(a.build, "sidecar", "ringsided")
    a.ringload = os.path.join(a.build, "bench", "peers", "ringload")
    a.uses_ring = any(t.startswith("ringside") for t in a.targets)
    return a


def prepare(a):
    """What the run needs, installed (install.sh) or built (ninja), else
    named: an error message, or None."""
    if not a.no_install:
        argv = [os.path.join(HERE, "install.sh")] + ([] if "portkey" in a.targets else ["--no-portkey"])
        if subprocess.run(argv).returncode != 0:
            return "install.sh could not provide everything (see above)"
    need = ["nginx", "wrk"] + (["haproxy"] if "haproxy" in a.targets else []) + \
           (["node"] if "portkey" in a.targets else [])
    missing = [t for t in need if not shutil.which(t)]
    if missing:
        return f"missing {' '.join(missing)}: run bench/peers/install.sh as root"
    if a.uses_ring and not a.no_ninja and os.path.exists(os.path.join(a.build, "build.ninja")):
        log(f"ninja -C {a.build} (ringsided, ringload)")
        p = subprocess.run(["ninja", "-C", a.build, "sidecar/ringsided", "bench/peers/ringload"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            return f"ninja failed: {p.stderr[-1500:]}"
    for path, need_it in ((a.ringsided, a.uses_ring), (a.ringload, "ringside-ring" in a.targets)):
        if need_it and not os.access(path, os.X_OK):
            return f"{path} is not built (meson setup {a.build} -Dbuildtype=release && ninja -C {a.build})"
    return None


class Targets:
    """Every target of the run, started: its address, its proxy's PID and
    how to load it."""

    def __init__(self, a, procs, tmp):
        self.a = a
        rs_config = RINGSIDE_YAML
        if a.ringside_config:
            with open(a.ringside_config) as f:
                rs_config = f.read()
        self.ups = {}
        for t in a.targets:
            self.ups[t] = up = Upstream(procs, tmp, f"upstream-{t}")
            log(f"{t}'s upstream: nginx on {up.url} (pid {up.proc.pid})")
        self.lua = {"plain": os.path.join(tmp, "plain.lua")}
        write_wrk_lua(self.lua["plain"], {})
        self.urls, self.pids = {}, {}
        for t in a.targets:
            up = self.ups[t]
            if t == "direct":
                self.urls[t] = up.url
                continue
            if t == "haproxy":
                p, self.urls[t] = start_haproxy(procs, tmp, up.port, a.haproxy_threads)
                what = f"nbthread {a.haproxy_threads}"
            elif t == "nginx":
                p, self.urls[t] = start_nginx_proxy(procs, tmp, up.port)
                what = "1 worker"
            elif t == "portkey":
                p, self.urls[t] = start_portkey(procs, tmp, a.node_arg)
                what = "node"
                # Portkey's way to an OpenAI-compatible host of one's own
                self.portkey_headers = {"x-portkey-provider": "openai",
                                        "x-portkey-custom-host": f"{up.url}/v1"}
                self.lua[t] = os.path.join(tmp, "portkey.lua")
                write_wrk_lua(self.lua[t], self.portkey_headers)
            elif t.startswith("ringside-"):
                kind = t.split("-")[1]
                p, self.urls[t], rlog = start_ringsided(procs, tmp, kind, a.ringsided, rs_config, up.url,
                                                        a.ringside_arg)
                what = f"log {rlog}"
            self.pids[t] = p.pid
            log(f"{t} on {self.urls[t]} (pid {p.pid}, {what})")

    def load(self, t, conc, seconds, on_mark=None):
        a = self.a
        if t == "ringside-ring":
            return run_ringload(a.ringload, self.urls[t], conc, seconds, a.ring_warmup, a.ring_clients, on_mark)
        lua = self.lua.get(t, self.lua["plain"])
        return run_wrk(self.urls[t], conc, seconds, a.wrk_threads, lua, a.wrk_timeout)

    def smoke(self, t):
        """One chat completion by hand (ringload: a 0.2 s run)."""
        if t == "ringside-ring":
            r = run_ringload(self.a.ringload, self.urls[t], 1, 0.2, 0, 1)
            if not r["ok_total"] or r["errors_total"]:
                raise RuntimeError(f"ringside-ring's smoke run: {r}")
        else:
            smoke_http(self.urls[t], t, self.portkey_headers if t == "portkey" else {})


def run_rounds(a, procs, tg):
    runs = []
    for t in a.targets:
        tg.smoke(t)
    log(f"every target answered a chat completion ({', '.join(a.targets)})")
    if a.warmup > 0:
        for t in a.targets:
            # node compiles Portkey's hot paths only after thousands of
            # requests: its first seconds run at a fraction of its pace
            secs = max(a.warmup, a.portkey_warmup) if t == "portkey" else a.warmup
            tg.load(t, min(32, max(a.concs)), max(1, secs))
        log(f"warmed up ({max(1, a.warmup):g} s each"
            f"{f', Portkey {max(a.warmup, a.portkey_warmup):g} s' if 'portkey' in a.targets else ''})")

    total = a.rounds * len(a.concs) * len(a.targets)
    for rnd in range(a.rounds):
        k = rnd % len(a.targets)
        order = a.targets[k:] + a.targets[:k]
        for conc in a.concs:
            for t in order:
                procs.check_alive()
                r = measure_run(t, conc, lambda on_mark, t=t, conc=conc: tg.load(t, conc, a.seconds, on_mark),
                                tg.pids.get(t), tg.ups[t])
                r["round"] = rnd + 1
                runs.append(r)
                cpu = f" cpu {r['cpu_us_per_req']} µs/req" if r["cpu_us_per_req"] is not None else ""
                bad = r["errors"] + r["non2xx"]
                log(f"[{len(runs)}/{total}] round {rnd + 1} c={conc} {t}: {r['rps']:.0f} req/s "
                    f"p50 {r['p50_us']:.0f} p99 {r['p99_us']:.0f} p99.9 {r['p999_us']:.0f} µs{cpu}"
                    f" upstream +{r['upstream_delta']} of {r['loadgen_sent']}"
                    f" ({'ok' if r['upstream_ok'] else 'MISMATCH'}{f', errors {bad}' if bad else ''}"
                    f"; other load {r['other_cores']} cores)")
    return runs


def report(a, runs, out, command):
    """Writes the outputs; returns the document printed as the last line."""
    res, over = summarize(runs, a.targets, a.concs)
    peak = {}
    for r in runs:
        if r.get("peak_rss_kib"):
            peak[r["target"]] = max(peak.get(r["target"], 0), r["peak_rss_kib"])
    os.makedirs(out, exist_ok=True)
    v = versions(a.ringsided if a.uses_ring else None)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command, "commit": git_commit(),
            "build": os.path.abspath(a.build), "machine": machine(), "rounds": a.rounds, "seconds": a.seconds,
            "ringsided_version": v.get("ringsided") or "–"}
    doc = {"bench": "peers", "date": meta["date"], "command": command, "commit": meta["commit"],
           "machine": meta["machine"], "versions": v, "rounds": a.rounds, "seconds": a.seconds,
           "conc": a.concs, "targets": a.targets, "haproxy_nbthread": a.haproxy_threads,
           "ring_clients": a.ring_clients, "results": res, "over_haproxy": over, "peak_rss_kib": peak,
           "goals_18": goals18(res, over, a.concs), "upstream_ok": all(r["upstream_ok"] for r in runs),
           "out": out}
    with open(os.path.join(out, "peers.json"), "w") as f:
        json.dump(doc, f, indent=1)
    for path in [os.path.join(out, "runs.json")] + ([a.runs_json] if a.runs_json else []):
        with open(path, "w") as f:
            json.dump(runs, f, indent=1)
    write_markdown(os.path.join(out, "peers.md"), meta, res, over, a.targets, a.concs)
    png = write_plot(out, res, a.targets, a.concs, f"bench/peers {meta['date']} ({meta['commit']})")
    log(f"wrote {out}/peers.md, peers.json, runs.json{', peers.png' if png else ''}")
    return doc


def main():
    a = parse_args()
    command = "bench/peers/peers.py " + " ".join(sys.argv[1:])
    out = a.out or f"/tmp/peers-{time.strftime('%Y%m%d-%H%M%S')}"
    problem = prepare(a)
    if problem:
        log(problem)
        return 1

    # 256 connections in and out of each proxy: every child may use the hard limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="peers-tmp-")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runs = run_rounds(a, procs, Targets(a, procs, tmp))
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}): stopping what it started")
        procs.stop_all()
        if a.keep_tmp:
            log(f"configs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        return 130
    except Exception as e:
        log(f"failed: {e}")
        procs.stop_all()
        log(f"configs and logs kept in {tmp}")
        return 1
    finally:
        procs.stop_all()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    doc = report(a, runs, out, command)
    if not doc["upstream_ok"]:
        bad = [f"{r['target']} c={r['conc']} round {r['round']}" for r in runs if not r["upstream_ok"]]
        log(f"COUNT MISMATCH (the upstream's count does not match the load generator's): {', '.join(bad)}; "
            f"configs and logs kept in {tmp}")
    elif a.keep_tmp:
        log(f"configs and logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(doc), flush=True)
    return 0 if doc["upstream_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
