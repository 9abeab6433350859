"""End-to-end traffic control: the real sidecar with a YAML configuration,
real mock upstreams (made to fail, throttle or stall through /_control),
real C clients. Timing assertions are generous liveness bounds."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (RINGSIDE_CALL, RINGSIDED, Mock, Sidecar, batch, check_batch, mock_control, mock_requests,
                      mock_stats, wait_for, write_config)


@pytest.fixture
def mock2():
    m = Mock()
    yield m
    m.stop()


def start(tmp_path, text):
    return Sidecar(None, "--config", write_config(tmp_path, text))


def one_route(tmp_path, mock, settings=""):
    """A sidecar whose only route is the mock, with these YAML settings."""
    return start(tmp_path, f"{settings}\nroutes:\n  - {{name: only, endpoint: {mock.url}}}\n")


def two_routes(primary, secondary, extra=""):
    return f"""
retries: {{attempts: 3, initial_ms: 100, cap_ms: 1000}}
breaker: {{failures: 3, cooldown_ms: 4000, half_open_probes: 1}}
{extra}
routes:
  - name: primary
    endpoint: {primary.url}
    weight: 80
  - name: secondary
    endpoint: {secondary.url}
    weight: 20
    conditions:
      - http_status: [502, 503, 504]
      - latency_gt: 1000
"""


def test_issue_example_yaml_is_accepted_as_written(tmp_path):
    path = write_config(tmp_path, """
routes:
  - name: primary
    endpoint: https://api.deepseek.com
    weight: 80
  - name: secondary
    endpoint: https://backup.deepseek.com
    weight: 20
    conditions:
      - http_status: [502, 503, 504]
      - latency_gt: 2000
""")
    p = subprocess.run([RINGSIDED, "--check-config", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "OK (2 routes)" in p.stdout


def test_config_errors_name_file_line_and_key(tmp_path):
    path = write_config(tmp_path, """limits:
  global: {rps: 10}
routes:
  - name: a
    endpoint: ftp://nope
    weight: heavy
  - name: a
    endpoint: http://127.0.0.1:1
    colour: blue
retries:
  on_status: [503, 401]
prefault: maybe
""")
    p = subprocess.run([RINGSIDED, "--check-config", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    err = p.stderr
    assert f"{path}:5: routes[0].endpoint: 'ftp://nope' must start with http:// or https://" in err
    assert f"{path}:6: routes[0].weight: 'heavy' is not a whole number" in err
    assert f"{path}:7: routes[1]: route name 'a' is used twice" in err
    assert f"{path}:9: routes[1].colour: unknown key" in err
    assert f"{path}:11: retries.on_status: 401 is never retried" in err
    assert f"{path}:12: prefault: 'maybe' is not true or false" in err
    assert "6 problems" in err


def test_env_substitution_and_missing_variable(tmp_path, mock):
    path = write_config(tmp_path, "routes:\n  - name: x\n    endpoint: ${RS_TEST_URL}\n")
    p = subprocess.run([RINGSIDED, "--check-config", path], capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in os.environ.items() if k != "RS_TEST_URL"})
    assert p.returncode == 2 and "environment variable RS_TEST_URL is not set" in p.stderr
    p = subprocess.run([RINGSIDED, "--check-config", path], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, RS_TEST_URL=mock.url))
    assert p.returncode == 0, p.stderr


def test_429_storm_respects_retry_after_and_the_retry_budget(tmp_path, mock):
    with one_route(tmp_path, mock, """
