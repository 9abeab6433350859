"""The emergency drill end to end (issue #16), real components only: the
primary upstream (a mock) goes to 100% 503; the sidecar's breaker opens,
emergency mode switches traffic to the warm standby (another mock), the
alert rules fire — a local webhook receiver gets signed payloads and a real
Alertmanager (Debian's prometheus-alertmanager) the alert — and when the
primary recovers, everything resolves; the timeline tells it in order.
Processes are stopped by PID; timing assertions are liveness bounds only.
"""
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from ringside_procs import Mock, Sidecar, binary, free_port  # noqa: E402

SECRET = "drill-secret"
CHAT = '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}'



class Hooks:
    """A webhook receiver on 127.0.0.1: keeps every POST; answers 500 to
    the first one (the sidecar must retry), 200 after."""

    def __init__(self):
        self.got = []
        self.calls = 0
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.calls += 1
                status = 500 if hooks.calls == 1 else 200
                if status == 200:
                    hooks.got.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self):
        return [json.loads(b) for _, b in self.got]

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def alertmanager():
    d = tempfile.mkdtemp(prefix="rs-am-")
    cfg = os.path.join(d, "am.yml")
    with open(cfg, "w") as f:
        f.write("route: {receiver: none, group_wait: 1s}\nreceivers: [{name: none}]\n")
    port = free_port()
    p = subprocess.Popen(["prometheus-alertmanager", f"--config.file={cfg}", f"--storage.path={d}",
                          f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=2)
            break
        except OSError:
            assert p.poll() is None and time.monotonic() < deadline, "alertmanager did not start"
            time.sleep(0.2)
    yield url
    p.terminate()
    p.wait(10)
    subprocess.run(["rm", "-rf", d])


def call(s, *args):
    p = subprocess.run([binary("RINGSIDE_CALL", "tools/ringside-call"), "--socket", s.sock, *args],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


def events(s):
    return json.loads(s.http("/events")[1])


def wait(pred, what, timeout=60, why=lambda: ""):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {why()}"
        time.sleep(0.1)


def test_the_emergency_drill(alertmanager):
    primary, standby, hooks = Mock(), Mock(), Hooks()
    try:
        d = tempfile.mkdtemp(prefix="rs-drill-")
        cfg = os.path.join(d, "ringside.yaml")
        with open(cfg, "w") as f:
            f.write(f"""
retries: {{attempts: 1}}
breaker: {{failures: 3, cooldown_ms: 3000, max_cooldown_ms: 3000, half_open_probes: 1}}
emergency: {{when_primaries_open: true, recover_ms: 1500}}
alerts:
  webhooks: [{{url: "{hooks.url}", secret_env: HOOK_SECRET}}]
  alertmanager: "{alertmanager}"
  rules:
    - {{name: DrillErrors, metric: error_ratio, above: 0.25, for_ms: 0, window_ms: 3000, min_answers: 3}}
    - {{name: DrillEmergency, metric: emergency, above: 0, for_ms: 0, severity: critical}}
routes:
  - {{name: primary, endpoint: {primary.url}}}
  - {{name: spare, endpoint: {standby.url}, standby: true, keep_warm_ms: 300}}
""")
        s = Sidecar(None, extra=["--config", cfg], env={"HOOK_SECRET": SECRET})
        try:
            wait(lambda: "standby_up" in [e["kind"] for e in events(s)], "the standby's first probe")
            primary.control("x-mock-status: 503")
            for _ in range(5):
                call(s, "--priority", "0", "--data", CHAT)
            wait(lambda: "emergency_on" in [e["kind"] for e in events(s)], "emergency mode")
            # in emergency, P0 goes to the standby and succeeds (the primary
            # gets only its breaker's probe, after the 3 s cooldown)
            rc, err = call(s, "--priority", "0", "-v", "--data", CHAT)
            assert rc == 0 and "upstream 'spare'" in err, (err, events(s))
            wait(lambda: {(p["alert"], p["status"]) for p in hooks.payloads()} >=
                 {("DrillErrors", "firing"), ("DrillEmergency", "firing")}, "firing webhooks",
                 why=lambda: f"webhooks {hooks.payloads()}, {hooks.calls} calls; events {events(s)}")
            assert hooks.calls > len(hooks.got)   # the first delivery was refused, and retried
            for headers, body in hooks.got:
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                assert headers["X-Ringside-Signature"] == want
            def am_alerts():
                with urllib.request.urlopen(alertmanager + "/api/v2/alerts", timeout=5) as r:
                    return {a["labels"]["alertname"]: a for a in json.loads(r.read())}
            wait(lambda: "DrillEmergency" in am_alerts(), "the alert in Alertmanager")
            assert am_alerts()["DrillEmergency"]["labels"]["service"] == "ringside"
            page = s.http("/metrics")[1]
            assert 'ringside_alert_firing{alert="DrillEmergency"} 1' in page
            sent = [l for l in page.splitlines() if l.startswith('ringside_notifications_total{result="sent"}')]
            assert sent and float(sent[0].split()[1]) >= 3, sent   # two webhooks and Alertmanager

            # the primary recovers: its breaker's probe succeeds, then the
            # emergency ends after recover_ms of health, and the alerts resolve
            primary.control("")
            def keep_calling():
                call(s, "--priority", "0", "--data", CHAT)
                return "emergency_off" in [e["kind"] for e in events(s)]
            wait(keep_calling, "the end of the emergency")
            wait(lambda: {(p["alert"], p["status"]) for p in hooks.payloads()} >=
                 {("DrillErrors", "resolved"), ("DrillEmergency", "resolved")}, "resolved webhooks")
            resolved = [p for p in hooks.payloads() if p["status"] == "resolved"][0]
            assert resolved["ends_at"] and resolved["starts_at"] <= resolved["ends_at"]

            kinds = [e["kind"] for e in events(s)]
            order = ["breaker_open", "emergency_on", "alert_firing", "breaker_closed", "emergency_off",
                     "alert_resolved"]
            at = [kinds.index(k) for k in order]
            assert at[0] < at[1] < at[3] < at[4] and at[2] > at[0] and at[5] > at[2], kinds
            # the post-mortem's table has them, in the same order
            md = subprocess.run([binary("RINGSIDECTL", "tools/ringsidectl"), "--admin", s.admin, "timeline",
                                 "--since", "10m", "--markdown"], capture_output=True, text=True, timeout=30)
            assert md.returncode == 0, md.stderr
            rows = [line for line in md.stdout.splitlines() if line.startswith("| 20")]
            row_kinds = [r.split("|")[2].strip().strip("*") for r in rows]
            assert [k for k in row_kinds if k in ("breaker_open", "emergency_on", "breaker_closed",
                                                  "emergency_off")] == \
                [k for k in kinds if k in ("breaker_open", "emergency_on", "breaker_closed", "emergency_off")], md.stdout
        finally:
            problem = s.stop()
            assert not problem, problem
    finally:
        primary.stop()
        standby.stop()
        hooks.stop()
