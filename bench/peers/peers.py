#!/usr/bin/env python3
"""Peer benchmark: ringside beside HAProxy, nginx and Portkey, side by side
in one run, all in front of the same nginx serving a fixed chat completion.
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TARGETS = ("direct", "haproxy", "nginx", "portkey", "ringside-ring", "ringside-door")
PROXIES = TARGETS[1:]
PATH = "/v1/chat/completions"
BODY = '{"model":"deepseek-chat","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
# nginx's fixed answer: the mock upstream's shape, without its per-request id
NGINX_ANSWER = ('{"id":"chatcmpl-nginx","object":"chat.completion","created":1700000000,'
                '"model":"deepseek-chat","system_fingerprint":"fp_nginx",'
                '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},'
                '"logprobs":null,"finish_reason":"stop"}],'
                '"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22}}')
CLK_TCK = os.sysconf("SC_CLK_TCK")
T0 = time.monotonic()

# wrk's script: the POST, extra headers (Portkey's), and a done() hook that
# prints the figures as one JSON line (wrk's own summary rounds them)
WRK_LUA = r'''
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer peers"
%(headers)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PEERS {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"p999_us":%%d,"max_us":%%d,"mean_us":%%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
'''

# ringsided's config unless --ringside-config: room for 256 in flight on one
# client (max_inflight, ring_bytes: the defaults, spelled out), and the
# route's adaptive concurrency pinned far above it, so the sidecar forwards
# what it is given as HAProxy does (AIMD starts at 64 by default). The
# endpoint comes from the environment, so a config of one's own can use it.
RINGSIDE_YAML = """\
# written by bench/peers/peers.py
max_inflight: 4096              # per client; ringload keeps up to --conc in flight
ring_bytes: 8388608
access_log: {level: off}
priorities:
  p0_reserved: 0                # P1 may use the whole route
  queue: {p0: 4096, p1: 4096, p2: 4096}
routes:
  - name: nginx
    endpoint: ${PEERS_UPSTREAM}
    concurrency: {initial: 4096, min: 4096, max: 4096}
"""


def log(msg):
    print(f"peers [{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=20):
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


# ------------------------------------------------------------ /proc figures

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def tree(pid):
    """pid and its descendants (nginx's workers, anything a proxy forks)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def proc_cpu_us(pid):
    """utime + stime of one process (all its threads), in µs."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return (int(fields[11]) + int(fields[12])) * 1_000_000 // CLK_TCK


def tree_cpu_us(pid):
    return sum(proc_cpu_us(p) for p in tree(pid))


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_hwm_kib(pid):
    """Peak RSS (VmHWM) summed over the process tree."""
    return sum(proc_status_kib(p, "VmHWM") for p in tree(pid))


def reset_hwm(pid):
    """Reset VmHWM to the current RSS ("5" > clear_refs), so that each run
    has its own peak; False where the kernel does not let us."""
    ok = True
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


def machine_busy_us():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system (idle iowait) irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1_000_000 // CLK_TCK


def children_cpu_us():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((ru.ru_utime + ru.ru_stime) * 1e6)


# ---------------------------------------------------------------- processes

class Procs:
    """Every process this run started, stopped by PID in reverse order."""

    def __init__(self):
        self.started = []   # (name, Popen, stop signal)

    def start(self, name, argv, stop_sig=signal.SIGTERM, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.started.append((name, p, stop_sig))
        return p

    def check_alive(self):
        for name, p, _ in self.started:
            if p.poll() is not None:
                raise RuntimeError(f"{name} (pid {p.pid}) died ({p.returncode})")

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


def nginx_conf(d, port, body):
    """An nginx config (1 worker, in the foreground) with `body` as its http{}'s server block."""
    return f"""worker_processes 1;
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
{body}
}}
"""


def start_nginx(procs, tmp, name, body_for_port):
    port = free_port()
    d = os.path.join(tmp, name)
    os.makedirs(d)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(d, port, body_for_port(port)))
    check = subprocess.run(["nginx", "-t", "-p", d, "-c", conf], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejects {conf}: {check.stderr}")
    p = procs.start(name, ["nginx", "-p", d, "-c", conf], stop_sig=signal.SIGQUIT,
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "stderr.log"), "w"))
    wait_port(port, p, name)
    return p, port


