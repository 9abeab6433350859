"""The Python binding (`import ringside`) against a real sidecar and the mock
upstream: every call, every error class, threads and the GIL, streams and
their cancellation, batches, asyncio, large bodies, a sidecar that dies.

Timing assertions are generous liveness bounds, not benchmarks.
"""
import asyncio
import gc
import json
import os
import pydoc
import signal
import threading
import time

import pytest

import harness
import ringside

CHAT = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}


# ------------------------------------------------------------------ basics

def test_version_is_the_builds():
    assert ringside.__version__ == os.environ["RINGSIDE_VERSION"]


def test_echo_round_trip(client):
    r = client.request("POST", "/anything", b"hello ringside", route="echo")
    assert isinstance(r, ringside.Response)
    assert r.status == 200 and r.body == b"hello ringside" and type(r.body) is bytes
    assert r.upstream == "echo" and r.attempts == 0
    assert isinstance(r.timings, ringside.Timings) and r.timings.total_us >= 0
    assert r.ticket > 0 and "echo" in repr(r)


def test_body_kinds(client):
    assert client.request("POST", "/e", "héllo", route="echo").body == "héllo".encode()
    assert client.request("POST", "/e", bytearray(b"ba"), route="echo").body == b"ba"
    assert client.request("POST", "/e", memoryview(b"xmvx")[1:3], route="echo").body == b"mv"
    assert client.request("POST", "/e", {"a": [1, 2]}, route="echo").json() == {"a": [1, 2]}
    assert client.request("POST", "/e", None, route="echo").body == b""
    assert client.request("POST", "/e", route="echo").text == ""


def test_upstream_response_fields(client):
    r = client.request("POST", "/chat/completions", CHAT, headers={"X-Request-Id": "abc-1"}, timeout=30)
    assert r.status == 200 and r.upstream == "default" and r.attempts == 1
    assert r.json()["choices"][0]["message"]["content"] == "echo: abc-1"
    assert r.headers["content-type"].startswith("application/json")
    assert r.header("Content-Type") == r.headers["content-type"]
    assert all(k == k.lower() for k in r.headers)
    assert r.timings.total_us > 0 and r.timings.first_byte_us > 0


def test_chat_helper(client):
    r = client.chat([{"role": "user", "content": "hi"}], headers={"x-request-id": "chat-7"}, max_tokens=8,
                    temperature=0.1, priority=ringside.P0)
    assert r.json()["choices"][0]["message"]["content"] == "echo: chat-7"
    assert r.json()["model"] == "deepseek-chat"
    r = client.chat([], model="deepseek-reasoner")
    assert r.json()["model"] == "deepseek-reasoner"


def test_headers_as_pairs_and_echoed(client):
    r = client.request("POST", "/chat/completions", CHAT,
                       headers=[("x-mock-echo-headers", "1"), ("X-Custom", "v1")])
    seen = r.json()["request_headers"]
    assert seen["x-custom"] == "v1"


def test_client_from_environment(sidecar, monkeypatch):
    monkeypatch.setenv("RINGSIDE_SOCKET", sidecar.sock)
    with ringside.Client() as c:
        assert c.request("POST", "/", b"env", route="echo").body == b"env"
        assert c.socket == sidecar.sock


def test_close_and_closed_client(sidecar):
    c = ringside.Client(sidecar.sock)
    assert not c.closed
    with c:
        pass
    assert c.closed
    c.close()   # idempotent
    with pytest.raises(ringside.ClientClosed, match="closed"):
        c.request("POST", "/", b"", route="echo")


def test_stats(client):
    before = client.stats()
    assert set(before) == {"submitted", "completed", "ring_full", "doorbells", "sleeps", "orphans", "stream_holds"}
    client.request("POST", "/", b"", route="echo")
    after = client.stats()
    assert after["submitted"] == before["submitted"] + 1 and after["completed"] == before["completed"] + 1


def test_help_shows_real_docstrings():
    text = pydoc.render_doc(ringside.Client, renderer=pydoc.plaintext)
    assert "A connection to the ringside sidecar" in text
    assert "Send one request and wait for its answer" in text
    assert "Await a ticket's answer" in text
    assert "deadline" in pydoc.render_doc(ringside.DeadlineExceeded, renderer=pydoc.plaintext)


# ------------------------------------------------------------------ errors

def test_connect_failure_says_what_to_do(tmp_path):
    with pytest.raises(ringside.SidecarUnavailable) as e:
        ringside.Client(str(tmp_path / "nothing.sock"))
    assert e.value.name == "RS_ECONNECT" and "RINGSIDE_SOCKET" in str(e.value)
    assert isinstance(e.value, ConnectionError)


