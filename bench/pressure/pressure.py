"""pressure.py — P0 under pressure, and a degraded upstream (issue #14).

Runs the real ringsided against the bundled mock upstream (real processes,
loopback only) with the seed's route table: primary weight 80, secondary
weight 20 with conditions http_status [502, 503, 504] and latency_gt 2000.

  flood     The upstream takes at most --capacity requests in flight (both
            routes share it, as two endpoints of one account do), answers
            each in --delay-ms, and refuses the rest with 429 Retry-After: 1.
            P0 arrives at --p0-rate/s for --seconds alone (the baseline),
            then again while one P2 client keeps --p2 requests outstanding.
            Reports P0's p50/p99 in both phases and their ratios, P0
            failures, P2 completions per second. The P2 requests still
            outstanding at the end are cancelled: every request submitted
            must end exactly once (answered or cancelled).
  degraded  Both routes' upstreams fail --fail-rate of attempts at random
            (429 with Retry-After: 1, 503, or a reset mid-body, equally)
            and answer the rest in --delay-ms. --requests P1 requests with
            a --deadline-ms deadline arrive at --rate/s. Reports the share
            that succeeded, against what three independent attempts allow
            (1 - fail_rate^3), and retries per request.

    /usr/bin/python3 bench/pressure/pressure.py [--build DIR] [--scenario flood|degraded|all] ...

Prints what it measures, then one JSON line {"bench":"pressure",...}.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# {primary_extra}: more keys for the primary route (the tests use it)
SEED_ROUTES = """
routes:
  - name: primary
    endpoint: {primary}
    weight: 80
{primary_extra}
  - name: secondary
    endpoint: {secondary}
    weight: 20
    conditions:
      - http_status: [502, 503, 504]
      - latency_gt: 2000