retries: {attempts: 3, initial_ms: 50, budget: {ratio: 0.2, min: 2, window_ms: 60000}}
""") as s:
        mock_control(mock, "x-mock-status: 429\nx-mock-retry-after: 2\n")
        p = batch(s, 30, window=30, popen=True)
        time.sleep(0.5)
        first_wave = mock_requests(mock)
        time.sleep(1.2)
        # the first 429 said "wait 2 s": nothing more was sent meanwhile,
        # neither retries nor the first attempts still queued
        assert first_wave >= 1 and mock_requests(mock) == first_wave
        res = check_batch(json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]))
        assert res["errors"] == {"RS_EUPSTREAM": 30} and res["status"] == {"429": 30}
        # retries stayed within the budget: 20% of 30 requests = 6
        assert 30 < mock_requests(mock) <= 36
        assert res["lat_max_ms"] >= 2000


def test_401_is_not_retried(tmp_path, mock):
    with one_route(tmp_path, mock) as s:
        res = batch(s, 5, headers=["x-mock-status:401"])
        assert res["errors"] == {"RS_EUPSTREAM": 5} and res["attempts"] == {"1": 5}
        assert mock_requests(mock) == 5


def test_503_on_primary_moves_traffic_to_secondary_and_back(tmp_path, mock, mock2):
    with start(tmp_path, two_routes(mock, mock2)) as s:
        res = batch(s, 200, window=8)
        assert res["errors"] == {"RS_OK": 200}
        assert 130 <= res["upstreams"]["primary"] <= 190, res

        mock_control(mock, "x-mock-status: 503\n")
        before = mock_requests(mock)
        res = batch(s, 30, window=1)
        # every request still succeeds; the primary saw at most 3 failures
        assert res["errors"] == {"RS_OK": 30} and res["upstreams"] == {"secondary": 30}, res
        assert mock_requests(mock) - before <= 3

        mock_control(mock, "")
        time.sleep(4.5)   # the breaker's cool-down; then a probe closes it
        res = batch(s, 100, window=1)
        assert res["errors"] == {"RS_OK": 100}
        assert res["upstreams"].get("primary", 0) >= 55, res
        assert "circuit" not in json.dumps(res)


def test_slow_first_token_triggers_latency_failover(tmp_path, mock, mock2):
    with start(tmp_path, two_routes(mock, mock2)) as s:
        # DeepSeek-style: blank lines for 3 s before the JSON
        mock_control(mock, "x-mock-keepalives: 30\nx-mock-keepalive-interval-ms: 100\n")
        before = mock_requests(mock)
        res = batch(s, 12, window=1)
        assert res["errors"] == {"RS_OK": 12} and res["upstreams"] == {"secondary": 12}, res
        # each stalled attempt was cut at the 1 s first-content limit, and
        # after 3 slow ones the primary was left alone
        assert res["lat_max_ms"] < 2500
        assert mock_requests(mock) - before <= 3


def test_p0_latency_stays_flat_while_a_p2_flood_is_throttled(tmp_path, mock):
    with one_route(tmp_path, mock, """
limits:
  global: {rps: 50, burst: 1}
priorities: {queue: {p2: 5000}}
""") as s:
        flood = batch(s, 300, prio=2, timeout_ms=60000, window=300, popen=True)
        time.sleep(0.5)
        p0 = batch(s, 15, prio=0, window=1)
        p2 = check_batch(json.loads(flood.communicate(timeout=120)[0].strip().splitlines()[-1]))
        assert p0["errors"] == {"RS_OK": 15} and p2["errors"] == {"RS_OK": 300}
        # P2 was held to 50/s (300 requests: about 6 s); P0 went ahead of it
        assert p2["lat_max_ms"] >= 4500
        assert p0["lat_max_ms"] < 1000, p0


def test_queued_requests_expire_with_deadline_exceeded(tmp_path, mock):
    with one_route(tmp_path, mock, """
limits:
  global: {rps: 1, burst: 1}
""") as s:
        t0 = time.monotonic()
        res = batch(s, 10, timeout_ms=1500, window=10)
        assert res["errors"]["RS_OK"] in (1, 2, 3), res
        assert res["errors"]["RS_OK"] + res["errors"]["RS_EDEADLINE"] == 10
        assert time.monotonic() - t0 < 10


def test_full_queue_refuses_naming_the_limit(tmp_path, mock):
    with one_route(tmp_path, mock, """
limits:
  global: {rps: 1, burst: 1}
priorities: {queue: {p2: 5}}
""") as s:
        res, errors = batch(s, 20, prio=2, timeout_ms=3000, window=20, verbose=True)
        assert res["errors"]["RS_EQUEUEFULL"] >= 12, res
        assert "P2 queue is full (priorities.queue.p2 = 5)" in errors


def test_shedding_starts_when_the_upstream_refuses_p2_first_never_p0(tmp_path, mock):
    with one_route(tmp_path, mock, """