class Upstream:
    """nginx answering every path with a fixed chat completion; its
    stub_status counts the requests that reached it."""

    def __init__(self, procs, tmp):
        answer = NGINX_ANSWER.replace("'", "\\'")
        self.proc, self.port = start_nginx(procs, tmp, "upstream", lambda port: f"""  server {{
    listen 127.0.0.1:{port};
    default_type application/json;
    location = /_nginx_status {{ stub_status; }}
    location / {{ client_body_buffer_size 64k; return 200 '{answer}'; }}
  }}""")
        self.url = f"http://127.0.0.1:{self.port}"
        self.queries = 0

    def count(self):
        """Requests that reached it, its own status queries taken off (stub_status
        counts the query that reads it)."""
        with urllib.request.urlopen(f"{self.url}/_nginx_status", timeout=10) as r:
            m = re.search(r"\n\s*\d+\s+\d+\s+(\d+)", r.read().decode())
        self.queries += 1
        return int(m.group(1)) - self.queries

    def settled_count(self, timeout=5.0):
        """The count once it stops moving (requests a proxy still held when
        the load generator stopped land first), within timeout."""
        last = self.count()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.count()
            if now == last:
                return now
            last = now
        return last


def start_haproxy(procs, tmp, upstream_port, nbthread):
    port = free_port()
    cfg = os.path.join(tmp, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    nbthread {nbthread}
    maxconn 8192
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


def start_nginx_proxy(procs, tmp, upstream_port):
    p, port = start_nginx(procs, tmp, "nginx-proxy", lambda port: f"""  upstream up {{
    server 127.0.0.1:{upstream_port};
    keepalive 1024;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      client_body_buffer_size 64k;
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}""")
    return p, f"http://127.0.0.1:{port}"


def start_portkey(procs, tmp, node_args):
    gw = os.path.join(HERE, "portkey", "node_modules", "@portkey-ai", "gateway", "build", "start-server.js")
    if not os.path.exists(gw):
        raise RuntimeError(f"{gw} is missing: run bench/peers/install.sh")
    port = free_port()
    env = dict(os.environ, NODE_ENV="production")
    for k in list(env):
        if k.upper() in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            del env[k]   # the gateway would send its upstream traffic there
    argv = ["node", "--require", os.path.join(HERE, "portkey", "loopback.cjs")] + node_args + \
           [gw, f"--port={port}", "--headless"]
    p = procs.start("portkey", argv, env=env, cwd=os.path.join(HERE, "portkey"),
                    stdout=open(os.path.join(tmp, "portkey.log"), "w"), stderr=subprocess.STDOUT)
    wait_port(port, p, "portkey", timeout=60)
    return p, f"http://127.0.0.1:{port}"


def start_ringsided(procs, tmp, kind, ringsided, config_text, upstream_url, extra):
    """One ringsided per ringside target, so that each one's CPU and peak
    RSS are its own: "ring" with the front door off, "door" with it on."""
    d = os.path.join(tmp, f"ringside-{kind}")
    os.makedirs(d)
    cfg = os.path.join(d, "ringside.yaml")
    with open(cfg, "w") as f:
        f.write(config_text)
    sock = os.path.join(d, "rs.sock")
    log_path = os.path.join(d, "ringsided.log")
    argv = [ringsided, "--config", cfg, "--socket", sock, "--admin-listen", "127.0.0.1:0"]
    if kind == "door":
        argv += ["--front-door-listen", "127.0.0.1:0", "--front-door-anonymous"]
    else:
        argv += ["--front-door-listen", "off"]
    argv += extra
    env = dict(os.environ, PEERS_UPSTREAM=upstream_url)
    env.pop("DEEPSEEK_API_KEY", None)   # the local upstream, never a real API
    env.pop("RINGSIDE_CONFIG", None)
    p = procs.start(f"ringsided ({kind})", argv, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    want = (r"front door listening on (?:http://)?127\.0\.0\.1:(\d+)" if kind == "door"
            else r"ringsided listening on ")
    deadline = time.monotonic() + 20
    while True:
        with open(log_path) as f:
            text = f.read()
        m = re.search(want, text)
        if m:
            if kind == "door":
                port = int(m.group(1))
                wait_port(port, p, "ringsided's front door")
                return p, f"http://127.0.0.1:{port}", log_path
            return p, sock, log_path
        if p.poll() is not None:
            raise RuntimeError(f"ringsided ({kind}) exited ({p.returncode}) before it listened:\n{text[:2000]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ringsided ({kind}) did not start listening:\n{text[-2000:]}")
        time.sleep(0.05)


# ------------------------------------------------------------ load generators

def smoke_http(url, what, headers):
    """One chat completion by hand: the target answers it."""
    h = {"Content-Type": "application/json", "Authorization": "Bearer peers"}
    h.update(headers)
    req = urllib.request.Request(url + PATH, data=BODY.encode(), method="POST", headers=h)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))   # never a proxy
    try:
        with opener.open(req, timeout=20) as r:
            answer = json.loads(r.read())
    except Exception as e:
        raise RuntimeError(f"{what} did not answer a chat completion: {e}") from None
    if not answer.get("choices"):
        raise RuntimeError(f"{what} answered {answer!r}")