"""

CHAT = b'{"model":"deepseek-chat","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0.0


class Paced:
    """Requests of one priority submitted at a fixed rate (open loop: a slow
    answer does not delay the next arrival), each timed from its submit to
    its answer. Each request is a thread blocked in client.request, which
    releases the GIL while it waits."""

    def __init__(self, client, ringside, priority, rate, seconds, timeout=None):
        self.lat_ms, self.errors, self.attempts = [], {}, []
        self.lock = threading.Lock()
        threads = []
        t0 = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            th = threading.Thread(target=self.one, args=(client, ringside, priority, timeout))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()

    def one(self, client, ringside, priority, timeout):
        t = time.monotonic()
        try:
            r = client.request("POST", "/chat/completions", CHAT, priority=priority, timeout=timeout)
            err, attempts = "RS_OK", r.attempts
        except ringside.Error as e:
            err, attempts = type(e).__name__ + ": " + str(e).split(";")[-1].split(" — ")[0].strip()[:90], 0
        ms = (time.monotonic() - t) * 1000
        with self.lock:
            if err == "RS_OK":
                self.lat_ms.append(ms)
                self.attempts.append(attempts)
            self.errors[err] = self.errors.get(err, 0) + 1


class Flood(threading.Thread):
    """One client keeping n P2 requests outstanding until stop()."""

    def __init__(self, client, ringside, n):
        super().__init__()
        self.c, self.rs, self.n = client, ringside, n
        self.submitted = self.ok = self.failed = self.cancelled = 0
        self.errors = {}
        self.go = True
        self.t_first = self.t_stop = None

    def run(self):
        out = set()
        while True:
            while self.go and len(out) < self.n:
                out.add(self.c.submit("POST", "/chat/completions", CHAT, priority=self.rs.P2))
                self.submitted += 1
            if not self.go and not out:
                return
            for r in self.c.poll(max=256, timeout=0.05):
                out.discard(r.ticket)
                if isinstance(r, self.rs.Cancelled):
                    self.cancelled += 1
                elif isinstance(r, self.rs.Error):
                    self.failed += 1
                    k = type(r).__name__
                    self.errors[k] = self.errors.get(k, 0) + 1
                else:
                    self.ok += 1
                    if self.go and self.t_first is None:
                        self.t_first = time.monotonic()
            if not self.go and self.t_stop is None:
                self.t_stop = time.monotonic()
                self.ok_at_stop = self.ok
                for t in out:
                    self.c.cancel(t)

    def stop(self):
        self.go = False
        self.join()


def flood(a, rs, procs):
    up = procs.Mock()
    try:
        up.control(f"x-mock-max-inflight: {a.capacity}\nx-mock-delay-ms: {a.delay_ms}\n"
                   "x-mock-overload-retry-after: 1\n")
        cfg = SEED_ROUTES.format(primary=up.url, secondary=up.url, primary_extra="")
        s = procs.Sidecar(config=("log_level: debug\n" if a.verbose else "") + cfg)
        try:
            with rs.Client(s.sock) as p0c, rs.Client(s.sock) as p2c:
                base = Paced(p0c, rs, rs.P0, a.p0_rate, a.seconds)
                f = Flood(p2c, rs, a.p2)
                f.start()
                time.sleep(a.settle)
                under = Paced(p0c, rs, rs.P0, a.p0_rate, a.seconds)
                f.stop()
            log = s.read_log()
        finally:
            crashed = s.stop()
        stats = up.control("")
    finally:
        up.stop()
    p2_secs = (f.t_stop - f.t_first) if f.t_first and f.t_stop else 0
    res = {
        "p0_base_p50_ms": round(pct(base.lat_ms, 0.5), 1), "p0_base_p99_ms": round(pct(base.lat_ms, 0.99), 1),
        "p0_flood_p50_ms": round(pct(under.lat_ms, 0.5), 1), "p0_flood_p99_ms": round(pct(under.lat_ms, 0.99), 1),
        "p0_n": len(under.lat_ms) + sum(v for k, v in under.errors.items() if k != "RS_OK"),
        "p0_failed": sum(v for k, v in list(base.errors.items()) + list(under.errors.items()) if k != "RS_OK"),
        "p0_retried": sum(1 for x in under.attempts if x > 1),
        "p2_ok": f.ok, "p2_failed": f.failed, "p2_cancelled": f.cancelled, "p2_submitted": f.submitted,
        "p2_ok_per_s": round(f.ok_at_stop / p2_secs, 1) if p2_secs else 0.0,
        "upstream_refused": stats.get("overloaded", 0), "upstream_requests": stats.get("requests", 0),
    }
    res["p0_p50_ratio"] = round(res["p0_flood_p50_ms"] / res["p0_base_p50_ms"], 2)
    res["p0_p99_ratio"] = round(res["p0_flood_p99_ms"] / res["p0_base_p99_ms"], 2)
    res["lost"] = f.submitted - f.ok - f.failed - f.cancelled
    res["sidecar_ok"] = not crashed
    errs = {k: v for k, v in under.errors.items() if k != "RS_OK"}
    print(f"flood: P0 p50 {res['p0_base_p50_ms']} -> {res['p0_flood_p50_ms']} ms ({res['p0_p50_ratio']}x), "
          f"p99 {res['p0_base_p99_ms']} -> {res['p0_flood_p99_ms']} ms ({res['p0_p99_ratio']}x), "
          f"{res['p0_failed']} P0 failed {errs or ''}; P2 {f.ok} ok ({res['p2_ok_per_s']}/s), {f.failed} failed "
          f"{f.errors or ''}, {f.cancelled} cancelled at the end; upstream refused {res['upstream_refused']} "
          f"of {res['upstream_requests']}", file=sys.stderr)
    if a.verbose:
        print(log[-20000:], file=sys.stderr)
    return res


def degraded(a, rs, procs):
    ups = [procs.Mock(), procs.Mock()]
    try:
        for i, up in enumerate(ups):
            up.control(f"x-mock-fail-rate: {a.fail_rate}\nx-mock-fail-kinds: 429,503,reset\n"
                       f"x-mock-retry-after: 1\nx-mock-delay-ms: {a.delay_ms}\nx-mock-seed: {a.seed + i}\n")
        s = procs.Sidecar(config=("log_level: debug\n" if a.verbose else "") +
                          SEED_ROUTES.format(primary=ups[0].url, secondary=ups[1].url, primary_extra=""))
        try:
            with rs.Client(s.sock) as c:
                run = Paced(c, rs, rs.P1, a.rate, a.requests / a.rate, timeout=a.deadline_ms / 1000)
            log = s.read_log()
        finally:
            crashed = s.stop()
        seen = sum(up.control("").get("requests", 0) for up in ups)
    finally:
        for up in ups:
            up.stop()
    n = a.requests
    ok = len(run.lat_ms)
    res = {
        "degraded_requests": n, "degraded_ok_share": round(ok / n, 3),
        "degraded_independent_share": round(1 - a.fail_rate ** 3, 3),
        "degraded_attempts_per_request": round(seen / n, 2),
        "degraded_p99_ms": round(pct(run.lat_ms, 0.99), 1), "sidecar_ok": not crashed,
        "degraded_budget_denied": sum(v for k, v in run.errors.items() if "retry budget" in k),
    }
    errs = {k: v for k, v in run.errors.items() if k != "RS_OK"}
    print(f"degraded: {ok}/{n} succeeded ({100 * ok / n:.1f}%, independent attempts allow "
          f"{100 * res['degraded_independent_share']:.1f}%), {seen} attempts, p99 {res['degraded_p99_ms']} ms; "
          f"failures {errs}", file=sys.stderr)
    if a.verbose:
        print(log[-4000:], file=sys.stderr)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("RINGSIDE_BUILD", os.path.join(ROOT, "build")))
    ap.add_argument("--scenario", choices=["flood", "degraded", "all"], default="all")
    ap.add_argument("--capacity", type=int, default=4, help="flood: upstream's requests in flight")
    ap.add_argument("--delay-ms", type=int, default=200, help="upstream answer time")
    ap.add_argument("--p2", type=int, default=400, help="flood: P2 requests kept outstanding")
    ap.add_argument("--p0-rate", type=float, default=5.0, help="flood: P0 arrivals per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="flood: length of each P0 phase")
    ap.add_argument("--settle", type=float, default=1.0, help="flood: P2 alone before P0 comes back")
    ap.add_argument("--fail-rate", type=float, default=0.4, help="degraded: share of attempts failing")
    ap.add_argument("--requests", type=int, default=300, help="degraded: P1 requests")
    ap.add_argument("--rate", type=float, default=20.0, help="degraded: arrivals per second")
    ap.add_argument("--deadline-ms", type=int, default=5000, help="degraded: each request's deadline")
    ap.add_argument("--seed", type=int, default=1, help="degraded: the mocks' failure draws")
    ap.add_argument("--verbose", action="store_true", help="print the sidecar log's tail")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["RINGSIDE_BUILD"] = build
    sys.path[:0] = [os.path.join(build, "bindings", "python"), os.path.join(ROOT, "tests", "lib")]
    import ringside as rs
    import ringside_procs as procs

    res = {"bench": "pressure"}
    if a.scenario in ("flood", "all"):
        res.update(flood(a, rs, procs))
    if a.scenario in ("degraded", "all"):
        d = argparse.Namespace(**vars(a))
        if a.scenario == "all" and a.delay_ms == 200:
            d.delay_ms = 100
        ok = res.get("sidecar_ok", True)
        res.update(degraded(d, rs, procs))
        res["sidecar_ok"] = ok and res["sidecar_ok"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
