"""peerload — one measured run of bench/peers (see README.md there).

Owns: the request every target gets (a small chat-completion POST), the
load generators that send it closed-loop — wrk with a Lua script for the
HTTP targets, ringload for the ring — and one run's figures: rate and
latency from the load generator, the proxy's CPU and peak RSS from /proc,
and the check that the upstream's request counter rose by what the load
generator sent.
"""
import json
import re
import subprocess
import time
import urllib.request

from peerprocs import (children_cpu_us, log, machine_busy_us, reset_hwm, tree_cpu_us, tree_hwm_kib)

PATH = "/v1/chat/completions"
BODY = '{"model":"deepseek-chat","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'

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

def write_wrk_lua(path, headers):
    with open(path, "w") as f:
        f.write(WRK_LUA % {"body": BODY, "headers": "\n".join(
            f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())})


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


def measure_run(target, conc, load, pid, up):
    """One run of `load(on_mark)` against `target` (its proxy's PID, None for
    direct), with the upstream `up` counting: the run's figures as a dict.

    CPU, the upstream's CPU and the machine's busy time are sampled at the
    run's start and end: around wrk, or at ringload's window marks (its
    warm-up and drain are not measured)."""
    up0 = up.settled_count()
    if pid:
        reset_hwm(pid)
    gen0 = children_cpu_us()
    box = {}

    def sample(what):
        box[f"cpu_{what}"] = tree_cpu_us(pid) if pid else None
        box[f"up_{what}"] = tree_cpu_us(up.proc.pid)
        box[f"busy_{what}"] = machine_busy_us()
        box[f"t_{what}"] = time.monotonic()

    ring = target == "ringside-ring"
    if ring:
        w = load(sample)
        n = w["ok"] + w["errors"]
    else:
        sample("start")
        w = load(None)
        sample("end")
        n = w["requests"]
    gen_cpu = children_cpu_us() - gen0     # wrk's; ringload reports its own
    hwm = tree_hwm_kib(pid) if pid else None
    delta = up.settled_count() - up0
    if "t_start" not in box or "t_end" not in box:
        raise RuntimeError(f"ringload gave no window marks at c={conc}")
    wall = box["t_end"] - box["t_start"]
    cpu = box["cpu_end"] - box["cpu_start"] if pid else None
    ucpu = box["up_end"] - box["up_start"]
    busy = box["busy_end"] - box["busy_start"]

    r = {"target": target, "conc": conc, "upstream_delta": delta}
    if ring:
        # exact: ringload drains what it submitted, and each answer says how
        # many upstream attempts it took
        sent = w["attempts"]
        r["upstream_ok"] = delta == sent and w["abandoned"] == 0 and w["answered"] == w["submitted"]
        # percentiles as wrk computes its own (corrected for coordinated
        # omission, see ringload.c), the raw ones beside
        r.update(rps=w["rps"], requests=n, non2xx=0, errors=w["errors"],
                 p50_us=w["co_p50_us"], p90_us=w["co_p90_us"], p99_us=w["co_p99_us"],
                 p999_us=w["co_p999_us"], max_us=w["max_us"], raw_p50_us=w["p50_us"],
                 raw_p99_us=w["p99_us"], raw_p999_us=w["p999_us"], loadgen_sent=sent,
                 submitted=w["submitted"], answered=w["answered"], errors_total=w["errors_total"],
                 abandoned=w["abandoned"], sidecar_p50_us=w["sidecar_p50_us"],
                 sidecar_queued_p50_us=w["queued_p50_us"],
                 loadgen_cpu_us_per_req=w["client_cpu_us_per_req"])
        gen_cpu = w["client_cpu_us_per_req"] * n
    else:
        # wrk counts answers; a request still in flight when it stopped
        # reached the upstream too (at most conc + errors of them), and a
        # non-2xx one may have been the proxy's own
        r["upstream_ok"] = n - w["status"] <= delta <= n + conc + w["errors"]
        r.update(rps=round(n / (w["duration_us"] / 1e6), 1), requests=n, non2xx=w["status"],
                 errors=w["errors"], p50_us=w["p50_us"], p90_us=w["p90_us"], p99_us=w["p99_us"],
                 p999_us=w["p999_us"], max_us=w["max_us"], loadgen_sent=n,
                 loadgen_cpu_us_per_req=round(gen_cpu / n, 2) if n else None)
    r["cpu_us_per_req"] = round(cpu / n, 2) if pid and n else None
    r["upstream_cpu_us_per_req"] = round(ucpu / n, 2) if n else None
    r["peak_rss_kib"] = hwm
    # cores busy beyond the proxy, the upstream and the load generator
    r["other_cores"] = round(max(0, busy - (cpu or 0) - ucpu - gen_cpu) / 1e6 / wall, 2) if wall > 0 else None
    return r