def run_wrk(url, conc, seconds, threads, lua, timeout_s):
    t = max(1, min(threads, conc))
    argv = ["wrk", "-t", str(t), "-c", str(conc), "-d", f"{int(round(seconds))}s", "--timeout", f"{timeout_s}s",
            "-s", lua, url + PATH]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    m = re.search(r"^PEERS (\{.*\})$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stdout[-800:]}{p.stderr[-800:]}")
    w = json.loads(m.group(1))
    w["errors"] = w["connect"] + w["read"] + w["write"] + w["timeout"]
    return w


def run_ringload(ringload, sock, conc, seconds, warmup, clients, on_mark=None):
    """ringload with --marks: on_mark("start"/"end") is called as its measured
    window opens and closes, to sample the sidecar's CPU over exactly it."""
    argv = [ringload, "--socket", sock, "--conc", str(conc), "--seconds", f"{seconds:g}",
            "--warmup", f"{warmup:g}", "--clients", str(clients), "--marks"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        result = None
        for line in p.stdout:
            line = line.strip()
            if line.startswith("MARK "):
                if on_mark:
                    on_mark(line[5:])
            elif line.startswith("{"):
                result = json.loads(line)
        err = p.stderr.read()
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait()
    if rc != 0 or result is None:
        raise RuntimeError(f"ringload failed ({rc}): {err[-1500:]}")
    for line in err.splitlines():
        if "answer RS_" in line:
            log(line)
    return result


# ---------------------------------------------------------------- summaries

def median(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 2) if xs else None


def ratio(x, y):
    return round(x / y, 3) if x is not None and y else None


def summarize(runs, targets, concs):
    res = {}
    for t in targets:
        res[t] = {}
        for c in concs:
            rs = [r for r in runs if r["target"] == t and r["conc"] == c]
            if not rs:
                continue
            m = {k: median([r.get(k) for r in rs])
                 for k in ("rps", "p50_us", "p99_us", "p999_us", "cpu_us_per_req", "upstream_cpu_us_per_req",
                           "loadgen_cpu_us_per_req", "other_cores")}
            rss = [r["peak_rss_kib"] for r in rs if r.get("peak_rss_kib")]
            m["peak_rss_kib"] = max(rss) if rss else None
            m["non2xx"] = sum(r["non2xx"] for r in rs)
            m["errors"] = sum(r["errors"] for r in rs)
            m["upstream_ok"] = all(r["upstream_ok"] for r in rs)
            m["rounds"] = len(rs)
            res[t][str(c)] = m
    if "direct" in res:
        for t in targets:
            for c, m in res[t].items():
                d = res["direct"].get(c)
                for p in ("p50", "p99", "p999"):
                    m[f"added_{p}_us"] = (round(m[f"{p}_us"] - d[f"{p}_us"], 1)
                                          if t != "direct" and d and m[f"{p}_us"] is not None else None)
    over = {}
    if "haproxy" in res:
        for t in targets:
            if t in ("direct", "haproxy"):
                continue
            over[t] = {}
            for c, m in res[t].items():
                h = res["haproxy"].get(c)
                if not h:
                    continue
                over[t][c] = {
                    "rps": ratio(m["rps"], h["rps"]),
                    "cpu_us_per_req": ratio(m["cpu_us_per_req"], h["cpu_us_per_req"]),
                    "added_p50": ratio(m.get("added_p50_us"), h.get("added_p50_us")),
                    "added_p99": ratio(m.get("added_p99_us"), h.get("added_p99_us")),
                    "p99": ratio(m["p99_us"], h["p99_us"]),
                    "peak_rss": ratio(m["peak_rss_kib"], h["peak_rss_kib"]),
                }
    return res, over


def goals18(res, over, concs):
    """Issue #18's goals for the ring, where this run can tell."""
    ring = over.get("ringside-ring")
    if not ring:
        return None
    g = {}
    for c in ("32", "256"):
        if c in ring:
            g[f"rps_ge_haproxy_c{c}"] = ring[c]["rps"] is not None and ring[c]["rps"] >= 1.0
            g[f"cpu_le_haproxy_c{c}"] = ring[c]["cpu_us_per_req"] is not None and ring[c]["cpu_us_per_req"] <= 1.0
    if "1" in ring and "direct" in res:
        a_r = res["ringside-ring"]["1"].get("added_p50_us")
        a_h = res["haproxy"]["1"].get("added_p50_us")
        g["added_p50_le_haproxy_c1"] = a_r is not None and a_h is not None and a_r <= a_h
    return g


def fmt(x, nd=0):
    if x is None:
        return "–"
    return f"{x:,.{nd}f}" if isinstance(x, (int, float)) else str(x)


def write_markdown(path, meta, res, over, targets, concs):
    L = [f"# bench/peers — {meta['date']}", "",
         f"`{meta['command']}`", "",
         f"ringsided {meta['ringsided_version']} at commit {meta['commit']} ({meta['build']}); "
         f"{meta['machine']}; {meta['rounds']} rounds × {meta['seconds']} s per run, "
         "target order rotating per round; medians over rounds (peak RSS: the highest).", "",
         "Added latency is the target's percentile minus direct's at the same concurrency; "
         "CPU is the proxy's utime+stime (all its threads and processes) per answered request; "
         "×HAProxy are ratios to HAProxy in this run.", "",
         "| target | c | req/s | ×HAProxy | added p50 µs | added p99 µs | added p99.9 µs | CPU µs/req "
         "| ×HAProxy | peak RSS MiB | ×HAProxy | upstream count | errors |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in concs:
        for t in targets:
            m = res[t].get(str(c))
            if not m:
                continue
            o = over.get(t, {}).get(str(c), {})
            rss = m["peak_rss_kib"] / 1024 if m["peak_rss_kib"] else None
            L.append(f"| {t} | {c} | {fmt(m['rps'])} | {fmt(o.get('rps'), 2)} | {fmt(m.get('added_p50_us'))} "
                     f"| {fmt(m.get('added_p99_us'))} | {fmt(m.get('added_p999_us'))} "
                     f"| {fmt(m['cpu_us_per_req'], 1)} | {fmt(o.get('cpu_us_per_req'), 2)} | {fmt(rss, 1)} "
                     f"| {fmt(o.get('peak_rss'), 2)} | {'ok' if m['upstream_ok'] else 'MISMATCH'} "
                     f"| {m['errors'] + m['non2xx']} |")
    L += ["", "Absolute latency (µs, p50 / p99 / p99.9):", "",
          "| target | " + " | ".join(f"c={c}" for c in concs) + " |",
          "|---|" + "---|" * len(concs)]
    for t in targets:
        cells = []
        for c in concs:
            m = res[t].get(str(c))
            cells.append(f"{fmt(m['p50_us'])} / {fmt(m['p99_us'])} / {fmt(m['p999_us'])}" if m else "–")
        L.append(f"| {t} | " + " | ".join(cells) + " |")
    L += ["", "Load generator CPU µs/req (wrk, or ringload for ringside-ring), upstream (nginx) CPU µs/req, "
          "and other load on the machine (cores busy beyond the processes measured):", "",
          "| target | " + " | ".join(f"c={c}" for c in concs) + " |",
          "|---|" + "---|" * len(concs)]
    for t in targets:
        cells = []
        for c in concs:
            m = res[t].get(str(c))
            cells.append(f"{fmt(m['loadgen_cpu_us_per_req'], 1)} / {fmt(m['upstream_cpu_us_per_req'], 1)} / "
                         f"{fmt(m['other_cores'], 2)}" if m else "–")
        L.append(f"| {t} | " + " | ".join(cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def write_plot(out, res, targets, concs, title):
    """peers.dat + peers.gp, and peers.png when gnuplot is there."""
    dat = os.path.join(out, "peers.dat")
    with open(dat, "w") as f:
        f.write("# conc " + " ".join(f"{t}_rps {t}_cpu" for t in targets) + "\n")
        for c in concs:
            row = [str(c)]
            for t in targets:
                m = res[t].get(str(c), {})
                row.append(str(m.get("rps")) if m.get("rps") is not None else "-")
                row.append(str(m.get("cpu_us_per_req")) if m.get("cpu_us_per_req") is not None else "-")
            f.write(" ".join(row) + "\n")
    names = " ".join(targets)
    xtics = ", ".join(f'"{c}" {c}' for c in concs)
    gp = os.path.join(out, "peers.gp")
    have_cairo = False
    if shutil.which("gnuplot"):
        p = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        have_cairo = "pngcairo" in (p.stdout + p.stderr)
    term = "pngcairo size 1400,620 font ',11'" if have_cairo else "png size 1400,620"
    # one colour per target in both panels, whichever targets ran
    palette = {"direct": "#808080", "haproxy": "#1f77b4", "nginx": "#2ca02c", "portkey": "#9467bd",
               "ringside-ring": "#d62728", "ringside-door": "#ff7f0e"}
    styles = "\n".join(f"set linetype {i} lc rgb '{palette[t]}' lw 2 pt 7" for i, t in enumerate(targets, 1))
    with open(gp, "w") as f:
        f.write(f"""# written by bench/peers/peers.py: gnuplot peers.gp
set terminal {term}
set output 'peers.png'
set datafile missing "-"
names = "{names}"
{styles}
set multiplot layout 1,2 title "{title}"
set logscale x 2
set xrange [{min(concs) / 1.5}:{max(concs) * 1.5}]
set xtics ({xtics})
set xlabel "requests in flight"
set grid
set bmargin 7
set key at screen 0.5, screen 0.02 center bottom horizontal
set title "req/s (higher is better)"
set logscale y
plot for [i=1:words(names)] 'peers.dat' using 1:(column(2*i)) with linespoints lt i title word(names, i)
set title "proxy CPU µs per request (lower is better)"
unset key
plot for [i=1:words(names)] 'peers.dat' using 1:(column(2*i+1)) with linespoints lt i notitle
unset multiplot
""")
    if not shutil.which("gnuplot"):
        log("gnuplot is missing: no PNG (bench/peers/install.sh installs gnuplot-nox)")
        return None
    p = subprocess.run(["gnuplot", "peers.gp"], cwd=out, capture_output=True, text=True)
    if p.returncode != 0:
        log(f"gnuplot failed: {p.stderr[-500:]}")
        return None
    return os.path.join(out, "peers.png")


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            model = m.group(1).strip() if m else ""
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU {model}, Linux {os.uname().release}"


def versions(ringsided):
    def out(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (p.stdout + p.stderr).strip()
        except Exception:
            return ""
    v = {}
    m = re.search(r"HAProxy version (\S+)", out(["haproxy", "-v"]))
    v["haproxy"] = m.group(1) if m else None
    m = re.search(r"nginx/(\S+)", out(["nginx", "-v"]))
    v["nginx"] = m.group(1) if m else None
    m = re.search(r"wrk (\S+)", out(["wrk", "-v"]))
    v["wrk"] = m.group(1) if m else None
    v["node"] = out(["node", "--version"]) or None
    try:
        with open(os.path.join(HERE, "portkey", "node_modules", "@portkey-ai", "gateway", "package.json")) as f:
            v["portkey"] = json.load(f)["version"]
    except OSError:
        v["portkey"] = None
    v["ringsided"] = out([ringsided, "--version"]).splitlines()[0] if ringsided else None
    return v


def git_commit():
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


# --------------------------------------------------------------------- main

def main():
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
                    help="ringload's own unmeasured start in each run (registration, first lap; default 0.5)")
    ap.add_argument("--ring-clients", type=int, default=1, help="ringload --clients (default 1)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk -t, capped at the connections (default 2)")
    ap.add_argument("--wrk-timeout", type=int, default=10, help="wrk --timeout seconds (default 10)")
    ap.add_argument("--haproxy-threads", type=int, default=1, help="HAProxy nbthread (default 1)")
    ap.add_argument("--ringside-config", help="YAML for both ringsided (default: the one in peers.py, with "
                                              "${PEERS_UPSTREAM} as its route's endpoint)")
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
    targets = [t for t in TARGETS if t in only]
    try:
        concs = [int(c) for c in a.conc.split(",")]
    except ValueError:
        ap.error("--conc takes comma-separated integers")
    if a.rounds < 1 or a.seconds <= 0 or any(c < 1 for c in concs) or a.ring_clients < 1:
        ap.error("--rounds, --seconds, --conc and --ring-clients must be positive")
    command = "bench/peers/peers.py " + " ".join(sys.argv[1:])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = a.out or f"/tmp/peers-{stamp}"

    # what it needs: installed if missing (root), else named
    if not a.no_install:
        argv = [os.path.join(HERE, "install.sh")] + ([] if "portkey" in targets else ["--no-portkey"])
        if subprocess.run(argv).returncode != 0:
            log("install.sh could not provide everything (see above)")
            return 1
    need = ["nginx", "wrk"] + (["haproxy"] if "haproxy" in targets else []) + \
           (["node"] if "portkey" in targets else [])
    missing = [t for t in need if not shutil.which(t)]
    if missing:
        log(f"missing {' '.join(missing)}: run bench/peers/install.sh as root")
        return 1
    ringsided = os.path.join(a.build, "sidecar", "ringsided")
    ringload = os.path.join(a.build, "bench", "peers", "ringload")
    uses_ring = any(t.startswith("ringside") for t in targets)
    if uses_ring and not a.no_ninja and os.path.exists(os.path.join(a.build, "build.ninja")):
        log(f"ninja -C {a.build} (ringsided, ringload)")
        p = subprocess.run(["ninja", "-C", a.build, "sidecar/ringsided", "bench/peers/ringload"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            log(f"ninja failed: {p.stderr[-1500:]}")
            return 1
    for path, need_it in ((ringsided, uses_ring), (ringload, "ringside-ring" in targets)):
        if need_it and not os.access(path, os.X_OK):
            log(f"{path} is not built (meson setup {a.build} -Dbuildtype=release && ninja -C {a.build})")
            return 1
    rs_config = RINGSIDE_YAML
    if a.ringside_config:
        with open(a.ringside_config) as f:
            rs_config = f.read()

    # 256 connections in and out of each proxy: every child may use the hard limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="peers-tmp-")

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    runs = []
    peak = {}
    try:
        up = Upstream(procs, tmp)
        log(f"upstream: nginx on {up.url} (pid {up.proc.pid})")
        # Portkey's way to an OpenAI-compatible host of one's own
        portkey_headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{up.url}/v1"}
        luas = {}
        for name, headers in (("plain", {}), ("portkey", portkey_headers)):
            luas[name] = os.path.join(tmp, f"{name}.lua")
            with open(luas[name], "w") as f:
                f.write(WRK_LUA % {"body": BODY, "headers": "\n".join(
                    f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())})
        urls, pids, lua_of = {"direct": up.url}, {}, {}
        if "haproxy" in targets:
            p, urls["haproxy"] = start_haproxy(procs, tmp, up.port, a.haproxy_threads)
            pids["haproxy"] = p.pid
            log(f"haproxy on {urls['haproxy']} (pid {p.pid}, nbthread {a.haproxy_threads})")
        if "nginx" in targets:
            p, urls["nginx"] = start_nginx_proxy(procs, tmp, up.port)
            pids["nginx"] = p.pid
            log(f"nginx proxy on {urls['nginx']} (pid {p.pid}, 1 worker)")
        if "portkey" in targets:
            p, urls["portkey"] = start_portkey(procs, tmp, a.node_arg)
            pids["portkey"] = p.pid
            lua_of["portkey"] = luas["portkey"]
            log(f"portkey gateway on {urls['portkey']} (pid {p.pid})")
        if "ringside-ring" in targets:
            p, urls["ringside-ring"], rlog = start_ringsided(procs, tmp, "ring", ringsided, rs_config, up.url,
                                                             a.ringside_arg)
            pids["ringside-ring"] = p.pid
            log(f"ringsided (ring) on {urls['ringside-ring']} (pid {p.pid}, log {rlog})")
        if "ringside-door" in targets:
            p, urls["ringside-door"], rlog = start_ringsided(procs, tmp, "door", ringsided, rs_config, up.url,
                                                             a.ringside_arg)
            pids["ringside-door"] = p.pid
            log(f"ringsided front door on {urls['ringside-door']} (pid {p.pid}, log {rlog})")

        def load(t, conc, seconds, on_mark=None):
            if t == "ringside-ring":
                return run_ringload(ringload, urls[t], conc, seconds, a.ring_warmup, a.ring_clients, on_mark)
            return run_wrk(urls[t], conc, seconds, a.wrk_threads, lua_of.get(t, luas["plain"]), a.wrk_timeout)

        for t in targets:
            if t == "ringside-ring":
                r = run_ringload(ringload, urls[t], 1, 0.2, 0, 1)
                if not r["ok_total"] or r["errors_total"]:
                    raise RuntimeError(f"ringside-ring's smoke run: {r}")
            else:
                smoke_http(urls[t], t, portkey_headers if t == "portkey" else {})
        log(f"every target answered a chat completion ({', '.join(targets)})")
        if a.warmup > 0:
            for t in targets:
                # node compiles Portkey's hot paths only after thousands of
                # requests: its first seconds run at a fraction of its pace
                secs = max(a.warmup, a.portkey_warmup) if t == "portkey" else a.warmup
                load(t, min(32, max(concs)), max(1, secs))
            log(f"warmed up ({max(1, a.warmup):g} s each"
                f"{f', Portkey {max(a.warmup, a.portkey_warmup):g} s' if 'portkey' in targets else ''})")

        total = a.rounds * len(concs) * len(targets)
        n_run = 0
        for rnd in range(a.rounds):
            k = rnd % len(targets)
            order = targets[k:] + targets[:k]
            for conc in concs:
                for t in order:
                    n_run += 1
                    procs.check_alive()
                    pid = pids.get(t)
                    up0 = up.settled_count()
                    ucpu0 = tree_cpu_us(up.proc.pid)
                    if pid:
                        reset_hwm(pid)
                    gen0 = children_cpu_us()
                    box = {}

                    def sample(what, pid=pid, box=box):
                        box[f"cpu_{what}"] = tree_cpu_us(pid) if pid else None
                        box[f"up_{what}"] = tree_cpu_us(up.proc.pid)
                        box[f"busy_{what}"] = machine_busy_us()
                        box[f"t_{what}"] = time.monotonic()
                    if t == "ringside-ring":
                        w = load(t, conc, a.seconds, on_mark=sample)
                        n = w["ok"] + w["errors"]
                    else:
                        sample("start")
                        w = load(t, conc, a.seconds)
                        sample("end")
                        n = w["requests"]
                    gen1 = children_cpu_us()
                    hwm = tree_hwm_kib(pid) if pid else None
                    up1 = up.settled_count()
                    delta = up1 - up0
                    if "cpu_start" not in box or "cpu_end" not in box:
                        raise RuntimeError(f"ringload gave no window marks at c={conc}")
                    wall = box["t_end"] - box["t_start"]
                    cpu = (box["cpu_end"] - box["cpu_start"]) if pid else None
                    ucpu = box["up_end"] - box["up_start"]
                    busy = box["busy_end"] - box["busy_start"]
                    r = {"round": rnd + 1, "target": t, "conc": conc, "upstream_delta": delta}
                    if t == "ringside-ring":
                        # exact: ringload drains what it submitted, and each answer
                        # says how many upstream attempts it took
                        sent = w["attempts"]
                        ok = delta == sent and w["abandoned"] == 0 and w["answered"] == w["submitted"]
                        # percentiles as wrk computes its own (corrected for
                        # coordinated omission, see ringload.c), the raw ones beside
                        r.update(rps=w["rps"], requests=n, non2xx=0, errors=w["errors"],
                                 p50_us=w["co_p50_us"], p90_us=w["co_p90_us"], p99_us=w["co_p99_us"],
                                 p999_us=w["co_p999_us"], max_us=w["max_us"], raw_p50_us=w["p50_us"],
                                 raw_p99_us=w["p99_us"], raw_p999_us=w["p999_us"], loadgen_sent=sent,
                                 submitted=w["submitted"], answered=w["answered"], errors_total=w["errors_total"],
                                 abandoned=w["abandoned"], sidecar_p50_us=w["sidecar_p50_us"],
                                 loadgen_cpu_us_per_req=w["client_cpu_us_per_req"])
                        gen_cpu = None
                    else:
                        # wrk counts answers; a request still in flight when it
                        # stopped reached the upstream too (at most conc + errors
                        # of them), and a non-2xx one may have been the proxy's own
                        ok = n - w["status"] <= delta <= n + conc + w["errors"]
                        r.update(rps=round(n / (w["duration_us"] / 1e6), 1), requests=n, non2xx=w["status"],
                                 errors=w["errors"], p50_us=w["p50_us"], p90_us=w["p90_us"],
                                 p99_us=w["p99_us"], p999_us=w["p999_us"], max_us=w["max_us"])
                        gen_cpu = gen1 - gen0
                        r["loadgen_cpu_us_per_req"] = round(gen_cpu / n, 2) if n else None
                    r["upstream_ok"] = ok
                    r["cpu_us_per_req"] = round(cpu / n, 2) if pid and n else None
                    r["upstream_cpu_us_per_req"] = round(ucpu / n, 2) if n else None
                    r["peak_rss_kib"] = hwm
                    # cores busy beyond the proxy, the upstream and the load generator
                    gen_in_window = gen_cpu if gen_cpu is not None else (
                        w["client_cpu_us_per_req"] * n if t == "ringside-ring" else 0)
                    r["other_cores"] = round(max(0, busy - (cpu or 0) - ucpu - gen_in_window) / 1e6 / wall, 2) \
                        if wall > 0 else None
                    runs.append(r)
                    if hwm:
                        peak[t] = max(peak.get(t, 0), hwm)
                    cpu_s = f" cpu {r['cpu_us_per_req']} µs/req" if pid else ""
                    log(f"[{n_run}/{total}] round {rnd + 1} c={conc} {t}: {r['rps']:.0f} req/s "
                        f"p50 {r['p50_us']:.0f} p99 {r['p99_us']:.0f} p99.9 {r['p999_us']:.0f} µs{cpu_s}"
                        f" upstream +{delta} of {r.get('loadgen_sent', n)} ({'ok' if ok else 'MISMATCH'}"
                        f"{', errors ' + str(r['errors'] + r['non2xx']) if r['errors'] + r['non2xx'] else ''}"
                        f"; other load {r['other_cores']} cores)")
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
    res, over = summarize(runs, targets, concs)
    upstream_ok = all(r["upstream_ok"] for r in runs)
    os.makedirs(out, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command, "commit": git_commit(),
            "build": os.path.abspath(a.build), "machine": machine(), "rounds": a.rounds, "seconds": a.seconds}
    v = versions(ringsided if uses_ring else None)
    meta["ringsided_version"] = v.get("ringsided") or "–"
    doc = {"bench": "peers", "date": meta["date"], "command": command, "commit": meta["commit"],
           "machine": meta["machine"], "versions": v, "rounds": a.rounds, "seconds": a.seconds, "conc": concs,
           "targets": targets, "haproxy_nbthread": a.haproxy_threads, "ring_clients": a.ring_clients,
           "results": res, "over_haproxy": over, "peak_rss_kib": peak,
           "goals_18": goals18(res, over, concs), "upstream_ok": upstream_ok, "out": out}
    with open(os.path.join(out, "peers.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(out, "runs.json"), "w") as f:
        json.dump(runs, f, indent=1)
    if a.runs_json:
        with open(a.runs_json, "w") as f:
            json.dump(runs, f, indent=1)
    write_markdown(os.path.join(out, "peers.md"), meta, res, over, targets, concs)
    png = write_plot(out, res, targets, concs, f"bench/peers {meta['date']} ({meta['commit']})")
    log(f"wrote {out}/peers.md, peers.json, runs.json{', peers.png' if png else ''}")
    if not upstream_ok:
        bad = [f"{r['target']} c={r['conc']} round {r['round']}" for r in runs if not r["upstream_ok"]]
        log(f"COUNT MISMATCH (the upstream's count does not match the load generator's): {', '.join(bad)}; "
            f"configs and logs kept in {tmp}")
    elif a.keep_tmp:
        log(f"configs and logs kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(doc), flush=True)
    return 0 if upstream_ok else 1


if __name__ == "__main__":
    sys.exit(main())
