"""peerprocs — the processes of bench/peers (see README.md there).

Owns: starting the upstream (nginx with a fixed chat completion and its
request counter), each peer proxy (HAProxy, nginx as a proxy, the Portkey
gateway) and ringsided, every one on 127.0.0.1 with its config in the
run's temp dir; stopping each by its PID; and the /proc figures taken of
them (CPU of a process tree, its peak RSS and the reset of that peak).
peers.py decides what to start and when to measure.
"""
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# nginx's fixed answer: the mock upstream's shape, without its per-request id
NGINX_ANSWER = ('{"id":"chatcmpl-nginx","object":"chat.completion","created":1700000000,'
                '"model":"deepseek-chat","system_fingerprint":"fp_nginx",'
                '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},'
                '"logprobs":null,"finish_reason":"stop"}],'
                '"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22}}')
CLK_TCK = os.sysconf("SC_CLK_TCK")
T0 = time.monotonic()

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
    stub_status counts the requests that reached it. Each target gets one
    of its own (the same config): a request a proxy still holds when its
    load generator stops (Portkey's may land 100+ ms later) can then never
    be counted in another target's run."""

    def __init__(self, procs, tmp, name="upstream"):
        answer = NGINX_ANSWER.replace("'", "\\'")
        self.proc, self.port = start_nginx(procs, tmp, name, lambda port: f"""  server {{
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
