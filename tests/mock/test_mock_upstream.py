"""Behaviour tests for ringside-mock-upstream (bench/mockup).

Owns the contract that the rest of ringside's tests and benchmarks rely on:
every control header documented in bench/mockup/README.md is exercised here
against the real binary over real sockets. Stdlib only, for Debian's
/usr/bin/python3 with python3-pytest.

Binary: $RINGSIDE_MOCK_UPSTREAM, else build/bench/mockup/ringside-mock-upstream
relative to the repository root. Timings are liveness bounds only: generous
enough for an ASan build on a loaded machine.
"""

import email.utils
import http.client
import json
import os
import re
import select
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "build" / "bench" / "mockup" / "ringside-mock-upstream"
LISTEN_RE = re.compile(r"^listening on 127\.0\.0\.1:(\d+)$")
SLACK_S = 2.0  # upper-bound slack for anything timed


def mock_binary():
    env = os.environ.get("RINGSIDE_MOCK_UPSTREAM")
    if env:
        path = Path(env)
        if not path.is_absolute():
            path = REPO_ROOT / path
        assert path.exists(), f"RINGSIDE_MOCK_UPSTREAM={env} does not exist"
        return path
    if not DEFAULT_BIN.exists():
        pytest.skip(f"mock upstream not built ({DEFAULT_BIN}); set RINGSIDE_MOCK_UPSTREAM")
    return DEFAULT_BIN


class MockServer:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [str(mock_binary()), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        if not ready:
            self.proc.kill()
            raise AssertionError("mock upstream did not print its listening line")
        line = self.proc.stdout.readline().decode().rstrip("\n")
        m = LISTEN_RE.match(line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"unexpected first line {line!r}; stderr: "
                                 f"{self.proc.stderr.read().decode(errors='replace')}")
        self.port = int(m.group(1))

    def conn(self, timeout=15):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self):
        """SIGTERM by PID; the server must exit cleanly (0) and promptly."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("mock upstream ignored SIGTERM")
        stderr = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert rc == 0, f"exit status {rc}; stderr:\n{stderr}"
        # Sanitizer builds report leaks and UB here.
        assert "ERROR: AddressSanitizer" not in stderr, stderr
        assert "ERROR: LeakSanitizer" not in stderr, stderr
        assert "runtime error:" not in stderr, stderr


@pytest.fixture(scope="module")
def server():
    s = MockServer()
    yield s
    s.stop()


@pytest.fixture
def fresh_server():
    """Own process, so /stats counters start at zero."""
    s = MockServer()
    yield s
    s.stop()


def request(server, method="POST", path="/v1/chat/completions", body=b"",
            headers=None, timeout=15):
    c = server.conn(timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        resp = c.getresponse()
        data = resp.read()
        return resp, data
    finally:
        c.close()


def raw_exchange(port, head, body=b"", timeout=10):
    """Sends one request on a fresh socket and returns (bytes, how it ended)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head + body)
        data = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                return data, "reset"
            if not d:
                return data, "eof"
            data += d
    finally:
        s.close()


def decode_chunked_prefix(raw):
    """Decodes as much of a chunked body as arrived; returns (payload, complete)."""
    out = b""
    while True:
        line_end = raw.find(b"\r\n")
        if line_end < 0:
            return out, False
        size = int(raw[:line_end].split(b";")[0], 16)
        if size == 0:
            return out, True
        chunk = raw[line_end + 2: line_end + 2 + size]
        out += chunk
        if len(chunk) < size:
            return out, False
        raw = raw[line_end + 2 + size + 2:]


def sse_events(body):
    return [e for e in body.decode().split("\n\n") if e]


# --------------------------------------------------------------------------
# basics
# --------------------------------------------------------------------------

def test_healthz(server):
    resp, data = request(server, "GET", "/healthz")
    assert resp.status == 200
    assert data == b"ok"


