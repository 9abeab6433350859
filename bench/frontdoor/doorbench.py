#!/usr/bin/env python3
"""Front-door benchmark: ringsided's OpenAI-compatible front door against
HAProxy, both in front of the same upstream, loaded by wrk with a small
chat-completion POST. See bench/frontdoor/README.md.

Starts (127.0.0.1 only, stopped by PID at the end, on Ctrl-C or failure):
an upstream (nginx returning a fixed completion, 1 worker, or the mock
with --threads 2), HAProxy (http mode, nbthread 1, keep-alive to the upstream),
and ringsided with --front-door-listen 127.0.0.1:0 --front-door-anonymous.
Then, for every round and concurrency, runs wrk against direct, HAProxy
and ringside (the two proxies' order alternating by round) and measures
req/s, p50/p99 (wrk's Lua done() hook), proxy CPU µs per request
(/proc/PID/stat utime+stime), peak RSS (VmHWM) and the upstream's request
counter (nginx's stub_status, the mock's /stats) against wrk's count. Progress on stderr; one JSON line on stdout:
{"bench":"frontdoor",...}. Python 3 stdlib only; installs nothing.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGETS = ("direct", "haproxy", "ringside")
BODY = '{"model":"deepseek-chat","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
# nginx's fixed answer: the mock's shape, without the per-request id
NGINX_ANSWER = ('{"id":"chatcmpl-nginx","object":"chat.completion","created":1700000000,'
                '"model":"deepseek-chat","system_fingerprint":"fp_nginx",'
                '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},'
                '"logprobs":null,"finish_reason":"stop"}],'
                '"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22}}')
CLK_TCK = os.sysconf("SC_CLK_TCK")

WRK_LUA = r'''
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer doorbench"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'DOORBENCH {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"mean_us":%%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
''' % BODY


def log(msg):
    print(f"doorbench: {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}) before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} is not listening on 127.0.0.1:{port}")


def proc_cpu_us(pid):
    """utime + stime of the whole process (all threads), in µs."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // CLK_TCK


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Procs:
    """Every process this run started, stopped by PID in reverse order."""

    def __init__(self):
        self.started = []   # (name, Popen, stop signal)

    def start(self, name, argv, stop_sig=signal.SIGTERM, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.started.append((name, p, stop_sig))
        return p

    def stop_all(self):
        for name, p, sig in reversed(self.started):
            if p.poll() is None:
                try:
                    p.send_signal(sig)
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    log(f"{name} (pid {p.pid}) ignored {sig.name}: SIGKILL")
                    p.kill()
                    p.wait()
                except ProcessLookupError:
                    pass
        self.started = []


class Upstream:
    def __init__(self, kind, procs, tmp, mock_bin, threads):
        self.kind = kind
        if kind == "mock":
            self.proc = procs.start("mock upstream", [mock_bin, "--port", "0", "--threads", str(threads)],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line = self.proc.stdout.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if not m:
                raise RuntimeError(f"mock upstream said {line!r}")
            self.port = int(m.group(1))
        else:
            self.port = free_port()
            d = os.path.join(tmp, "nginx")
            os.makedirs(d)
            conf = os.path.join(d, "nginx.conf")
            answer = NGINX_ANSWER.replace("'", "\\'")
            with open(conf, "w") as f:
                f.write(f"""worker_processes {threads};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{self.port};
    default_type application/json;
    location = /_nginx_status {{ stub_status; }}
    location / {{ client_body_buffer_size 64k; return 200 '{answer}'; }}
  }}
}}
""")
            self.proc = procs.start("nginx", ["nginx", "-p", d, "-c", conf], stop_sig=signal.SIGQUIT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(self.port, self.proc, "nginx")
        self.url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        """The upstream's count of requests answered (its own queries excluded)."""
        if self.kind == "mock":
            with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as r:
                return json.loads(r.read())["requests"]
        with urllib.request.urlopen(f"{self.url}/_nginx_status", timeout=10) as r:
            m = re.search(r"\n\s*\d+\s+\d+\s+(\d+)", r.read().decode())
        return int(m.group(1))   # counts this query too: requests_delta() takes it off

    def cpu_us(self):
        pids = [self.proc.pid] + (children(self.proc.pid) if self.kind == "nginx" else [])
        return sum(proc_cpu_us(p) for p in pids)


def start_haproxy(procs, tmp, upstream_port, nbthread):
    port = free_port()
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    nbthread {nbthread}
    maxconn 4096
    log stderr format raw local0 err

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend door
    bind 127.0.0.1:{port}
    default_backend upstream

backend upstream
    server up1 127.0.0.1:{upstream_port}
""")
    check = subprocess.run(["haproxy", "-c", "-f", cfg], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy rejects its config: {check.stdout}{check.stderr}")
    p = procs.start("haproxy", ["haproxy", "-db", "-f", cfg],
                    stdout=open(os.path.join(tmp, "haproxy.log"), "w"), stderr=subprocess.STDOUT)
    wait_port(port, p, "haproxy")
    return p, f"http://127.0.0.1:{port}"


def start_ringside(procs, tmp, ringsided, upstream_url, config, extra):
    sock = os.path.join(tmp, "rs.sock")
    log_path = os.path.join(tmp, "ringsided.log")
    argv = [ringsided, "--socket", sock, "--upstream", upstream_url,
            "--front-door-listen", "127.0.0.1:0", "--front-door-anonymous",
            "--admin-listen", "127.0.0.1:0"]
    if config:
        argv += ["--config", config]
    argv += extra
    env = dict(os.environ)
    env.pop("DEEPSEEK_API_KEY", None)   # the local upstream, never a real API
    p = procs.start("ringsided", argv, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        with open(log_path) as f:
            text = f.read()
        m = re.search(r"front door listening on (?:http://)?127\.0\.0\.1:(\d+)", text)
        if m:
            port = int(m.group(1))
            wait_port(port, p, "ringsided's front door")
            return p, f"http://127.0.0.1:{port}", log_path
        if p.poll() is not None:
            raise RuntimeError(f"ringsided exited ({p.returncode}) before its front door listened:\n"
                               f"{text[:1500]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ringsided's front door did not start listening:\n{text[-1500:]}")
        time.sleep(0.05)


def smoke(url, what):
    """One request by hand: the target answers a chat completion."""
    req = urllib.request.Request(url + "/v1/chat/completions", data=BODY.encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer doorbench"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.loads(r.read())
    except Exception as e:
        raise RuntimeError(f"{what} did not answer a chat completion: {e}") from None
    if not answer.get("choices"):
        raise RuntimeError(f"{what} answered {answer!r}")


def run_wrk(url, conc, seconds, threads, lua, timeout_s):
    t = max(1, min(threads, conc))
    argv = ["wrk", "-t", str(t), "-c", str(conc), "-d", f"{int(seconds)}s", "--timeout", f"{timeout_s}s",
            "-s", lua, url + "/v1/chat/completions"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    m = re.search(r"^DOORBENCH (\{.*\})$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stdout[-800:]}{p.stderr[-800:]}")
    return json.loads(m.group(1))


def median(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 2) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds, the proxies' order alternating (default 3)")
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration of each run, whole seconds (default 5)")
    ap.add_argument("--conc", default="1,32,256", help="wrk connections, comma-separated (default 1,32,256)")
    ap.add_argument("--only", default=",".join(TARGETS),
                    help="targets among direct,haproxy,ringside (default all)")
    ap.add_argument("--upstream", choices=("nginx", "mock"), default="nginx",
                    help="nginx: a fixed completion (default; a third of the mock's CPU per "
                         "request, see README.md); mock: ringside-mock-upstream")
    ap.add_argument("--upstream-threads", type=int,
                    help="nginx's worker_processes (default 1) or the mock's --threads (default 2)")
    ap.add_argument("--haproxy-threads", type=int, default=1, help="HAProxy nbthread (default 1)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk -t, capped at the connections (default 2)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="whole seconds of unmeasured load per target first (default 1; 0: none)")
    ap.add_argument("--wrk-timeout", type=int, default=10, help="wrk --timeout seconds (default 10)")
    ap.add_argument("--build", default=os.environ.get("RINGSIDE_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--ringsided", help="ringsided binary (default BUILD/sidecar/ringsided)")
    ap.add_argument("--mock", help="mock upstream binary (default BUILD/bench/mockup/ringside-mock-upstream)")
    ap.add_argument("--ringside-config", help="YAML for ringsided (--config), e.g. to lift its route limits")
    ap.add_argument("--ringside-arg", action="append", default=[],
                    help="an extra ringsided argument (repeatable, e.g. --ringside-arg=--io-backend=epoll)")
    ap.add_argument("--runs-json", help="also write every run's raw figures to this file")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    a = ap.parse_args()

    if a.upstream_threads is None:
        a.upstream_threads = 1 if a.upstream == "nginx" else 2
    only = [t.strip() for t in a.only.split(",") if t.strip()]
    bad = [t for t in only if t not in TARGETS]
    if bad or not only:
        ap.error(f"--only takes direct,haproxy,ringside, not {a.only!r}")
    targets = [t for t in TARGETS if t in only]
    concs = [int(c) for c in a.conc.split(",")]
    if a.rounds < 1 or a.seconds <= 0 or any(c < 1 for c in concs):
        ap.error("--rounds, --seconds and --conc must be positive")

    # what it needs, checked, never installed
    tools = ["wrk"] + (["haproxy"] if "haproxy" in targets else []) + (["nginx"] if a.upstream == "nginx" else [])
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        sys.exit(f"doorbench: missing {' '.join(missing)} (deploy/install-deps.sh installs them)")
    mock_bin = a.mock or os.path.join(a.build, "bench/mockup/ringside-mock-upstream")
    ringsided = a.ringsided or os.path.join(a.build, "sidecar/ringsided")
    for path, need in ((mock_bin, a.upstream == "mock"), (ringsided, "ringside" in targets)):
        if need and not os.access(path, os.X_OK):
            sys.exit(f"doorbench: {path} is not built (meson setup build && ninja -C build)")

    # 256 connections in and out of each proxy: every child may use the hard limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="doorbench-")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    runs = []
    try:
        lua = os.path.join(tmp, "post.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA)
        up = Upstream(a.upstream, procs, tmp, mock_bin, a.upstream_threads)
        log(f"upstream: {a.upstream} on {up.url} (pid {up.proc.pid})")
        urls = {"direct": up.url}
        pids = {}
        if "haproxy" in targets:
            p, urls["haproxy"] = start_haproxy(procs, tmp, up.port, a.haproxy_threads)
            pids["haproxy"] = p.pid
            log(f"haproxy on {urls['haproxy']} (pid {p.pid}, nbthread {a.haproxy_threads})")
        if "ringside" in targets:
            p, urls["ringside"], rs_log = start_ringside(procs, tmp, ringsided, up.url, a.ringside_config,
                                                         a.ringside_arg)
            pids["ringside"] = p.pid
            log(f"ringsided front door on {urls['ringside']} (pid {p.pid}, log {rs_log})")
        for t in targets:
            smoke(urls[t], t)
        if a.warmup > 0:
            for t in targets:
                run_wrk(urls[t], min(32, max(concs)), a.warmup, a.wrk_threads, lua, a.wrk_timeout)
            log(f"warmed up ({a.warmup:g} s each)")

        for rnd in range(a.rounds):
            proxies = [t for t in ("haproxy", "ringside") if t in targets]
            if rnd % 2:
                proxies.reverse()
            order = (["direct"] if "direct" in targets else []) + proxies
            for conc in concs:
                for t in order:
                    for name, p, _ in procs.started:
                        if p.poll() is not None:
                            raise RuntimeError(f"{name} (pid {p.pid}) died ({p.returncode})")
                    up0, upcpu0 = up.requests(), up.cpu_us()
                    cpu0 = proc_cpu_us(pids[t]) if t in pids else None
                    w = run_wrk(urls[t], conc, a.seconds, a.wrk_threads, lua, a.wrk_timeout)
                    cpu1 = proc_cpu_us(pids[t]) if t in pids else None
                    time.sleep(0.2)   # let abandoned in-flight requests land before counting
                    up1, upcpu1 = up.requests(), up.cpu_us()
                    delta = up1 - up0 - (1 if up.kind == "nginx" else 0)
                    n = w["requests"]
                    errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
                    # every answered request reached the upstream, save those the
                    # proxy answered itself (non-2xx); up to `conc` more may have
                    # been in flight when wrk stopped (and retries add more)
                    missing = n - delta
                    upstream_ok = missing <= w["status"] and delta - n <= conc + errors
                    r = {
                        "round": rnd + 1, "target": t, "conc": conc,
                        "rps": round(n / (w["duration_us"] / 1e6), 1),
                        "requests": n, "non2xx": w["status"], "socket_errors": errors,
                        "p50_us": w["p50_us"], "p90_us": w["p90_us"], "p99_us": w["p99_us"],
                        "max_us": w["max_us"], "upstream_delta": delta, "upstream_ok": upstream_ok,
                        "upstream_cpu_us_per_req": round((upcpu1 - upcpu0) / n, 2) if n else None,
                    }
                    if cpu0 is not None:
                        r["cpu_us_per_req"] = round((cpu1 - cpu0) / n, 2) if n else None
                        r["vmhwm_kib"] = proc_status(pids[t], "VmHWM")
                    runs.append(r)
                    cpu = f" cpu {r['cpu_us_per_req']} µs/req" if "cpu_us_per_req" in r else ""
                    log(f"round {rnd + 1}/{a.rounds} c={conc} {t}: {r['rps']:.0f} req/s "
                        f"p50 {r['p50_us']} µs p99 {r['p99_us']} µs{cpu} upstream +{delta} of {n} "
                        f"({'ok' if upstream_ok else 'MISMATCH'}; non-2xx {w['status']}, errors {errors})")

        peak = {t: proc_status(pids[t], "VmHWM") for t in pids}
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}): stopping what it started")
        procs.stop_all()
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(130)
    except Exception as e:
        log(f"failed: {e}")
        procs.stop_all()
        log(f"logs and configs kept in {tmp}")
        sys.exit(1)
    finally:
        procs.stop_all()

    if a.runs_json:
        with open(a.runs_json, "w") as f:
            json.dump(runs, f, indent=1)
    if not a.keep_tmp:
        shutil.rmtree(tmp, ignore_errors=True)

    res = {}
    for t in targets:
        res[t] = {}
        for conc in concs:
            rs = [r for r in runs if r["target"] == t and r["conc"] == conc]
            m = {k: median([r[k] for r in rs]) for k in ("rps", "p50_us", "p99_us", "upstream_cpu_us_per_req")}
            if t in pids:
                m["cpu_us_per_req"] = median([r["cpu_us_per_req"] for r in rs])
            m["non2xx"] = sum(r["non2xx"] for r in rs)
            m["socket_errors"] = sum(r["socket_errors"] for r in rs)
            m["upstream_ok"] = all(r["upstream_ok"] for r in rs)
            res[t][str(conc)] = m

    def ratio(x, y):
        return round(x / y, 3) if x is not None and y else None

    out = {"bench": "frontdoor", "upstream": a.upstream, "upstream_threads": a.upstream_threads,
           "haproxy_nbthread": a.haproxy_threads, "rounds": a.rounds, "seconds": a.seconds,
           "conc": concs, "targets": targets, "cpus": os.cpu_count(), "results": res,
           "peak_rss_kib": peak,
           "upstream_ok": all(r["upstream_ok"] for r in runs)}
    if "direct" in targets:
        c1 = str(concs[0]) if 1 not in concs else "1"
        out["added_p50_us"] = {t: {c: round(res[t][c]["p50_us"] - res["direct"][c]["p50_us"], 1)
                                   for c in res[t]} for t in targets if t != "direct"}
        out["added_p50_us_c1"] = {t: out["added_p50_us"][t][c1] for t in out["added_p50_us"]}
    if "haproxy" in targets and "ringside" in targets:
        h, s = res["haproxy"], res["ringside"]
        out["ringside_over_haproxy"] = {
            "rps": {c: ratio(s[c]["rps"], h[c]["rps"]) for c in h},
            "cpu_us_per_req": {c: ratio(s[c]["cpu_us_per_req"], h[c]["cpu_us_per_req"]) for c in h},
            "p99_us": {c: ratio(s[c]["p99_us"], h[c]["p99_us"]) for c in h},
            "peak_rss": ratio(peak.get("ringside"), peak.get("haproxy")),
        }
        if "added_p50_us_c1" in out:
            out["ringside_over_haproxy"]["added_p50_c1"] = ratio(out["added_p50_us_c1"]["ringside"],
                                                                 out["added_p50_us_c1"]["haproxy"])
    print(json.dumps(out), flush=True)
    return 0 if out["upstream_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