def test_upstream_error_with_status_and_body(client):
    with pytest.raises(ringside.UpstreamError) as e:
        client.request("POST", "/chat/completions", CHAT, headers={"x-mock-status": "400"})
    err = e.value
    assert err.status == 400 and err.code == ringside._rs.RS_EUPSTREAM and "HTTP 400" in str(err)
    assert err.response.status == 400
    assert err.response.json()["error"]["type"] == "invalid_request_error"
    assert not isinstance(err, ringside.RateLimited)


def test_upstream_429_is_rate_limited(fast):
    with pytest.raises(ringside.RateLimited) as e:
        fast.request("POST", "/chat/completions", CHAT, headers={"x-mock-status": "429"})
    assert isinstance(e.value, ringside.UpstreamRateLimited) and isinstance(e.value, ringside.UpstreamError)
    assert isinstance(e.value, ringside.Overloaded) and e.value.status == 429


def test_upstream_5xx(fast):
    with pytest.raises(ringside.UpstreamError) as e:
        fast.request("POST", "/chat/completions", CHAT, headers={"x-mock-status": "503"})
    assert e.value.status == 503 and e.value.response.attempts == 1


def test_unknown_route(client):
    with pytest.raises(ringside.NoRoute) as e:
        client.request("POST", "/chat/completions", CHAT, route="nowhere")
    assert isinstance(e.value, ringside.BadRequest) and "nowhere" in str(e.value) and "echo" in str(e.value)


