"""Emergency mode (issue #16): by hand and by its triggers, the share of
P1/P2 it sheds (never P0), the switch to a standby route and back, and the
timeline of it all — against the real sidecar and real mock upstreams."""
import json
import time

from conftest import Mock, Sidecar, batch, mock_stats, write_config




def mock_requests(mock):
    return mock_stats(mock)["requests"]


def kinds(s):
    return [e["kind"] for e in json.loads(s.http("/events")[1])]


def wait_for_event(s, kind, timeout=20):
    deadline = time.monotonic() + timeout
    while kind not in kinds(s):
        assert time.monotonic() < deadline, f"no {kind} event: {kinds(s)}"
        time.sleep(0.05)


def metric(s, name):
    for line in s.http("/metrics")[1].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_by_hand_it_sheds_half_of_p1_p2_and_never_p0(mock):
    with Sidecar(mock.url) as s:
        assert s.http("/admin/emergency?state=on", method="POST") == (200, "emergency mode on\n")
        assert metric(s, "ringside_emergency") == 1
        p1 = batch(s, 1000, prio=1, window=64)
        p2 = batch(s, 400, prio=2, window=64)
        p0 = batch(s, 300, prio=0, window=64)
        shed = p1["errors"].get("RS_ESHED", 0) + p2["errors"].get("RS_ESHED", 0)
        # the configured 50%, counted exactly over P1 and P2 together
        assert abs(shed / 1400 - 0.5) <= 0.05, (p1, p2)
        assert p1["errors"].get("RS_OK", 0) + p2["errors"].get("RS_OK", 0) == 1400 - shed
        assert p0["errors"] == {"RS_OK": 300}, p0
        assert s.http("/admin/emergency?state=off", method="POST") == (200, "emergency mode off\n")
        assert batch(s, 200, prio=1)["errors"] == {"RS_OK": 200}
        assert metric(s, "ringside_emergency") == 0
        k = kinds(s)
        assert k.index("emergency_on") < k.index("emergency_off")
        assert s.http("/admin/emergency?state=maybe", method="POST")[0] == 400


def test_it_switches_to_the_warm_standby_and_back(mock, tmp_path):
    standby = Mock()
    try:
        cfg = write_config(tmp_path, f"""
routes:
  - {{name: primary, endpoint: {mock.url}}}
  - {{name: spare, endpoint: {standby.url}, standby: true, keep_warm_ms: 200}}
""")
        with Sidecar(None, "--config", cfg) as s:
            wait_for_event(s, "standby_up")
            assert batch(s, 50, prio=0)["upstreams"] == {"primary": 50}   # no traffic to a standby normally
            time.sleep(0.7)   # a few more keep-warm probes
            # each /stats asked of the mock is a connection of its own:
            # one for the probes, one for this question
            warm = mock_stats(standby)
            assert warm["requests"] >= 3 and warm["connections"] == 2, warm
            assert 'ringside_standby_up{route="spare"} 1' in s.http("/metrics")[1]
            s.http("/admin/emergency?state=on", method="POST")
            on_primary = mock_requests(mock)
            res = batch(s, 50, prio=0, window=1)
            assert res["errors"] == {"RS_OK": 50} and res["upstreams"] == {"spare": 50}, res
            assert mock_requests(mock) == on_primary
            # the switch cost no handshake: the probes' connection took the
            # traffic (the one more is this /stats question)
            assert mock_stats(standby)["connections"] == warm["connections"] + 1
            s.http("/admin/emergency?state=off", method="POST")
            res = batch(s, 50, prio=0)
            assert res["upstreams"] == {"primary": 50}, res
            msg = [e["msg"] for e in json.loads(s.http("/events")[1]) if e["kind"] == "emergency_on"][0]
            assert "standby routes 'spare'" in msg, msg
    finally:
        standby.stop()


def test_a_dead_standby_is_known_before_it_is_needed(mock, tmp_path):
    import socket
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()   # nothing listens there
    cfg = write_config(tmp_path, f"""
routes:
  - {{name: primary, endpoint: {mock.url}}}
  - {{name: spare, endpoint: http://127.0.0.1:{port}, standby: true, keep_warm_ms: 200}}
""")
    with Sidecar(None, "--config", cfg) as s:
        wait_for_event(s, "standby_down")
        down = [e for e in json.loads(s.http("/events")[1]) if e["kind"] == "standby_down"][0]
        assert down["route"] == "spare" and "keep-warm probe failed" in down["msg"], down
        assert 'ringside_standby_up{route="spare"} 0' in s.http("/metrics")[1]


def test_it_turns_itself_on_when_answers_fail_and_off_when_they_recover(mock, tmp_path):
    cfg = write_config(tmp_path, f"""
retries: {{attempts: 1}}
breaker: {{failures: 1000, failure_rate: 0}}
emergency: {{error_ratio: 0.5, window_ms: 2000, min_requests: 10, recover_ms: 1000}}
routes:
  - {{name: only, endpoint: {mock.url}}}
""")
    with Sidecar(None, "--config", cfg) as s:
        res = batch(s, 30, prio=0, headers=["x-mock-status:503"])
        assert res["errors"] == {"RS_EUPSTREAM": 30}, res
        wait_for_event(s, "emergency_on")
        on = [e for e in json.loads(s.http("/events")[1]) if e["kind"] == "emergency_on"][0]
        assert "answers failed" in on["msg"] and "no standby route" in on["msg"], on
        # healthy answers now: the ratio over the window falls, then a second of health
        deadline = time.monotonic() + 20
        while "emergency_off" not in kinds(s):
            assert time.monotonic() < deadline, kinds(s)
            assert batch(s, 10, prio=0)["errors"] == {"RS_OK": 10}
            time.sleep(0.2)
        assert metric(s, "ringside_emergency") == 0
