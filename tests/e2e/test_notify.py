"""Alert notifications' limits (issue #16, sidecar/notify.c), against a
local receiver: the bounded queue drops its oldest deliveries, counted,
and a delivery refused five times is given up, counted and logged."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import Sidecar, write_config


class Receiver:
    """Webhooks and an Alertmanager on 127.0.0.1: keeps every POST as
    (path, body); answers each with status."""

    def __init__(self, status=200):
        self.got = []
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with rec.lock:
                    rec.got.append((self.path, json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128   # the sidecar sends many at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self):
        with self.lock:
            return list(self.got)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def notifications(s, result):
    page = s.http("/metrics")[1]
    m = re.search(r'^ringside_notifications_total\{result="%s"\} (\S+)$' % result, page, re.M)
    assert m, page
    return float(m.group(1))


def wait(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def emergency_rules(n):
    """n rules that fire together, on the first look after emergency mode is on."""
    return "".join(f"    - {{name: R{i:02}, metric: emergency, above: 0, for_ms: 0}}\n" for i in range(n))


def test_a_full_queue_drops_its_oldest_deliveries_and_counts_them(tmp_path):
    # 16 rules firing at once, each to 4 webhooks and Alertmanager: 80
    # deliveries queued in one evaluation, before any is sent. The queue
    # holds 64: the 16 oldest (R00-R02's, and R03's to the first webhook)
    # go, counted; the 64 newest are delivered.
    rec = Receiver()
    try:
        hooks = "".join(f"    - {{url: \"{rec.url}/hook{k}\"}}\n" for k in range(4))
        cfg = write_config(tmp_path, f"""
alerts:
  alertmanager: "{rec.url}/am"
  webhooks:
{hooks}  rules:
{emergency_rules(16)}""")
        with Sidecar(None, "--config", cfg) as s:
            assert s.http("/admin/emergency?state=on", method="POST")[0] == 200
            wait(lambda: notifications(s, "sent") == 64, "64 deliveries")
            assert notifications(s, "dropped") == 16 and notifications(s, "failed") == 0
            time.sleep(0.5)   # nothing more comes
            got = rec.calls()
    finally:
        rec.stop()

    def key(path, body):
        if path == "/am/api/v2/alerts":
            return body[0]["labels"]["alertname"], "am"
        return body["alert"], path.lstrip("/")

    targets = [f"hook{k}" for k in range(4)] + ["am"]
    queued = [(f"R{i:02}", t) for i in range(16) for t in targets]   # in the order they were queued
    assert sorted(key(p, b) for p, b in got) == sorted(queued[16:]), got


def test_a_delivery_refused_five_times_is_given_up(tmp_path):
    # the receiver answers 500 to all: tried at 0, 0.1, 0.3, 0.7 and 1.5 s
    # (alerts.delivery), then dropped, counted as failed and logged
    rec = Receiver(status=500)
    try:
        cfg = write_config(tmp_path, f"""
alerts:
  webhooks: [{{url: "{rec.url}/hook"}}]
  delivery: {{attempts: 5, backoff_ms: 100}}
  rules:
{emergency_rules(1)}""")
        with Sidecar(None, "--config", cfg) as s:
            assert s.http("/admin/emergency?state=on", method="POST")[0] == 200
            wait(lambda: notifications(s, "failed") == 1, "the delivery to be given up")
            assert len(rec.calls()) == 5, rec.calls()
            time.sleep(2)   # past the next backoff step there would have been (1.6 s): no sixth try
            assert len(rec.calls()) == 5, rec.calls()
            assert notifications(s, "sent") == 0 and notifications(s, "dropped") == 0
            log = s.read_log()
        assert f"alerts: {rec.url}/hook answered HTTP 500 5 times: notification dropped" in log, log
    finally:
        rec.stop()