retries: {attempts: 1}
shedding: {error_rate: 0.5, fraction: 0.5, window_ms: 2000, min_samples: 20}
""") as s:
        # 60% of attempts refused: over P2's bar (50%), under P1's (75%)
        mock_control(mock, "x-mock-fail-rate: 0.6\nx-mock-fail-kinds: 503\nx-mock-seed: 7\n")
        batch(s, 40, prio=0, window=1)   # outcomes for the window
        p2, errors = batch(s, 200, prio=2, window=200, verbose=True)
        p1 = batch(s, 200, prio=1, window=200)
        assert 60 <= p2["errors"].get("RS_ESHED", 0) <= 140, p2
        assert "above the P2 bar of 50%" in errors
        assert "RS_ESHED" not in p1["errors"], p1

        # everything refused: P1 is shed too, P0 never
        mock_control(mock, "x-mock-status: 503\n")
        time.sleep(2.2)   # the window forgets the mixed outcomes
        batch(s, 40, prio=0, window=1)
        p1 = batch(s, 200, prio=1, window=200)
        p0 = batch(s, 40, prio=0, window=40)
        assert 60 <= p1["errors"].get("RS_ESHED", 0) <= 140, p1
        assert p0["errors"] == {"RS_EUPSTREAM": 40}, p0


def test_route_pinning_and_model_mapping(tmp_path, mock, mock2):
    with start(tmp_path, f"""
routes:
  - name: primary
    endpoint: {mock.url}
  - name: secondary
    endpoint: {mock2.url}
    models: {{deepseek-chat: deepseek-v3-renamed}}
""") as s:
        res = batch(s, 20, route="secondary")
        assert res["upstreams"] == {"secondary": 20}
        p = subprocess.run([RINGSIDE_CALL, "--socket", s.sock, "--route", "secondary"],
                           capture_output=True, text=True, timeout=30)
        assert json.loads(p.stdout)["model"] == "deepseek-v3-renamed"


def test_sighup_reloads_limits_and_refuses_a_bad_file(tmp_path, mock):
    path = write_config(tmp_path, f"limits: {{global: {{rps: 2, burst: 1}}}}\nroutes:\n  - {{name: only, endpoint: {mock.url}}}\n")
    with Sidecar(None, "--config", path) as s:
        t0 = time.monotonic()
        assert batch(s, 6, window=6)["errors"] == {"RS_OK": 6}
        assert time.monotonic() - t0 >= 2.0    # 2 per second
        with open(path, "w") as f:
            f.write(f"limits: {{global: {{rps: 1000}}}}\nroutes:\n  - {{name: only, endpoint: {mock.url}}}\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in s.read_log():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        assert batch(s, 50, window=50)["errors"] == {"RS_OK": 50}
        assert time.monotonic() - t0 < 2.0
        with open(path, "w") as f:
            f.write("limits: {global: {rps: -5}}\n")
        s.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload refused" not in s.read_log():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert s.alive() and batch(s, 10)["errors"] == {"RS_OK": 10}


def test_example_config_in_deploy_is_valid():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "deploy", "ringside.example.yaml")
    p = subprocess.run([RINGSIDED, "--check-config", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "OK (2 routes)" in p.stdout


def test_past_1024_in_flight_a_connection_is_used_once_and_1024_are_kept(mock, tmp_path):
    """Over HTTP/1.1 every transfer in flight holds a connection of its own.
    The sidecar keeps up to 1,024 of them for reuse; a transfer started past
    that closes its connection when it ends, so a burst does not leave
    thousands idle (libcurl searches its cache linearly). The next wave
    reuses the kept ones instead of connecting again."""
    config = write_config(tmp_path, "priorities: {queue: {p1: 4000}}\nroutes:\n"
                          f"  - {{name: mock, endpoint: {mock.url}, concurrency: {{initial: 2000, min: 1, max: 2000}}}}\n")
    with Sidecar(None, "--config", config) as s:
        # 1,300 at once, each held 1.5 s by the mock: all at the upstream together
        res = batch(s, 1300, window=1300, timeout_ms=120000, headers=("x-mock-delay-ms:1500",))
        assert res["errors"] == {"RS_OK": 1300}, res
        stats = mock_stats(mock)
        assert stats["inflight_peak"] >= 1100, stats   # they really were in flight together
        # (the mock counts the connection asking it too)
        wait_for(lambda: mock_stats(mock)["active_connections"] <= 1024 + 1, what="the used-once connections closed")
        assert mock_stats(mock)["active_connections"] >= 900 + 1, stats   # and the rest stayed open for reuse
        before = mock_stats(mock)["connections"]
        res = batch(s, 400, window=400, timeout_ms=60000, headers=("x-mock-delay-ms:200",))
        assert res["errors"] == {"RS_OK": 400}, res
        assert mock_stats(mock)["connections"] - before <= 8, mock_stats(mock)   # the kept ones served them