def test_tiny_deadline(client):
    t0 = time.monotonic()
    with pytest.raises(ringside.DeadlineExceeded) as e:
        client.request("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "5000"}, timeout=0.2)
    assert time.monotonic() - t0 < 4
    assert isinstance(e.value, TimeoutError) and "deadline" in str(e.value)


def test_bad_arguments(client):
    with pytest.raises(ringside.BadRequest, match="path must start"):
        client.request("POST", "no-slash", b"", route="echo")
    with pytest.raises(ringside.BadRequest, match="priority"):
        client.request("POST", "/", b"", route="echo", priority=7)
    with pytest.raises(ringside.BadRequest, match="line break"):
        client.request("POST", "/", b"", route="echo", headers={"x-a": "1\r\nx-b: 2"})
    with pytest.raises(ringside.BadRequest):
        client.request("POST", "/", b"", route="echo", headers={"bad:name": "1"})
    with pytest.raises(ValueError):
        client.request("POST", "/", b"", route="echo", timeout=-1)
    with pytest.raises(TypeError):
        client.request("POST", "/", 12345, route="echo")


def test_too_large(client):
    with pytest.raises(ringside.TooLarge) as e:
        client.request("POST", "/", b"x" * (9 << 20), route="echo")
    assert "ring_bytes" in str(e.value)


def test_shed(mock):
    down = harness.Mock()
    down.control("x-mock-status: 503\n")
    s = harness.Sidecar(config=harness.SHED % down.url)
    try:
        with ringside.Client(s.sock) as c:
            with pytest.raises(ringside.UpstreamError):   # the upstream refuses: shedding starts
                c.request("POST", "/chat/completions", CHAT)
            with pytest.raises(ringside.Shed) as e:
                c.request("POST", "/chat/completions", CHAT, priority=ringside.P1)
            assert "shed" in str(e.value) and isinstance(e.value, ringside.Overloaded)
            # P0 is never shed: it still reaches the (refusing) upstream
            with pytest.raises(ringside.Error) as e0:
                c.request("POST", "/chat/completions", CHAT, priority=ringside.P0, timeout=2)
            assert not isinstance(e0.value, ringside.Shed)
    finally:
        assert not s.stop()
        down.stop()


def test_queue_full(mock):
    s = harness.Sidecar(config=harness.QUEUE % mock.url)
    try:
        with ringside.Client(s.sock) as c:
            results = c.call_batch([{"path": "/chat/completions", "body": CHAT, "priority": ringside.P2}] * 6,
                                   timeout=30)
            full = [r for r in results if isinstance(r, ringside.QueueFull)]
            assert full, results
            assert "priorities.queue.p2" in str(full[0]) and isinstance(full[0], ringside.Overloaded)
    finally:
        assert not s.stop()


def test_upstream_unreachable():
    s = harness.Sidecar(config=harness.FAST % "http://127.0.0.1:9")   # discard port: refused
    try:
        with ringside.Client(s.sock) as c:
            with pytest.raises(ringside.UpstreamUnreachable) as e:
                c.request("POST", "/chat/completions", CHAT, timeout=10)
            assert e.value.name == "RS_ECONNUP" and isinstance(e.value, ringside.UpstreamError)
    finally:
        assert not s.stop()


def test_wait_timeout_then_wait_again(client):
    t = client.submit("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "400"})
    with pytest.raises(ringside.WaitTimeout) as e:
        client.wait(t, timeout=0.05)
    assert isinstance(e.value, TimeoutError) and e.value.ticket == t
    assert client.wait(t, timeout=10).status == 200


def test_unknown_ticket(client):
    t = client.submit("POST", "/", b"", route="echo")
    client.wait(t)
    with pytest.raises(ringside.UnknownTicket):
        client.wait(t)
    with pytest.raises(ringside.UnknownTicket):
        client.wait(12345678, timeout=0)


def test_cancel(client):
    t = client.submit("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "5000"})
    time.sleep(0.1)
    t0 = time.monotonic()
    client.cancel(t)
    with pytest.raises(ringside.Cancelled) as e:
        client.wait(t, timeout=10)
    assert time.monotonic() - t0 < 3 and e.value.ticket == t


def test_every_code_has_a_class_and_a_message():
    codes = [v for k, v in vars(ringside._rs).items() if k.startswith("RS_E") and isinstance(v, int)]
    assert len(codes) >= 23
    for code in codes:
        e = ringside._make_error(code, "")
        assert isinstance(e, ringside.Error) and e.code == code
        assert ringside._rs.errname(code) in str(e) and len(str(e)) > 20
        assert type(e) is not ringside.Error, f"{e.name} has no class of its own"


def test_sidecar_killed_mid_call(victim):
    c = ringside.Client(victim.sock)
    killer = threading.Timer(0.5, victim.kill)
    killer.start()
    t0 = time.monotonic()
    with pytest.raises(ringside.SidecarUnavailable) as e:
        c.request("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "8000"})
    assert time.monotonic() - t0 < 5, "the wait hung after the sidecar died"
    killer.join()
    assert e.value.name == "RS_EGONE" and "reconnect" in str(e.value)
    with pytest.raises(ringside.SidecarUnavailable):
        c.request("POST", "/", b"", route="echo")
    # A new client fails too. Right after the crash the kernel may still be
    # tearing down the dead sidecar's io_uring, which holds its listening
    # socket: a connect then reaches it and is dropped without a welcome
    # (the core library calls that RS_EPROTO). Soon the socket refuses.
    for _ in range(100):
        with pytest.raises(ringside.Error) as e:
            ringside.Client(victim.sock)
        if not isinstance(e.value, ringside.ProtocolError):
            break
        time.sleep(0.05)
    assert isinstance(e.value, ringside.SidecarUnavailable), e.value
    c.close()


def test_shutting_down(victim):
    c = ringside.Client(victim.sock)
    t = c.submit("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "1000"})
    time.sleep(0.2)
    victim.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(ringside.ShuttingDown) as e:
        c.request("POST", "/chat/completions", CHAT)
    assert isinstance(e.value, ringside.SidecarUnavailable)
    assert c.wait(t, timeout=10).status == 200   # in flight: finished within the grace period
    c.close()


# ---------------------------------------------------------- submit / poll

def test_submit_and_poll(client):
    tickets = {client.submit("POST", "/", f"n{i}".encode(), route="echo") for i in range(20)}
    got = {}
    deadline = time.monotonic() + 10
    while len(got) < 20 and time.monotonic() < deadline:
        for r in client.poll(max=8, timeout=1):
            assert isinstance(r, ringside.Response)
            got[r.ticket] = r.body
    assert set(got) == tickets
    assert sorted(got.values()) == sorted(f"n{i}".encode() for i in range(20))
    assert client.poll(timeout=0) == []


def test_poll_returns_errors_as_values(fast):
    t = fast.submit("POST", "/chat/completions", CHAT, headers={"x-mock-status": "404"})
    out = []
    deadline = time.monotonic() + 10
    while not out and time.monotonic() < deadline:
        out = fast.poll(timeout=1)
    assert len(out) == 1 and isinstance(out[0], ringside.UpstreamError) and out[0].ticket == t


# ----------------------------------------------------------------- batches

def test_submit_batch(client):
    items = [("POST", "/", f"b{i}".encode()) for i in range(10)]
    tickets = client.submit_batch([{"method": m, "path": p, "body": b, "route": "echo"} for m, p, b in items])
    assert len(tickets) == 10 and all(isinstance(t, int) for t in tickets)
    assert [client.wait(t).body for t in tickets] == [b for _, _, b in items]


def test_submit_batch_refusal_is_per_item(client):
    out = client.submit_batch([{"path": "/", "route": "echo"}, {"path": "/", "body": b"x" * (9 << 20),
                                                                 "route": "echo"}])
    assert isinstance(out[0], int) and isinstance(out[1], ringside.TooLarge)
    client.wait(out[0])


def test_call_batch_in_order_with_errors(client):
    results = client.call_batch([
        {"path": "/", "body": b"first", "route": "echo"},
        {"path": "/chat/completions", "body": CHAT, "route": "nowhere"},
        {"path": "/chat/completions", "body": CHAT, "headers": {"x-mock-status": "401"}},
        ("POST", "/", b"fourth"),
        {"path": "/chat/completions", "body": CHAT, "headers": {"x-request-id": "fifth"}, "priority": 0},
    ], timeout=30)
    assert results[0].body == b"first"
    assert isinstance(results[1], ringside.NoRoute)
    assert isinstance(results[2], ringside.UpstreamError) and results[2].status == 401
    assert results[3].status == 200   # default route (the mock answers anything)
    assert results[4].json()["choices"][0]["message"]["content"] == "echo: fifth"


def test_call_batch_timeout_cancels_the_rest(client):
    t0 = time.monotonic()
    results = client.call_batch([{"path": "/", "route": "echo"}] +
                                [{"path": "/chat/completions", "body": CHAT,
                                  "headers": {"x-mock-delay-ms": "5000"}}] * 3, timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert isinstance(results[0], ringside.Response)
    assert all(isinstance(r, ringside.WaitTimeout) for r in results[1:]), results
    # the abandoned tickets are collected later: the client goes on working
    for _ in range(50):
        client.request("POST", "/", b"", route="echo")


def test_call_batch_larger_than_the_ring(client):
    # 40 × 1 MiB do not fit an 8 MiB ring at once: resubmitted as room frees
    body = os.urandom(1 << 20)
    results = client.call_batch([{"path": "/", "body": body, "route": "echo"}] * 40, timeout=60)
    assert all(isinstance(r, ringside.Response) and r.body == body for r in results)


# ----------------------------------------------------------------- threads

def test_eight_threads_share_one_client(client):
    errors = []

    def work(k):
        try:
            for i in range(1000):
                body = f"{k}:{i}".encode()
                r = client.request("POST", "/", body, route="echo")
                if r.body != body:
                    errors.append((k, i, r.body))
        except Exception as e:   # noqa: BLE001 — reported below
            errors.append(e)

    before = client.stats()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors[:5]
    after = client.stats()
    assert after["completed"] - before["completed"] == 8000 and after["orphans"] == before["orphans"]


def test_wait_releases_the_gil(client):
    done = threading.Event()

    def slow():
        client.request("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "1500"})
        done.set()

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    n, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 0.5:
        n += 1
    assert not done.is_set(), "the request should still be waiting"
    assert n > 20000, f"this thread only ran {n} loops while the other waited"
    th.join(10)
    assert done.is_set()


def test_ctrl_c_interrupts_a_wait(client):
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.request("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "5000"})
    assert time.monotonic() - t0 < 2
    assert client.request("POST", "/", b"after", route="echo").body == b"after"


def test_ctrl_c_interrupts_a_batch_and_its_requests_are_cancelled(client):
    before = client.stats()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.call_batch([{"path": "/chat/completions", "body": CHAT,
                            "headers": {"x-mock-delay-ms": "5000"}}] * 4)
    assert time.monotonic() - t0 < 2
    # abandoned: cancelled at once (not after the 5 s), never seen by poll
    deadline = time.monotonic() + 3
    while client.stats()["completed"] - before["completed"] < 4 and time.monotonic() < deadline:
        assert client.poll(timeout=0.05) == []
    assert client.stats()["completed"] - before["completed"] == 4
    assert client.request("POST", "/", b"after", route="echo").body == b"after"


def test_close_from_another_thread_wakes_the_waiter(sidecar):
    c = ringside.Client(sidecar.sock)
    threading.Timer(0.3, c.close).start()
    t0 = time.monotonic()
    with pytest.raises(ringside.ClientClosed):
        c.request("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "5000"})
    assert time.monotonic() - t0 < 2


# ----------------------------------------------------------------- streams

def test_stream_in_full(client):
    s = client.chat([], stream=True, headers={"x-mock-stream": "12"})
    chunks = list(s)
    assert [c.seq for c in chunks] == list(range(13))
    assert chunks[-1].done and not chunks[0].done
    assert "".join(c.delta for c in chunks) == "".join(f"tok{i} " for i in range(12))
    assert chunks[0].json()["object"] == "chat.completion.chunk"
    assert s.response.status == 200 and s.response.body == b"" and s.error is None
    assert all(type(c.data) is bytes and c.sidecar_ns > 0 for c in chunks)


def test_stream_text_helper(client):
    with client.stream(body={**CHAT, "stream": True}, headers={"x-mock-stream": "4"}) as s:
        assert s.text() == "tok0 tok1 tok2 tok3 "


def test_stream_close_early_cancels(client):
    t0 = time.monotonic()
    with client.chat([], stream=True, headers={"x-mock-stream": "1000", "x-mock-chunk-interval-ms": "10"}) as s:
        got = [next(s) for _ in range(3)]
    assert [c.seq for c in got] == [0, 1, 2]
    assert isinstance(s.error, ringside.Cancelled), s.error
    assert time.monotonic() - t0 < 5   # the whole stream would take 10 s


def test_stream_break_cancels(client):
    before = client.stats()
    for chunk in client.chat([], stream=True, headers={"x-mock-stream": "1000", "x-mock-chunk-interval-ms": "10"}):
        if chunk.seq == 2:
            break
    gc.collect()
    # the abandoned stream is cancelled and collected: its slot comes back
    for _ in range(20):
        client.request("POST", "/", b"", route="echo")
        time.sleep(0.05)
    assert client.stats()["completed"] - before["completed"] == 21


def test_stream_interrupted(fast):
    s = fast.chat([], stream=True, headers={"x-mock-stream": "50", "x-mock-reset-after": "1500"})
    got = []
    with pytest.raises(ringside.StreamInterrupted) as e:
        for chunk in s:
            got.append(chunk)
    assert got and isinstance(e.value, ringside.UpstreamError) and s.error is e.value


def test_stream_of_a_submitted_ticket(client):
    t = client.submit("POST", "/chat/completions", {**CHAT, "stream": True}, headers={"x-mock-stream": "3"},
                      stream=True)
    assert len(list(client.stream_of(t))) == 4


def test_unread_stream_is_held_while_other_requests_go_on(client):
    # ~7 MiB of events nobody reads for now: the client library holds the
    # stream at the sidecar once 256 KiB are unread, the calls go through,
    # and the stream is whole when read
    before = client.stats()["stream_holds"]
    s = client.chat([], stream=True, headers={"x-mock-stream": "40000"})
    # calls go through until (and after) the hold: 50 calls at least, and
    # as many as it takes the stream to get 256 KiB ahead (liveness bound)
    deadline = time.monotonic() + 30
    i = 0
    while i < 50 or (client.stats()["stream_holds"] == before and time.monotonic() < deadline):
        assert client.request("POST", "/", str(i).encode(), route="echo").body == str(i).encode()
        i += 1
    assert client.stats()["stream_holds"] > before
    chunks = list(s)
    assert [c.seq for c in chunks] == list(range(40001)) and chunks[-1].done


def test_stream_error_before_any_chunk(client):
    with pytest.raises(ringside.UpstreamError) as e:
        list(client.chat([], stream=True, headers={"x-mock-status": "400"}))
    assert e.value.status == 400


# ------------------------------------------------------------ big bodies

def test_four_mib_body_echo_route(client):
    body = os.urandom(4 << 20)
    r = client.request("POST", "/", body, route="echo", timeout=60)
    assert r.body == body


def test_four_mib_body_through_the_upstream(client):
    body = os.urandom(4 << 20)
    r = client.request("POST", "/echo", body, headers={"content-type": "application/octet-stream"}, timeout=60)
    assert r.status == 200 and r.body == body and r.upstream == "default"


# ----------------------------------------------------------------- asyncio

def run_ticking(make_awaitable):
    """asyncio.run the awaitable make_awaitable() returns, beside a task
    that ticks every 10 ms; return its result and the ticks (a blocked loop
    does not tick)."""
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick = asyncio.create_task(ticker())
        result = await make_awaitable()
        tick.cancel()
        return result, ticks

    return asyncio.run(main())


def test_wait_async(client):
    def waits():
        tickets = [client.submit("POST", "/chat/completions", CHAT,
                                 headers={"x-mock-delay-ms": str(100 * (i % 3)), "x-request-id": f"a{i}"})
                   for i in range(6)]
        return asyncio.gather(*(client.wait_async(t, timeout=10) for t in tickets))

    results, ticks = run_ticking(waits)
    assert [r.json()["choices"][0]["message"]["content"] for r in results] == [f"echo: a{i}" for i in range(6)]
    assert ticks >= 5, "the event loop was blocked while awaiting"


def test_wait_async_timeout_and_errors(client):
    async def main():
        t = client.submit("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "800"})
        with pytest.raises(ringside.WaitTimeout):
            await client.wait_async(t, timeout=0.1)
        r = await client.wait_async(t, timeout=10)
        assert r.status == 200
        t = client.submit("POST", "/chat/completions", CHAT, headers={"x-mock-status": "400"})
        with pytest.raises(ringside.UpstreamError):
            await client.wait_async(t, timeout=10)

    asyncio.run(main())


def test_async_for_over_many_streams_at_once(client):
    # three paced streams read concurrently on one event loop, which keeps
    # ticking meanwhile: no thread is blocked in a read. 5 rounds: when each
    # task armed the event fd for itself, one could swallow the doorbell
    # another waited for, and a round hung in 16 of 40 runs.
    async def read(n):
        got = []
        async with client.chat([], stream=True, headers={"x-mock-stream": str(n),
                                                          "x-mock-chunk-interval-ms": "5"}) as s:
            async for chunk in s:
                got.append(chunk.seq)
        assert s.response.status == 200 and s.error is None
        return got

    for _ in range(5):
        results, ticks = run_ticking(lambda: asyncio.wait_for(asyncio.gather(read(20), read(30), read(40)), 20))
        assert results == [list(range(21)), list(range(31)), list(range(41))]
        assert ticks >= 10, "the event loop was blocked while streaming"


def test_async_stream_closed_early_is_cancelled_and_errors_raise(client):
    async def main():
        t0 = time.monotonic()
        async with client.chat([], stream=True, headers={"x-mock-stream": "1000",
                                                          "x-mock-chunk-interval-ms": "10"}) as s:
            async for chunk in s:
                if chunk.seq == 2:
                    break
        assert isinstance(s.error, ringside.Cancelled), (s.error, s.response)
        assert time.monotonic() - t0 < 5   # the whole stream would take 10 s
        with pytest.raises(ringside.UpstreamError) as e:
            async for _ in client.chat([], stream=True, headers={"x-mock-status": "400"}):
                pass
        assert e.value.status == 400

    asyncio.run(main())


def test_a_threads_timed_out_wait_does_not_strand_an_asyncio_waiter(client):
    # A task awaits an answer due in 400 ms; meanwhile a thread's blocking
    # wait on another ticket times out. That thread's wait used to clear
    # the ring's wake-me flag the task's arming had set, so the answer came
    # without a doorbell and the task waited out its own timeout.
    slow = client.submit("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "600000"})

    async def main():
        loop = asyncio.get_running_loop()
        t = client.submit("POST", "/chat/completions", CHAT, headers={"x-mock-delay-ms": "400"})

        def timed_out_wait():
            with pytest.raises(ringside.WaitTimeout):
                client.wait(slow, timeout=0.05)

        async def thread_waits():
            await asyncio.sleep(0.1)
            await loop.run_in_executor(None, timed_out_wait)

        r, _ = await asyncio.gather(client.wait_async(t, timeout=5), thread_waits())
        return r

    t0 = time.monotonic()
    assert asyncio.run(main()).status == 200
    # stranded, it finds the answer only when its 5 s are up and it looks once more
    assert time.monotonic() - t0 < 3
    client.cancel(slow)
    with pytest.raises(ringside.Cancelled):
        client.wait(slow, timeout=5)


def test_event_fd_for_other_loops(client):
    import select
    fd = client.event_fd()
    assert fd >= 0
    t = client.submit("POST", "/", b"fd", route="echo")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert client.wait(t, timeout=0).body == b"fd"
            break
        except ringside.WaitTimeout:
            if not client.arm_event_fd():
                select.select([fd], [], [], 0.5)
    else:
        pytest.fail("no answer through the event fd")


def test_json_error_body_on_exception(fast):
    with pytest.raises(ringside.UpstreamError) as e:
        fast.request("POST", "/chat/completions", CHAT, headers={"x-mock-status": "422"})
    assert json.loads(e.value.response.body)["error"]
