"""The admin listener (issue #16): /metrics, /healthz, /readyz against the
real sidecar and the mock upstream; the page passes promtool's checks."""
import re
import socket
import subprocess

from conftest import RINGSIDE_CALL, Sidecar, write_config
from ringside_procs import Sidecar as PlainSidecar

CHAT = '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}'


def call(s, *args):
    p = subprocess.run([RINGSIDE_CALL, "--socket", s.sock, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def metric(page, name, **labels):
    """The value of one series (0 when absent), labels matched exactly."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in page.splitlines():
        m = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if m and m.group(1) == name and (m.group(2) or "") == want:
            return float(m.group(3))
    return 0.0


def test_metrics_count_what_went_through(mock):
    with Sidecar(mock.url) as s:
        for _ in range(5):
            assert call(s, "--route", "echo", "--data", "x")[0] == 0
        for _ in range(3):
            assert call(s, "--priority", "0", "--data", CHAT)[0] == 0
        assert call(s, "--route", "nowhere", "--data", "x")[0] != 0
        status, page = s.http("/metrics")
    assert status == 200
    assert metric(page, "ringside_requests_total", route="echo", priority="P1", outcome="ok") == 5
    assert metric(page, "ringside_requests_total", route="default", priority="P0", outcome="ok") == 3
    assert metric(page, "ringside_requests_total", route="", priority="P1", outcome="no_route") == 1
    assert metric(page, "ringside_attempts_total", route="default", priority="P0") == 3
    assert metric(page, "ringside_request_duration_seconds_count", route="default", priority="P0") == 3
    assert metric(page, "ringside_first_content_seconds_count", route="default", priority="P0") == 3
    assert metric(page, "ringside_request_duration_seconds_bucket", route="default", priority="P0",
                  le="+Inf") == 3
    assert metric(page, "ringside_breaker_state", route="default") == 0
    assert metric(page, "ringside_concurrency_limit", route="default") == 64
    assert metric(page, "ringside_clients") == 0   # each ringside-call has gone again
    assert 'ringside_build_info{version="' in page
    # Prometheus's own linter on the page
    p = subprocess.run(["promtool", "check", "metrics"], input=page, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


def test_health_ready_and_unknown_pages(mock):
    with Sidecar(mock.url) as s:
        assert s.http("/healthz") == (200, "ok\n")
        assert s.http("/readyz") == (200, "ready\n")
        status, body = s.http("/nothing")
        assert status == 404 and "/metrics" in body
        status, body = s.http("/metrics", method="DELETE")
        assert status == 405


def test_ready_turns_unready_when_every_route_is_open(mock, tmp_path):
    cfg = write_config(tmp_path, f"""
breaker: {{failures: 3, cooldown_ms: 60000, max_cooldown_ms: 60000}}
retries: {{attempts: 1}}
routes:
  - {{name: only, endpoint: {mock.url}}}
""")
    with Sidecar(None, "--config", cfg) as s:
        assert s.http("/readyz")[0] == 200
        for _ in range(3):
            rc, _, err = call(s, "--header", "x-mock-status: 503", "--data", CHAT)
            assert rc != 0
        status, body = s.http("/readyz")
        assert status == 503 and "every route's circuit breaker is open" in body, body
        status, page = s.http("/metrics")
        assert metric(page, "ringside_breaker_state", route="only") == 2
        assert metric(page, "ringside_breaker_opened_total", route="only") == 1
        assert metric(page, "ringside_requests_total", route="only", priority="P1", outcome="upstream_error") == 3


def test_an_explicit_address_in_use_refuses_the_start_naming_it(mock):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        try:
            PlainSidecar(mock.url, extra=["--admin-listen", f"127.0.0.1:{port}"])
            raise AssertionError("ringsided started on a taken admin address")
        except RuntimeError as e:
            assert f"admin.listen: cannot listen on 127.0.0.1:{port}" in str(e)
    finally:
        taken.close()


def test_the_default_address_taken_warns_and_serves_without_a_listener(mock):
    # Started without --admin-listen it tries 127.0.0.1:9464. Held here
    # (or by something else on this machine: taken either way), the
    # sidecar must say so, open no listener, and serve all the same.
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # past a TIME_WAIT, as the listener would be
    try:
        taken.bind(("127.0.0.1", 9464))
        taken.listen(1)
    except OSError:
        pass   # another program holds it
    try:
        s = PlainSidecar(mock.url, own_admin=False)
        try:
            log = s.read_log()
            assert "admin listener off: cannot listen on 127.0.0.1:9464" in log, log
            assert "admin listener on" not in log and s.admin is None, log
            assert call(s, "--route", "echo", "--data", "x")[0] == 0
            assert s.alive()
        finally:
            problem = s.stop()
            assert not problem, problem
    finally:
        taken.close()


def test_the_listener_can_be_turned_off(mock):
    with Sidecar(mock.url, "--admin-listen", "off") as s:
        assert s.admin is None
        assert call(s, "--route", "echo", "--data", "x")[0] == 0


def events(s, since=0):
    import json
    status, body = s.http(f"/events?since={since}")
    assert status == 200, body
    return json.loads(body)


def test_the_timeline_tells_a_breaker_opening_and_the_route_recovering(mock, tmp_path):
    timeline = tmp_path / "timeline.jsonl"
    cfg = write_config(tmp_path, f"""
breaker: {{failures: 3, cooldown_ms: 300, max_cooldown_ms: 300, half_open_probes: 1}}
retries: {{attempts: 1}}
timeline: {{file: {timeline}}}
routes:
  - {{name: only, endpoint: {mock.url}}}
""")
    with Sidecar(None, "--config", cfg) as s:
        for _ in range(3):
            assert call(s, "--header", "x-mock-status: 503", "--data", CHAT)[0] != 0
        import time
        time.sleep(0.5)   # past the cooldown: the next request is the probe
        assert call(s, "--data", CHAT)[0] == 0
        time.sleep(0.1)   # the watcher looks every 10 ms
        kinds = [(e["kind"], e["trouble"]) for e in events(s) if e["route"] == "only"]
        assert kinds == [("breaker_open", True), ("breaker_half_open", False), ("breaker_closed", False)], kinds
        first = events(s)[0]
        assert first["kind"] == "start" and first["ts"].endswith("Z")
    # the file has every event, and a restart reads it back
    import json
    lines = [json.loads(l) for l in timeline.read_text().splitlines()]
    assert [l["kind"] for l in lines][-1] == "stop"
    with Sidecar(None, "--config", cfg) as s:
        kinds = [e["kind"] for e in events(s)]
        assert kinds[:len(lines)] == [l["kind"] for l in lines] and kinds[len(lines)] == "start", kinds
        assert events(s, since=lines[-1]["ms"] + 1)[0]["kind"] == "start"
        assert s.http("/events?since=yesterday")[0] == 400


def test_a_timeline_file_that_cannot_be_written_warns_once_and_keeps_events_in_memory(mock, tmp_path):
    # /dev/full: opened fine, every write fails (ENOSPC), as on a full disk
    cfg = write_config(tmp_path, "timeline: {file: /dev/full}\n")
    with Sidecar(mock.url, "--config", cfg) as s:
        for state in ("on", "off", "on"):
            assert s.http(f"/admin/emergency?state={state}", method="POST")[0] == 200
        kinds = [e["kind"] for e in events(s)]
        assert kinds == ["start", "emergency_on", "emergency_off", "emergency_on"], kinds
        assert call(s, "--route", "echo", "--data", "x")[0] == 0
        log = s.read_log()
    warning = "timeline: cannot append to /dev/full: No space left on device; events are kept in memory only"
    assert log.count(warning) == 1, log


def test_status_json_sums_it_up(mock):
    import json
    with Sidecar(mock.url) as s:
        assert call(s, "--data", CHAT)[0] == 0
        status, body = s.http("/api/status")
    doc = json.loads(body)
    assert doc["state"] == "running" and doc["answers"] == {"total": 1, "ok": 1, "errors": 0}
    assert doc["routes"][0]["name"] == "default" and doc["routes"][0]["breaker"] == "closed"
    assert doc["routes"][0]["ok"] == 1 and doc["queues"] == {"P0": 0, "P1": 0, "P2": 0}


def test_post_reload_reloads_and_says_so_in_the_timeline(mock, tmp_path):
    cfg = write_config(tmp_path, f"routes:\n  - {{name: a, endpoint: {mock.url}}}\n")
    with Sidecar(None, "--config", cfg) as s:
        with open(cfg, "w") as f:
            f.write(f"routes:\n  - {{name: b, endpoint: {mock.url}}}\n")
        status, body = s.http("/admin/reload", method="POST")
        assert status == 202, body
        import time
        deadline = time.monotonic() + 10
        while "reload" not in [e["kind"] for e in events(s)]:
            assert time.monotonic() < deadline, events(s)
            time.sleep(0.05)
        assert call(s, "--route", "b", "--data", CHAT)[0] == 0
        with open(cfg, "w") as f:
            f.write("routes: [oops\n")
        assert s.http("/admin/reload", method="POST")[0] == 202
        while "reload_refused" not in [e["kind"] for e in events(s)]:
            assert time.monotonic() < deadline, events(s)
            time.sleep(0.05)


def test_a_client_storm_is_in_the_timeline(mock):
    """Hundreds of registrations in a second (apps in a crash loop): one
    client_storm event with the figures, and its end once it calms down."""
    import time
    with Sidecar(mock.url) as s:
        for _ in range(300):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            c.connect(s.sock)
            c.close()   # no hello: refused
        deadline = time.monotonic() + 20
        while "client_storm_end" not in [e["kind"] for e in events(s)]:
            assert time.monotonic() < deadline, events(s)
            time.sleep(0.2)
        storm = [e for e in events(s) if e["kind"] == "client_storm"]
        assert len(storm) == 1 and storm[0]["trouble"] and "refused" in storm[0]["msg"], storm