def test_chat_completion_default_shape(server):
    body = json.dumps({
        "model": "deepseek-reasoner",
        "messages": [{"role": "user", "content": "hello " * 50}],
    }).encode()
    resp, data = request(server, body=body, headers={
        "Content-Type": "application/json", "x-request-id": "req-42-abc"})
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json"
    doc = json.loads(data)
    assert doc["object"] == "chat.completion"
    assert doc["id"].startswith("chatcmpl-")
    assert isinstance(doc["created"], int) and abs(doc["created"] - time.time()) < 300
    assert doc["model"] == "deepseek-reasoner"
    choice = doc["choices"][0]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert "req-42-abc" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    usage = doc["usage"]
    assert usage["prompt_tokens"] == max(1, len(body) // 4)
    assert usage["completion_tokens"] >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert "request_headers" not in doc


@pytest.mark.parametrize("path", ["/chat/completions", "/v1/chat/completions",
                                  "/some/other/path"])
def test_chat_on_any_path(server, path):
    resp, data = request(server, path=path, body=b'{"model":"m"}',
                         headers={"x-request-id": path})
    assert resp.status == 200
    doc = json.loads(data)
    assert doc["object"] == "chat.completion"
    assert path in doc["choices"][0]["message"]["content"]


@pytest.mark.parametrize("body", [b"", b"not json at all", b"[1,2,3]",
                                  b'{"model": 42}', b'{"model": "x"'])
def test_non_json_or_odd_body_gives_defaults(server, body):
    resp, data = request(server, body=body)
    assert resp.status == 200
    doc = json.loads(data)
    assert doc["model"] == "deepseek-chat"
    assert doc["usage"]["prompt_tokens"] == max(1, len(body) // 4)


def test_concurrent_responses_match_their_requests(server):
    results = {}

    def one(i):
        resp, data = request(server, body=b'{"model":"m"}',
                             headers={"x-request-id": f"rid-{i}-end"})
        results[i] = (resp.status, json.loads(data)["choices"][0]["message"]["content"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 40
    for i, (status, content) in results.items():
        assert status == 200
        assert f"rid-{i}-end" in content


# --------------------------------------------------------------------------
# errors and Retry-After
# --------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 422, 429,
                                    500, 502, 503, 504, 418, 599])
def test_forced_error_status(server, status):
    resp, data = request(server, body=b'{"model":"m"}',
                         headers={"x-mock-status": str(status)})
    assert resp.status == status
    assert resp.getheader("Content-Type") == "application/json"
    err = json.loads(data)["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    assert "code" in err
    assert resp.getheader("Retry-After") is None


def test_error_types_are_realistic(server):
    _, data = request(server, headers={"x-mock-status": "429"})
    assert json.loads(data)["error"]["type"] == "rate_limit_error"
    _, data = request(server, headers={"x-mock-status": "503"})
    assert json.loads(data)["error"]["type"] == "server_error"


def test_forced_2xx_keeps_normal_body(server):
    resp, data = request(server, headers={"x-mock-status": "201"})
    assert resp.status == 201
    assert json.loads(data)["object"] == "chat.completion"


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds(server, status):
    resp, data = request(server, headers={"x-mock-status": str(status),
                                          "x-mock-retry-after": "2"})
    assert resp.status == status
    assert resp.getheader("Retry-After") == "2"
    assert "error" in json.loads(data)


def test_retry_after_verbatim_http_date(server):
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    resp, _ = request(server, headers={"x-mock-status": "503",
                                       "x-mock-retry-after": date})
    assert resp.getheader("Retry-After") == date


def test_retry_after_date_plus_n(server):
    before = time.time()
    resp, _ = request(server, headers={"x-mock-status": "429",
                                       "x-mock-retry-after": "date+30"})
    value = resp.getheader("Retry-After")
    assert value and value.endswith(" GMT"), value
    when = email.utils.parsedate_to_datetime(value).timestamp()
    assert before + 28 <= when <= time.time() + 32


def test_bad_control_header_is_400(server):
    resp, data = request(server, headers={"x-mock-delay-ms": "soon"})
    assert resp.status == 400
    err = json.loads(data)["error"]
    assert err["type"] == "mock_control_error"
    assert "x-mock-delay-ms" in err["message"]


def test_body_over_64_mib_is_413(server):
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n" % (64 * 1024 * 1024 + 1))
    data, _ = raw_exchange(server.port, head)
    assert data.startswith(b"HTTP/1.1 413 "), data[:100]
    assert b'"error"' in data


# --------------------------------------------------------------------------
# delays
# --------------------------------------------------------------------------

def test_delay_before_headers(server):
    t0 = time.monotonic()
    resp, data = request(server, headers={"x-mock-delay-ms": "400",
                                          "x-request-id": "slow"})
    elapsed = time.monotonic() - t0
    assert resp.status == 200
    assert "slow" in json.loads(data)["choices"][0]["message"]["content"]
    assert 0.4 <= elapsed < 0.4 + SLACK_S


def test_delay_applies_to_errors(server):
    t0 = time.monotonic()
    resp, _ = request(server, headers={"x-mock-delay-ms": "300",
                                       "x-mock-status": "503"})
    assert resp.status == 503
    assert time.monotonic() - t0 >= 0.3


def test_delay_does_not_block_other_connections():
    # One worker thread: a blocking sleep would stall every other request.
    s = MockServer("--threads", "1")
    try:
        done = {}

        def slow():
            t0 = time.monotonic()
            resp, _ = request(s, headers={"x-mock-delay-ms": "2000"})
            done["slow"] = (resp.status, time.monotonic() - t0)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.2)  # let the slow request reach the server first
        t0 = time.monotonic()
        c = s.conn()
        for i in range(20):
            c.request("POST", "/v1/chat/completions", body=b"{}",
                      headers={"x-request-id": f"fast{i}"})
            r = c.getresponse()
            assert r.status == 200
            assert f"fast{i}" in r.read().decode()
        c.close()
        fast_elapsed = time.monotonic() - t0
        assert "slow" not in done, "delayed request finished before the fast ones"
        t.join(15)
        assert done["slow"][0] == 200
        assert 2.0 <= done["slow"][1] < 2.0 + SLACK_S
        assert fast_elapsed < 1.5
    finally:
        s.stop()


# --------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------

def check_stream(body, n):
    events = sse_events(body)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert len(chunks) == n
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for i, c in enumerate(chunks):
        assert c["object"] == "chat.completion.chunk"
        choice = c["choices"][0]
        assert choice["delta"]["content"] == f"tok{i} "
        assert choice["finish_reason"] == ("stop" if i == n - 1 else None)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == n
    assert usage["total_tokens"] == usage["prompt_tokens"] + n
    return chunks


def test_stream_by_header(server):
    resp, data = request(server, body=b'{"model":"deepseek-chat"}',
                         headers={"x-mock-stream": "7"})
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/event-stream"
    assert resp.getheader("Transfer-Encoding") == "chunked"
    chunks = check_stream(data, 7)
    assert chunks[0]["model"] == "deepseek-chat"


def test_stream_by_body_flag_defaults_to_5(server):
    resp, data = request(server, body=json.dumps(
        {"model": "deepseek-chat", "stream": True, "messages": []}).encode())
    assert resp.getheader("Content-Type") == "text/event-stream"
    check_stream(data, 5)


def test_stream_zero_chunks_is_just_done(server):
    _, data = request(server, headers={"x-mock-stream": "0"})
    assert sse_events(data) == ["data: [DONE]"]


def test_stream_many_chunks(server):
    _, data = request(server, headers={"x-mock-stream": "2000"})
    check_stream(data, 2000)


def test_stream_chunk_interval(server):
    c = server.conn()
    c.request("POST", "/v1/chat/completions", body=b"{}",
              headers={"x-mock-stream": "3", "x-mock-chunk-interval-ms": "250"})
    resp = c.getresponse()
    arrivals, lines = [], []
    t0 = time.monotonic()
    while True:
        line = resp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            arrivals.append(time.monotonic() - t0)
            lines.append(line)
    c.close()
    assert lines[-1] == b"data: [DONE]\n"
    assert len(arrivals) == 4
    for a, b in zip(arrivals[:2], arrivals[1:3]):
        assert b - a >= 0.2, arrivals
    assert arrivals[2] < 0.5 + SLACK_S


# --------------------------------------------------------------------------
# keep-alives
# --------------------------------------------------------------------------

def test_keepalives_non_stream():
    s = MockServer()
    try:
        c = s.conn()
        t0 = time.monotonic()
        c.request("POST", "/v1/chat/completions", body=b"{}",
                  headers={"x-mock-keepalives": "3",
                           "x-mock-keepalive-interval-ms": "200",
                           "x-request-id": "ka"})
        resp = c.getresponse()
        headers_at = time.monotonic() - t0
        body = resp.read()
        body_at = time.monotonic() - t0
        c.close()
    finally:
        s.stop()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("Content-Length") is None
    assert body[:3] == b"\n\n\n"
    assert body[3:4] == b"{"
    doc = json.loads(body)  # leading whitespace is valid JSON
    assert "ka" in doc["choices"][0]["message"]["content"]
    # headers immediately, content only after 3 intervals
    assert headers_at < 0.5
    assert 0.6 <= body_at < 0.6 + SLACK_S


def test_keepalives_default_interval(server):
    t0 = time.monotonic()
    _, body = request(server, headers={"x-mock-keepalives": "2"})
    assert body.startswith(b"\n\n{")
    assert time.monotonic() - t0 >= 0.2


def test_keepalives_stream(server):
    resp, data = request(server, headers={"x-mock-stream": "2",
                                          "x-mock-keepalives": "2",
                                          "x-mock-keepalive-interval-ms": "20"})
    assert resp.getheader("Content-Type") == "text/event-stream"
    prefix = b": keep-alive\n\n" * 2
    assert data.startswith(prefix + b"data: {")
    check_stream(data[len(prefix):], 2)


def test_keepalives_ignored_for_errors(server):
    resp, data = request(server, headers={"x-mock-keepalives": "2",
                                          "x-mock-status": "500"})
    assert resp.status == 500
    assert data.startswith(b"{")


# --------------------------------------------------------------------------
# connection resets
# --------------------------------------------------------------------------

def chat_head(extra):
    lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n"
            + lines.encode() + b"\r\n")


def test_reset_after_http_client_sees_incomplete(server):
    c = server.conn()
    c.request("POST", "/v1/chat/completions", body=b"{}",
              headers={"x-mock-reset-after": "20"})
    resp = c.getresponse()
    assert resp.status == 200
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        resp.read()
    c.close()


def test_reset_after_non_stream_exact_prefix(server):
    data, how = raw_exchange(server.port, chat_head({"x-mock-reset-after": "25"}), b"{}")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    declared = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
    assert len(body) == 25 < declared
    assert body.startswith(b'{"id":"chatcmpl-')
    assert how in ("reset", "eof")


def test_reset_after_stream(server):
    c = server.conn()
    c.request("POST", "/v1/chat/completions", body=b"{}",
              headers={"x-mock-stream": "5", "x-mock-reset-after": "300"})
    resp = c.getresponse()
    assert resp.status == 200
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        resp.read()
    c.close()

    data, _ = raw_exchange(server.port, chat_head({"x-mock-stream": "5",
                                                   "x-mock-reset-after": "300"}), b"{}")
    payload, complete = decode_chunked_prefix(data.partition(b"\r\n\r\n")[2])
    assert not complete
    assert len(payload) == 300
    assert payload.startswith(b"data: {")


def test_reset_after_zero_sends_headers_only(server):
    data, _ = raw_exchange(server.port, chat_head({"x-mock-stream": "3",
                                                   "x-mock-reset-after": "0"}), b"{}")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert decode_chunked_prefix(body) == (b"", False)


def test_reset_after_beyond_body_completes(server):
    resp, data = request(server, headers={"x-mock-reset-after": "1000000"})
    assert resp.status == 200
    assert json.loads(data)["object"] == "chat.completion"


def test_reset_does_not_hang_with_idle_neighbours(server):
    # Regression: the aborted connection must be closed at once even when the
    # worker has other (idle keep-alive) connections to poll.
    idle = [server.conn() for _ in range(6)]
    for c in idle:
        c.request("GET", "/healthz")
        c.getresponse().read()
    t0 = time.monotonic()
    for _ in range(5):
        raw_exchange(server.port, chat_head({"x-mock-stream": "3",
                                             "x-mock-reset-after": "10"}), b"{}",
                     timeout=5)
    assert time.monotonic() - t0 < SLACK_S
    for c in idle:
        c.close()


# --------------------------------------------------------------------------
# echo endpoints
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/echo", "/v1/echo"])
def test_echo_4_mib(server, path):
    body = os.urandom(4 * 1024 * 1024 + 12345)
    c = server.conn(30)
    c.request("POST", path, body=body,
              headers={"Content-Type": "application/x-ringside-test"})
    resp = c.getresponse()
    data = resp.read()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/x-ringside-test"
    assert data == body
    # the connection stays usable afterwards
    c.request("POST", path, body=b"again")
    r2 = c.getresponse()
    assert r2.read() == b"again"
    c.close()


def test_echo_chunked_upload(server):
    parts = [os.urandom(100000) for _ in range(5)]
    c = server.conn()
    c.request("POST", "/echo", body=iter(parts), encode_chunked=True,
              headers={"Content-Type": "text/plain"})
    resp = c.getresponse()
    assert resp.read() == b"".join(parts)
    c.close()


def test_echo_empty_body(server):
    resp, data = request(server, path="/echo", body=b"")
    assert resp.status == 200
    assert data == b""
    assert resp.getheader("Content-Type") == "application/octet-stream"


# --------------------------------------------------------------------------
# echo-headers, auth, stats
# --------------------------------------------------------------------------

def test_echo_headers(server):
    resp, data = request(server, body=b"{}", headers={
        "Authorization": "Bearer sk-test-123",
        "X-Custom-Thing": "Value With Caps",
        "x-mock-echo-headers": "1",
    })
    doc = json.loads(data)
    hdrs = doc["request_headers"]
    assert hdrs["authorization"] == "Bearer sk-test-123"
    assert hdrs["x-custom-thing"] == "Value With Caps"
    assert hdrs["x-mock-echo-headers"] == "1"
    assert all(k == k.lower() for k in hdrs)
    assert doc["object"] == "chat.completion"


def test_echo_headers_on_error_body(server):
    _, data = request(server, headers={"x-mock-echo-headers": "1",
                                       "x-mock-status": "429",
                                       "X-Trace": "t1"})
    doc = json.loads(data)
    assert doc["error"]["type"] == "rate_limit_error"
    assert doc["request_headers"]["x-trace"] == "t1"


def test_keepalive_reuse_visible_in_stats(fresh_server):
    c = fresh_server.conn()
    for i in range(5):
        c.request("POST", "/v1/chat/completions", body=b"{}",
                  headers={"x-request-id": str(i)})
        r = c.getresponse()
        assert r.status == 200
        r.read()
    c.request("GET", "/stats")
    stats = json.loads(c.getresponse().read())
    c.close()
    assert stats["connections"] == 1
    assert stats["requests"] == 5

    for _ in range(2):
        request(fresh_server, "GET", "/healthz")
    _, data = request(fresh_server, "GET", "/stats")
    stats = json.loads(data)
    assert stats["connections"] == 4  # first conn + 2 healthz + this one
    assert stats["requests"] == 7


def test_expect_key():
    s = MockServer("--expect-key", "sk-good")
    try:
        resp, data = request(s, body=b"{}")
        assert resp.status == 401
        err = json.loads(data)["error"]
        assert err["type"] == "authentication_error"
        assert err["code"] == "invalid_api_key"

        resp, _ = request(s, body=b"{}", headers={"Authorization": "Bearer sk-bad"})
        assert resp.status == 401
        resp, _ = request(s, body=b"{}", headers={"Authorization": "sk-good"})
        assert resp.status == 401
        resp, _ = request(s, path="/echo", body=b"x")
        assert resp.status == 401

        resp, data = request(s, body=b"{}", headers={"Authorization": "Bearer sk-good"})
        assert resp.status == 200
        assert json.loads(data)["object"] == "chat.completion"

        # operational endpoints stay open
        resp, _ = request(s, "GET", "/healthz")
        assert resp.status == 200
        resp, _ = request(s, "GET", "/stats")
        assert resp.status == 200
    finally:
        s.stop()


def test_sigterm_with_suspended_connection_exits_cleanly():
    s = MockServer()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.sendall(chat_head({"x-mock-delay-ms": "60000"}) + b"{}")
        time.sleep(0.3)
        t0 = time.monotonic()
        s.stop()  # asserts exit status 0
        assert time.monotonic() - t0 < 10
    finally:
        sock.close()


def test_fixed_port_and_bad_args(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.run([str(mock_binary()), "--port", "not-a-port"],
                          capture_output=True, timeout=15)
    assert proc.returncode == 2
    s = MockServer("--port", str(port))  # last --port wins
    try:
        assert s.port == port
        resp, _ = request(s, "GET", "/healthz")
        assert resp.status == 200
    finally:
        s.stop()


# --------------------------------------------------------------------------
# concurrency limit (x-mock-max-inflight)
# --------------------------------------------------------------------------

def get_stats(server):
    _, data = request(server, "GET", "/stats")
    return json.loads(data)


def post_control(server, lines):
    resp, data = request(server, path="/_control", body="\n".join(lines).encode())
    assert resp.status == 200
    return json.loads(data)


def wait_stats(server, pred, timeout):
    """Polls /stats until pred(stats) holds; returns (stats, seconds waited)."""
    t0 = time.monotonic()
    while True:
        st = get_stats(server)
        if pred(st):
            return st, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"stats never satisfied the condition: {st}")
        time.sleep(0.01)


def concurrent_requests(server, n, headers):
    """n requests released together; returns [(status, headers, body, secs)]."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        c = server.conn(30)
        try:
            barrier.wait(10)
            t0 = time.monotonic()
            c.request("POST", "/v1/chat/completions", body=b"{}", headers=headers)
            r = c.getresponse()
            data = r.read()
            results[i] = (r.status, dict(r.getheaders()), data, time.monotonic() - t0)
        finally:
            c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results), results
    return results


def test_max_inflight_limit_holds_exactly(fresh_server):
    n_limit, extra, delay = 3, 4, 2.0
    hdrs = {"x-mock-max-inflight": str(n_limit), "x-mock-delay-ms": str(int(delay * 1000)),
            "x-mock-overload-retry-after": "7", "x-mock-retry-after": "99"}
    results = concurrent_requests(fresh_server, n_limit + extra, hdrs)
    rejected = [r for r in results if r[0] == 429]
    served = [r for r in results if r[0] == 200]
    assert len(rejected) == extra and len(served) == n_limit, [r[0] for r in results]
    for status, headers, body, secs in rejected:
        # its own Retry-After, not x-mock-retry-after; at once, not delayed
        assert headers["Retry-After"] == "7"
        err = json.loads(body)["error"]
        assert err["type"] == "rate_limit_error"
        assert err["code"] == "rate_limit_exceeded"
        assert secs < delay * 0.75, secs
    for status, headers, body, secs in served:
        assert secs >= delay
        assert headers["Retry-After"] == "99"
        assert json.loads(body)["object"] == "chat.completion"

    st, _ = wait_stats(fresh_server, lambda s: s["inflight"] == 0, SLACK_S)
    assert st["inflight_peak"] == n_limit
    assert st["overloaded"] == extra
    assert st["requests"] == n_limit + extra

    # The slots came back: a second wave of exactly N is served in full.
    again = concurrent_requests(fresh_server, n_limit,
                                dict(hdrs, **{"x-mock-delay-ms": "300"}))
    assert [r[0] for r in again] == [200] * n_limit
    st, _ = wait_stats(fresh_server, lambda s: s["inflight"] == 0, SLACK_S)
    assert st["inflight_peak"] == n_limit
    assert st["overloaded"] == extra


def test_max_inflight_counts_while_held(fresh_server):
    held = []
    t = threading.Thread(target=lambda: held.append(request(
        fresh_server, headers={"x-mock-delay-ms": "1500"})[0].status))
    t.start()
    st, _ = wait_stats(fresh_server, lambda s: s["inflight"] == 1, SLACK_S)
    assert st["inflight_peak"] == 1
    # A request without a limit is not refused, and is counted too.
    resp, _ = request(fresh_server, headers={"x-mock-delay-ms": "200"})
    assert resp.status == 200
    # A limit of 1 sees the held request; the default Retry-After is 1.
    resp, data = request(fresh_server, headers={"x-mock-max-inflight": "1"})
    assert resp.status == 429
    assert resp.getheader("Retry-After") == "1"
    t.join(15)
    assert held == [200]
    st, _ = wait_stats(fresh_server, lambda s: s["inflight"] == 0, SLACK_S)
    assert st["inflight_peak"] == 2
    assert st["overloaded"] == 1


def test_max_inflight_zero_refuses_before_fail_rate(fresh_server):
    for _ in range(5):
        resp, _ = request(fresh_server, headers={"x-mock-max-inflight": "0",
                                                 "x-mock-fail-rate": "1",
                                                 "x-mock-delay-ms": "5000"})
        assert resp.status == 429
    st = get_stats(fresh_server)
    assert (st["overloaded"], st["failed_by_mix"], st["inflight"]) == (5, 0, 0)
    # /echo is not a chat request: no limit
    resp, data = request(fresh_server, path="/echo", body=b"x",
                         headers={"x-mock-max-inflight": "0"})
    assert (resp.status, data) == (200, b"x")


def test_max_inflight_sticky_with_date_retry_after(fresh_server):
    post_control(fresh_server, ["x-mock-max-inflight: 1",
                                "x-mock-overload-retry-after: date+30"])
    try:
        held = []
        t = threading.Thread(target=lambda: held.append(request(
            fresh_server, headers={"x-mock-delay-ms": "1500"})[0].status))
        t.start()
        wait_stats(fresh_server, lambda s: s["inflight"] == 1, SLACK_S)
        before = time.time()
        resp, data = request(fresh_server)
        assert resp.status == 429
        when = email.utils.parsedate_to_datetime(resp.getheader("Retry-After")).timestamp()
        assert before + 28 <= when <= time.time() + 32
        # the request's own header beats the sticky one
        resp, _ = request(fresh_server, headers={"x-mock-max-inflight": "2"})
        assert resp.status == 200
    finally:
        post_control(fresh_server, [])
    resp, _ = request(fresh_server)  # cleared: no limit while one is held
    assert resp.status == 200
    t.join(15)
    assert held == [200]


def hold_one(server, extra):
    """Opens a raw chat request with x-mock-max-inflight: 1 and waits until
    the mock counts it in flight and refuses a second one."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(chat_head(dict({"x-mock-max-inflight": "1"}, **extra)) + b"{}")
    wait_stats(server, lambda s: s["inflight"] == 1, SLACK_S)
    resp, _ = request(server, headers={"x-mock-max-inflight": "1"})
    assert resp.status == 429
    return sock


def test_max_inflight_slot_released_after_disconnect_mid_delay(fresh_server):
    sock = hold_one(fresh_server, {"x-mock-delay-ms": "30000"})
    sock.close()
    # The suspended socket is watched: the slot comes back at once, not
    # when the 30 s delay ends.
    st, waited = wait_stats(fresh_server, lambda s: s["inflight"] == 0, 10)
    assert waited < SLACK_S
    resp, _ = request(fresh_server, headers={"x-mock-max-inflight": "1"})
    assert resp.status == 200
    assert st["inflight_peak"] == 1


def test_half_close_cuts_a_delay_short(server):
    # Documented: a peer that shuts down its sending side counts as gone,
    # so the wait ends at once; the answer is still written.
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(chat_head({"x-mock-delay-ms": "30000", "Connection": "close"}) + b"{}")
        t0 = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            d = sock.recv(65536)
            if not d:
                break
            data += d
        assert time.monotonic() - t0 < SLACK_S
        assert data.startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


@pytest.mark.parametrize("extra", [
    {"x-mock-stream": "200", "x-mock-chunk-interval-ms": "100"},
    {"x-mock-keepalives": "200", "x-mock-keepalive-interval-ms": "100"},
], ids=["stream", "keepalives"])
def test_max_inflight_slot_released_after_disconnect_mid_stream(fresh_server, extra):
    sock = hold_one(fresh_server, extra)
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    sock.close()
    # Noticed at the next write or two, long before the 20 s of content end.
    _, waited = wait_stats(fresh_server, lambda s: s["inflight"] == 0, 5.0)
    assert waited < SLACK_S
    resp, _ = request(fresh_server, headers={"x-mock-max-inflight": "1"})
    assert resp.status == 200


@pytest.mark.parametrize("extra", [
    {}, {"x-mock-stream": "3"}, {"x-mock-keepalives": "1", "x-mock-keepalive-interval-ms": "1"},
    {"x-mock-status": "503"}, {"x-mock-fail-rate": "1", "x-mock-fail-kinds": "reset"},
    {"x-mock-stream": "3", "x-mock-fail-rate": "1", "x-mock-fail-kinds": "reset"},
], ids=["json", "stream", "keepalives", "error", "reset", "stream-reset"])
def test_max_inflight_client_within_limit_never_refused(fresh_server, extra):
    # Each worker keeps one request open and opens a new connection for the
    # next as soon as it has read the answer (or seen it cut): the mock must
    # have freed the slot by then, so N workers never get a 429.
    n_limit, each = 4, 250
    hdrs = dict({"x-mock-max-inflight": str(n_limit)}, **extra)
    statuses = []

    def worker():
        for _ in range(each):
            c = fresh_server.conn()  # reads exactly the body, not to EOF
            try:
                c.request("POST", "/v1/chat/completions", body=b"{}", headers=hdrs)
                r = c.getresponse()
                try:
                    r.read()
                except (http.client.IncompleteRead, ConnectionError):
                    pass  # a reset kind: the cut is the end, as a client sees it
                statuses.append(r.status)
            finally:
                c.close()

    threads = [threading.Thread(target=worker) for _ in range(n_limit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(statuses) == n_limit * each
    assert 429 not in statuses, statuses.count(429)
    st, _ = wait_stats(fresh_server, lambda s: s["inflight"] == 0, SLACK_S)
    assert st["overloaded"] == 0
    assert st["inflight_peak"] <= n_limit


def test_max_inflight_under_load():
    s = MockServer("--threads", "4")
    try:
        n_limit, workers, each = 5, 24, 15
        counts = {"ok": 0, "429": 0}
        lock = threading.Lock()

        def worker():
            c = s.conn()
            for _ in range(each):
                c.request("POST", "/v1/chat/completions", body=b"{}", headers={
                    "x-mock-max-inflight": str(n_limit), "x-mock-delay-ms": "20"})
                r = c.getresponse()
                r.read()
                assert r.status in (200, 429)
                with lock:
                    counts["ok" if r.status == 200 else "429"] += 1
            c.close()

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        st, _ = wait_stats(s, lambda x: x["inflight"] == 0, SLACK_S)
        assert counts["ok"] + counts["429"] == workers * each
        assert st["overloaded"] == counts["429"] > 0
        assert st["inflight_peak"] == n_limit
        assert st["requests"] == workers * each
    finally:
        s.stop()


# --------------------------------------------------------------------------
# failure mix (x-mock-fail-rate, x-mock-fail-kinds, x-mock-seed)
# --------------------------------------------------------------------------

def splitmix64_at(seed, n):
    """The mock's documented decision function, for exact comparison."""
    m = (1 << 64) - 1
    z = (seed + (n + 1) * 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def expected_outcome(seed, n, p, kinds):
    u = (splitmix64_at(seed, n) >> 11) / 2.0 ** 53
    if not u < p:
        return "ok"
    return kinds[min(len(kinds) - 1, int(u / p * len(kinds)))]


class Outcomes:
    """Sends chat requests on one keep-alive connection (a new one after a
    reset) and classifies each answer as ok, 429, 503 or reset."""

    def __init__(self, server, headers=None):
        self.server = server
        self.headers = headers or {}
        self.c = None

    def one(self):
        if self.c is None:
            self.c = self.server.conn()
        self.c.request("POST", "/v1/chat/completions", body=b"{}", headers=self.headers)
        r = self.c.getresponse()
        try:
            data = r.read()
        except (http.client.IncompleteRead, ConnectionError):
            assert r.status == 200
            self.close()
            return "reset", r
        if r.status == 200:
            assert json.loads(data)["object"] == "chat.completion"
            return "ok", r
        assert r.status in (429, 503), r.status
        err = json.loads(data)["error"]
        assert err["type"] == ("rate_limit_error" if r.status == 429 else "server_error")
        return str(r.status), r

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def test_fail_rate_is_binomial_and_every_kind_occurs(fresh_server):
    p, total, workers = 0.3, 2000, 4
    post_control(fresh_server, [f"x-mock-fail-rate: {p}", "x-mock-retry-after: 3"])
    counts = {"ok": 0, "429": 0, "503": 0, "reset": 0}
    lock = threading.Lock()

    def worker():
        o = Outcomes(fresh_server)
        try:
            for _ in range(total // workers):
                kind, r = o.one()
                assert r.getheader("Retry-After") == "3"
                with lock:
                    counts[kind] += 1
        finally:
            o.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    post_control(fresh_server, [])
    assert sum(counts.values()) == total
    failed = total - counts["ok"]
    # Unseeded, so a real random sample: 4 standard deviations of the
    # binomial, for the total and for each kind (P/3 each).
    sd = (total * p * (1 - p)) ** 0.5
    assert abs(failed - total * p) <= 4 * sd, counts
    pk = p / 3
    sdk = (total * pk * (1 - pk)) ** 0.5
    for kind in ("429", "503", "reset"):
        assert abs(counts[kind] - total * pk) <= 4 * sdk, counts
    st = get_stats(fresh_server)
    assert st["failed_by_mix"] == failed
    assert st["requests"] == total


def test_fail_seed_gives_the_documented_sequence():
    seed, p, n = 987654321, 0.5, 150
    kinds = ["429", "503", "reset"]
    expected = [expected_outcome(seed, i, p, kinds) for i in range(n)]
    assert set(expected) == {"ok", *kinds}

    def run(server, headers=None):
        o = Outcomes(server, headers)
        try:
            return [o.one()[0] for _ in range(n)]
        finally:
            o.close()

    a, b = MockServer(), MockServer()
    try:
        # per-request headers on one, sticky controls on the other
        got_a = run(a, {"x-mock-fail-rate": str(p), "x-mock-seed": str(seed)})
        post_control(b, [f"x-mock-fail-rate: {p}", f"x-mock-seed: {seed}"])
        got_b = run(b)
        assert got_a == expected
        assert got_b == expected
        assert get_stats(b)["failed_by_mix"] == sum(e != "ok" for e in expected)
        # /_stats_reset restarts the sequence
        resp, data = request(b, path="/_stats_reset")
        assert json.loads(data)["failed_by_mix"] == 0
        assert run(b) == expected
        # another seed, another sequence
        assert run(a, {"x-mock-fail-rate": str(p), "x-mock-seed": str(seed + 1)}) != expected
    finally:
        a.stop()
        b.stop()


def test_fail_kinds_restrict_and_weight(server):
    o = Outcomes(server, {"x-mock-fail-rate": "1", "x-mock-fail-kinds": "503"})
    assert {o.one()[0] for _ in range(30)} == {"503"}
    o.close()
    o = Outcomes(server, {"x-mock-fail-rate": "1", "x-mock-fail-kinds": " reset , 429"})
    assert {o.one()[0] for _ in range(60)} == {"reset", "429"}
    o.close()
    # a kind listed twice is picked twice as often (seeded: exact counts)
    seed, n = 42, 300
    kinds = ["429", "429", "503"]
    o = Outcomes(server, {"x-mock-fail-rate": "1", "x-mock-seed": str(seed),
                          "x-mock-fail-kinds": ",".join(kinds)})
    got = [o.one()[0] for _ in range(n)]
    o.close()
    assert 0.55 < got.count("429") / n < 0.78, got.count("429")
    o = Outcomes(server, {"x-mock-fail-rate": "0"})
    assert {o.one()[0] for _ in range(30)} == {"ok"}
    o.close()


def test_fail_reset_cuts_half_the_body(server):
    fail = {"x-mock-fail-rate": "1", "x-mock-fail-kinds": "reset",
            "x-mock-reset-after": "5"}  # overridden by the mix's own cut
    data, _ = raw_exchange(server.port, chat_head(fail), b"{}")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    declared = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
    assert len(body) == declared // 2 > 5

    # a stream of 4 chunks: cut half-way through chunk 2
    data, _ = raw_exchange(server.port, chat_head(dict(fail, **{"x-mock-stream": "4"})), b"{}")
    payload, complete = decode_chunked_prefix(data.partition(b"\r\n\r\n")[2])
    assert not complete
    whole = payload.split(b"\n\n")
    c0, c1, rest = whole[0] + b"\n\n", whole[1] + b"\n\n", b"\n\n".join(whole[2:])
    assert b'"tok0 "' in c0 and b'"tok1 "' in c1 and rest.startswith(b"data: {")
    assert len(rest) == len(c1) // 2  # chunks 1 and 2 have the same length

    # no chunks: [DONE] is cut
    data, _ = raw_exchange(server.port, chat_head(dict(fail, **{"x-mock-stream": "0"})), b"{}")
    assert decode_chunked_prefix(data.partition(b"\r\n\r\n")[2]) == (b"data: [", False)

    # keep-alives go out whole, then half the JSON
    data, _ = raw_exchange(server.port, chat_head(dict(fail, **{"x-mock-keepalives": "2",
                                                                "x-mock-keepalive-interval-ms": "10"})), b"{}")
    payload, complete = decode_chunked_prefix(data.partition(b"\r\n\r\n")[2])
    assert not complete and payload.startswith(b"\n\n{\"id\":")

    # the fail rate is for chat only
    resp, data = request(server, path="/echo", body=b"abc",
                         headers={"x-mock-fail-rate": "1"})
    assert (resp.status, data) == (200, b"abc")


@pytest.mark.parametrize("name,value", [
    ("x-mock-fail-rate", "1.5"), ("x-mock-fail-rate", "-0.1"), ("x-mock-fail-rate", "abc"),
    ("x-mock-fail-rate", "nan"), ("x-mock-fail-rate", "1e-1"), ("x-mock-fail-rate", "."),
    ("x-mock-fail-rate", "0.5x"),
    ("x-mock-fail-kinds", "404"), ("x-mock-fail-kinds", "429,,503"),
    ("x-mock-fail-kinds", "429;503"), ("x-mock-fail-kinds", "429,"),
    ("x-mock-seed", "-1"), ("x-mock-seed", "abc"), ("x-mock-seed", "18446744073709551616"),
    ("x-mock-max-inflight", "-1"), ("x-mock-max-inflight", "many"),
    ("x-mock-overload-retry-after", "date+x"),
])
def test_bad_pressure_controls_are_400(server, name, value):
    resp, data = request(server, headers={name: value})
    assert resp.status == 400
    err = json.loads(data)["error"]
    assert err["type"] == "mock_control_error"
    assert name in err["message"]


# --------------------------------------------------------------------------
# /_stats_reset
# --------------------------------------------------------------------------

def test_stats_reset(fresh_server):
    for _ in range(3):
        resp, _ = request(fresh_server, headers={"x-mock-fail-rate": "1",
                                                 "x-mock-fail-kinds": "503"})
        assert resp.status == 503
    request(fresh_server, headers={"x-mock-max-inflight": "0"})
    st = get_stats(fresh_server)
    assert (st["requests"], st["failed_by_mix"], st["overloaded"]) == (4, 3, 1)
    assert st["inflight_peak"] == 1

    # One request held across the reset: the peak restarts from it.
    held = []
    t = threading.Thread(target=lambda: held.append(request(
        fresh_server, headers={"x-mock-delay-ms": "1000"})[0].status))
    t.start()
    wait_stats(fresh_server, lambda s: s["inflight"] == 1, SLACK_S)
    resp, data = request(fresh_server, path="/_stats_reset")
    assert resp.status == 200
    st = json.loads(data)
    assert st["requests"] == 0 and st["connections"] == 0
    assert st["failed_by_mix"] == 0 and st["overloaded"] == 0
    assert st["inflight"] == 1 and st["inflight_peak"] == 1
    assert st["active_connections"] >= 1  # live, not reset
    t.join(15)
    assert held == [200]
    st, _ = wait_stats(fresh_server, lambda s: s["inflight"] == 0, SLACK_S)
    assert st["requests"] == 0  # the held one was counted before the reset
    request(fresh_server)
    after = get_stats(fresh_server)
    assert after["requests"] == 1 and after["inflight_peak"] == 1
    # that request's connection and this /stats one
    assert after["connections"] == st["connections"] + 2
