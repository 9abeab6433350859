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
