"""Many client features at once, in seeded random order, against the real
sidecar and the real mock upstream (tests/e2e/chaos_client.c says what it
does and checks), while the sidecar's configuration is reloaded under it.
CHAOS_SEED picks other inputs; a failure names its seed."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import Sidecar, binary, run_client, write_config

CHAOS_CLIENT = binary("CHAOS_CLIENT", "tests/e2e/chaos_client")
KINDS = ["call", "echo", "stream", "stream_cancel", "stream_wait", "stream_held", "wait_again", "batch",
         "batch_sliced", "abandon", "poll", "close_busy"]


def chaos_config(mock, spare):
    # Faults are injected per request, so keep the routes' defences from
    # turning them into a slow-down for everyone (breaker, shedding, AIMD
    # at 1, second-long backoffs): what is checked here is correctness.
    # `spare` adds a second route to the same mock, so a reload that drops
    # it retires a route with requests on it.
    routes = [f"  - {{name: mock, endpoint: {mock.url}, weight: 3, concurrency: {{initial: 256, min: 128, max: 256}}}}"]
    if spare:
        routes.append(f"  - {{name: spare, endpoint: {mock.url}, weight: 1, "
                      "concurrency: {initial: 256, min: 128, max: 256}}")
    return ("retries: {attempts: 2, initial_ms: 10, cap_ms: 50}\n"
            "breaker: {failures: 1000}\n"
            "shedding: {min_samples: 100000}\n"
            "routes:\n" + "\n".join(routes) + "\n")


def test_chaos_every_ticket_ends_once_with_its_own_answer(mock, tmp_path):
    config = write_config(tmp_path, chaos_config(mock, spare=True))
    seed = os.environ.get("CHAOS_SEED", "20261127")
    with Sidecar(None, "--config", config) as s:
        p = subprocess.Popen([CHAOS_CLIENT, s.sock, "4", "8", seed], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        reloads = 0
        while p.poll() is None:   # every 0.4 s: drop the spare route, or bring it back
            time.sleep(0.4)
            reloads += 1
            with open(config, "w") as f:
                f.write(chaos_config(mock, spare=reloads % 2 == 0))
            s.proc.send_signal(signal.SIGHUP)
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"seed {seed}: {out}\n{err}"
        res = json.loads(out.strip().splitlines()[-1])
        assert res["failures"] == 0 and res["submitted"] > 500, res
        assert all(res[k] >= 10 for k in KINDS), res   # every kind ran, more than a handful of times
        # the sidecar took every reload and still serves
        time.sleep(0.2)
        log = s.read_log()
        assert log.count("configuration reloaded") >= reloads - 1 and "reload refused" not in log, log[-2000:]
        _, line, _ = run_client(s, "load", 2, 100, "echo")
        assert json.loads(line)["completed"] == 200


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_chaos_sidecar_stopped_midway_every_thread_hears_it_at_once(mock, tmp_path, sig):
    # The same mix, and after 3 s the sidecar is killed, or told to stop
    # (it drains, refusing new requests with RS_ESHUTDOWN, then exits):
    # every waiting call, chunk reader, poller and submitter must then get
    # RS_EGONE (new clients RS_ECONNECT), not wait out its 30 s timeout, and
    # the client must not crash or report anything else.
    config = write_config(tmp_path, chaos_config(mock, spare=False))
    seed = os.environ.get("CHAOS_SEED", "20261127")
    with Sidecar(None, "--config", config) as s:
        p = subprocess.Popen([CHAOS_CLIENT, s.sock, "4", "120", seed, "die"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert p.poll() is None, p.communicate()
        s.proc.send_signal(sig)
        killed = time.monotonic()
        out, err = p.communicate(timeout=60)
        took = time.monotonic() - killed
        assert p.returncode == 0, f"seed {seed}: {out}\n{err}"
        res = json.loads(out.strip().splitlines()[-1])
        assert res["gone"] and res["failures"] == 0 and res["submitted"] > 100, res
        assert took < 20, f"the client took {took:.1f} s to see the sidecar gone"
