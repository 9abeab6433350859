"""A hostile client never crashes, stalls or slows the sidecar or another
client: hostile_client writes its submission ring by hand (legal and
illegal contents) while an honest client keeps making calls beside it."""
import json
import os
import subprocess
import time

import pytest

from conftest import E2E_CLIENT, Sidecar, binary

HOSTILE_CLIENT = binary("HOSTILE_CLIENT", "tests/e2e/hostile_client")


def hostile(sidecar, *args, timeout=120):
    p = subprocess.run([HOSTILE_CLIENT, args[0], sidecar.sock, *map(str, args[1:])],
                       capture_output=True, text=True, timeout=timeout)
    out = p.stdout.strip().splitlines()
    return p.returncode, json.loads(out[-1]) if out else {}, p.stderr


def with_honest_neighbour(sidecar, fn, calls=3000):
    """Run fn() while an honest client makes echo calls from 2 threads;
    the neighbour must finish with every call answered correctly."""
    honest = subprocess.Popen([E2E_CLIENT, "load", sidecar.sock, "2", str(calls), "echo"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        result = fn()
    finally:
        out, err = honest.communicate(timeout=120)
    assert honest.returncode == 0, out + err
    res = json.loads(out.strip().splitlines()[-1])
    assert res["failures"] == 0 and res["submitted"] == res["completed"] == 2 * calls, res
    return result


def test_garbage_payloads_get_error_completions_and_others_keep_working(sidecar):
    rc, res, err = with_honest_neighbour(sidecar, lambda: hostile(sidecar, "scribble", "frames", 1))
    assert rc == 0, (res, err)
    assert res["badreq"] == res["frames"] == 200 and res["hung_up"] is False, res
    assert sidecar.alive()


def test_random_bytes_over_submission_ring_give_corrupt_error_then_disconnect(sidecar):
    for seed in range(1, 6):
        rc, res, err = hostile(sidecar, "scribble", "sqdata", seed)
        assert rc == 0, (res, err)
        assert res["corrupt"] == 1 and res["hung_up"] is True, res
    assert sidecar.alive()


def test_random_bytes_over_whole_region_never_hurt_the_sidecar(sidecar):
    def scribbles():
        for seed in range(1, 11):
            rc, res, err = hostile(sidecar, "scribble", "all", seed)
            assert rc == 0 and res["hung_up"], (res, err)
    with_honest_neighbour(sidecar, scribbles)
    assert sidecar.alive()
    assert "corrupt" in sidecar.read_log()


@pytest.mark.parametrize("ring_bytes", [None, 1 << 18, 1 << 25])
def test_a_full_lap_of_padded_cancels_is_handed_back_and_the_client_still_served(mock, ring_bytes):
    # Issue #12's reproduction: head - tail = capacity exactly, well-formed
    # CANCEL records padded with a trailing bin field, one doorbell. The
    # sidecar used to read the lap again (its frames not yet zeroed) and
    # then zero a span longer than the ring: SIGSEGV, or an ASan
    # heap-buffer-overflow in rs__ring_release.
    extra = ("--ring-bytes", str(ring_bytes)) if ring_bytes else ()
    with Sidecar(mock.url, *extra) as s:
        for _ in range(3):
            rc, res, err = with_honest_neighbour(s, lambda: hostile(s, "lap"))
            assert rc == 0, (res, err, s.read_log()[-2000:])
            assert res["handed_back"] and res["echoed"] and not res["hung_up"], res
            assert res["records"] * res["record_bytes"] == res["ring_bytes"], res
        assert s.alive()


def test_a_record_running_past_the_released_lap_is_corruption(sidecar):
    # No producer can reserve beyond tail + capacity, so a frame whose
    # record would end there means the framing is lost: RS_ECORRUPT, then
    # the client is dropped. The sidecar must not read its own consumed
    # (not yet zeroed) records as the rest of it.
    rc, res, err = with_honest_neighbour(sidecar, lambda: hostile(sidecar, "overrun"))
    assert rc == 0, (res, err)
    assert res["completion"] == "RS_ECORRUPT" and res["hung_up"], res
    assert "framing corrupt" in res["message"], res
    assert sidecar.alive()


def test_an_impossible_completion_ring_tail_drops_only_that_client(sidecar):
    rc, res, err = with_honest_neighbour(sidecar, lambda: hostile(sidecar, "cqtail"))
    assert rc == 0, (res, err)
    assert res["hung_up"], res
    assert "completion ring tail corrupted" in sidecar.read_log()
    assert sidecar.alive()


@pytest.mark.parametrize("ring_bytes,wraps", [(1 << 18, 300), (1 << 20, 60)])
def test_records_that_straddle_the_rings_end_arrive_whole(mock, ring_bytes, wraps):
    # a request straddles the end about once a lap: 60 laps of 1 MiB are
    # ~14,000 requests
    with Sidecar(mock.url, "--ring-bytes", str(ring_bytes)) as s:
        for seed in (1, 2):
            rc, res, err = hostile(s, "wrap", seed, wraps)
            assert rc == 0, (res, err)
            assert res["wrapped"] >= wraps and res["wrong"] == 0, res
            assert res["answered"] == res["requests"], res


def test_what_bypasses_the_client_library_is_refused_naming_the_limit(mock):
    with Sidecar(mock.url, "--ring-bytes", str(1 << 18)) as s:
        rc, res, err = hostile(s, "limits")
        assert rc == 0, err
        assert res["header_100k"] == {"error": "RS_EBADREQ", "detail":
                                      "a header name or value is not a string of at most 65536 bytes"}, res
        assert res["headers_80k"]["error"] == "RS_EBADREQ", res
        assert "over 65536 bytes together" in res["headers_80k"]["detail"], res
        assert res["path_9000"]["error"] == "RS_EBADREQ" and "at most 8192 bytes" in res["path_9000"]["detail"]
        assert res["body_over_ring"] == {"error": "RS_E2BIG", "detail": "body larger than the submission ring: "
                                         "262145 bytes, the ring holds 262144 (ring_bytes)"}, res
        assert s.alive()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


def test_a_request_waiting_for_the_inflight_cap_does_not_keep_the_loop_spinning(mock):
    # with every slot taken by slow requests, one more waits in the ring;
    # the loop used to see it as news on every look and never slept
    with Sidecar(mock.url, "--max-inflight", "4") as s:
        p = subprocess.Popen([HOSTILE_CLIENT, "capped", s.sock, "4", "3000"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.5)
        before = cpu_seconds(s.pid)
        time.sleep(1.5)
        used = cpu_seconds(s.pid) - before
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, out + err
        assert json.loads(out.strip().splitlines()[-1])["answered"] == 5
        assert used < 0.5, f"the sidecar used {used:.2f} s of CPU in 1.5 s while a record waited for the cap"
