"""End-to-end streaming and batching: SSE events through the ring as they
arrive, backpressure, cancellation, batch calls — real sidecar, real mock
upstream, real C clients."""
import json
import subprocess
import time

from conftest import E2E_CLIENT, Sidecar, fill_while_stopped, mock_requests, run_client, write_config


def rss_kib(sidecar):
    with open(f"/proc/{sidecar.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def stream(sidecar, n, read_delay_us=0, cancel_at=0, headers=(), popen=False):
    args = [E2E_CLIENT, "stream", sidecar.sock, str(n), str(read_delay_us), str(cancel_at), *headers]
    if popen:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def active_connections(mock):
    import urllib.request
    with urllib.request.urlopen(f"{mock.url}/stats", timeout=10) as r:
        return json.loads(r.read())["active_connections"]


def test_ten_thousand_chunk_stream_arrives_complete_and_in_order(sidecar):
    before = rss_kib(sidecar)
    res = stream(sidecar, 10000)
    # 10,000 events and the final [DONE], each its own chunk, in order
    assert res["chunks"] == 10001 and res["in_order"] and res["done"], res
    assert res["error"] == "RS_OK" and res["status"] == 200 and res["body_len"] == 0
    assert rss_kib(sidecar) - before < 64 * 1024


def test_slow_reader_keeps_sidecar_memory_bounded(sidecar):
    # ~20,000 events read at most 5,000/s: the sidecar must pause the
    # upstream transfer instead of buffering the rest
    before = rss_kib(sidecar)
    p = stream(sidecar, 20000, read_delay_us=200, popen=True)
    peak = before
    while p.poll() is None:
        peak = max(peak, rss_kib(sidecar))
        time.sleep(0.05)
    res = json.loads(p.communicate()[0].strip().splitlines()[-1])
    assert res["chunks"] == 20001 and res["in_order"] and res["error"] == "RS_OK", res
    assert peak - before < 32 * 1024, f"sidecar grew {peak - before} KiB"


def test_keepalives_before_content_are_not_chunks(sidecar):
    res = stream(sidecar, 5, headers=["x-mock-keepalives:5", "x-mock-keepalive-interval-ms:20"])
    assert res["chunks"] == 6 and res["in_order"] and not res["keepalive_seen"], res
    assert res["error"] == "RS_OK"


def test_reset_mid_stream_is_interrupted_after_the_chunks_already_sent(sidecar, mock):
    before = mock_requests(mock)
    res = stream(sidecar, 1000, headers=["x-mock-reset-after:3000"])
    assert res["error"] == "RS_EINTERRUPTED" and res["chunks"] > 0 and not res["done"], res
    assert "interrupted after" in res["msg"]
    # content had been delivered: never retried
    assert res["attempts"] == 1 and mock_requests(mock) - before == 1


def test_cancel_mid_stream_ends_with_cancelled_and_releases_the_connection(sidecar, mock):
    baseline = active_connections(mock)
    res = stream(sidecar, 1000, cancel_at=10, headers=["x-mock-chunk-interval-ms:20"])
    assert res["error"] == "RS_ECANCELLED" and 10 <= res["chunks"] < 1000, res
    deadline = time.monotonic() + 5
    while active_connections(mock) > baseline:
        assert time.monotonic() < deadline, "the upstream connection was not released"
        time.sleep(0.05)


def test_slow_reading_client_does_not_stall_a_fast_one(sidecar):
    slow = stream(sidecar, 20000, read_delay_us=300, popen=True)
    time.sleep(0.5)
    t0 = time.monotonic()
    rc, line, _ = run_client(sidecar, "load", 2, 1000, "")
    fast_s = time.monotonic() - t0
    assert json.loads(line)["completed"] == 2000
    assert slow.poll() is None, "the slow stream should still be running"
    assert fast_s < 5, fast_s
    res = json.loads(slow.communicate(timeout=120)[0].strip().splitlines()[-1])
    assert res["chunks"] == 20001 and res["in_order"] and res["error"] == "RS_OK", res


def test_unread_stream_is_held_and_does_not_stall_the_clients_other_requests(mock):
    # One client, one stream of ~10 MiB it does not read, then 200 plain
    # calls on the same client. With small rings (1 MiB) and a 4 MiB
    # client buffer, the stream's events alone would fill both and leave
    # the calls' answers stuck behind them; held at 256 KiB unread, it
    # only waits for its own reader. Then it is read to its end, with a
    # call after every 100 chunks: each call reaps the ring and brings in
    # more of the stream than the reader took, so it is held and let go
    # again and again.
    with Sidecar(mock.url, "--ring-bytes", str(1 << 20)) as s:
        rc, line, _ = run_client(s, "heldstream", 60000, 200, 0, timeout=120,
                                 env={"RINGSIDE_CHUNK_BUFFER": str(4 << 20),
                                      "RINGSIDE_STREAM_WINDOW": str(256 << 10)})
    res = json.loads(line)
    assert res["calls_ok"] == 200 + 600, res
    assert res["stream_holds"] >= 3, res
    assert res["rss_growth_kib"] < 12 * 1024, res
    assert res["chunks"] == 60001 and res["in_order"] and res["done"] and res["error"] == "RS_OK", res


def test_a_held_stream_is_not_ended_by_the_idle_timeout(mock, tmp_path):
    # held for 2.5 s with a 600 ms idle timeout: the silence is the
    # sidecar's own doing, so the stream must go on when it is read
    config = write_config(tmp_path, f"timeouts: {{idle_ms: 600}}\nroutes:\n  - {{name: only, endpoint: {mock.url}}}\n")
    with Sidecar(None, "--config", config, "--ring-bytes", str(1 << 20)) as s:
        rc, line, _ = run_client(s, "heldstream", 30000, 10, 2500, timeout=120,
                                 env={"RINGSIDE_CHUNK_BUFFER": str(4 << 20)})
    res = json.loads(line)
    assert res["calls_ok"] == 10 + 300 and res["stream_holds"] >= 1, res
    assert res["chunks"] == 30001 and res["in_order"] and res["done"] and res["error"] == "RS_OK", res


def test_a_held_stream_does_not_hold_its_routes_last_concurrency_slot(mock, tmp_path):
    # The route's concurrency is 1 (as AIMD leaves it after a run of 429s)
    # and that one slot is taken by a stream its reader has stopped
    # reading. Held, it no longer counts against the limit: the calls go
    # through (before, each waited out its 10 s deadline behind it).
    config = write_config(tmp_path, "routes:\n"
                          f"  - {{name: only, endpoint: {mock.url}, concurrency: {{initial: 1, min: 1, max: 1}}}}\n")
    with Sidecar(None, "--config", config, "--ring-bytes", str(1 << 20)) as s:
        rc, line, _ = run_client(s, "heldstream", 30000, 20, 0, timeout=120,
                                 env={"RINGSIDE_CHUNK_BUFFER": str(4 << 20)})
    res = json.loads(line)
    assert res["stream_holds"] >= 1, res
    assert res["calls_ok"] == 20 + 300 and res["worst_call_ms"] < 5000, res
    assert res["chunks"] == 30001 and res["in_order"] and res["done"] and res["error"] == "RS_OK", res


def test_rs_wait_on_a_held_stream_drops_its_chunks_and_lets_it_end(sidecar):
    # read one chunk, fall 256 KiB behind (held), then only rs_wait: the
    # chunks nobody will read go, the stream goes on to its end
    rc, line, _ = run_client(sidecar, "heldwait", 60000, timeout=120)
    res = json.loads(line)
    assert res["error"] == "RS_OK" and res["wait_ms"] < 20000, res


def test_a_held_streams_release_that_finds_the_ring_full_is_sent_later(sidecar):
    # The stream is held; with the sidecar stopped, the client fills its
    # submission ring with requests the mock answers only after 20 s (and
    # the last bytes with cancels that get no answer), then reads the
    # stream's chunks, so the release finds no room. Nothing will arrive
    # for 20 s: the sidecar must tell the client when there is room
    # (PRODUCER_WAITING), or the stream stays held that long.
    words, last = fill_while_stopped(sidecar, "heldfull", 20000)
    assert words[0] == "full" and int(words[1]) > 50 and int(words[3]) > 0 and int(words[5]) > 0, words
    res = json.loads(last)
    assert res["chunks"] == 20001 and res["in_order"] and res["done"] and res["error"] == "RS_OK", res
    assert res["stream_ms_after_go"] < 10000, res   # not held until the slow ones answered
    assert res["fills_ended"] == res["fills"], res


def test_batch_of_a_thousand_with_mixed_outcomes_returns_them_in_order(sidecar):
    rc, line, _ = run_client(sidecar, "callbatch", 1000)
    res = json.loads(line)
    assert res["right"] == 1000 and res["submitted"] == res["completed"] == 1000, res


def test_a_batch_run_in_one_millisecond_slices_gives_the_answers_of_one_call(mock):
    # 64 slots for 1000 requests: both runs resubmit as answers make room
    with Sidecar(mock.url, "--max-inflight", "64") as s:
        rc, line, _ = run_client(s, "slicedbatch", 1000)
        res = json.loads(line)
        assert res["right_call"] == res["right_sliced"] == res["same"] == 1000, res
        assert res["slices"] > 1 and res["taken_twice"] == 0, res
        # a batch freed with its (30 s) items in flight cancels them
        assert res["freed_slots_back_ms"] < 10000 and res["surfaced"] == 0, res
        assert res["submitted"] == res["completed"], res
