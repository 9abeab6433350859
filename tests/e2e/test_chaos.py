"""Many client features at once, in seeded random order, against the real
sidecar and the real mock upstream (tests/e2e/chaos_client.c says what it
does and checks). CHAOS_SEED picks other inputs; a failure names its seed."""
import json
import os
import subprocess

from conftest import Sidecar, binary, run_client, write_config

CHAOS_CLIENT = binary("CHAOS_CLIENT", "tests/e2e/chaos_client")


def test_chaos_every_ticket_ends_once_with_its_own_answer(mock, tmp_path):
    # Faults are injected per request, so keep the route's defences from
    # turning them into a slow-down for everyone (breaker, shedding, AIMD
    # at 1, second-long backoffs): what is checked here is correctness.
    config = write_config(tmp_path, f"""
retries: {{attempts: 2, initial_ms: 10, cap_ms: 50}}
breaker: {{failures: 1000}}
shedding: {{min_samples: 100000}}
routes:
  - name: mock
    endpoint: {mock.url}
    concurrency: {{initial: 256, min: 128, max: 256}}
""")
    seed = os.environ.get("CHAOS_SEED", "20261127")
    with Sidecar(None, "--config", config) as s:
        p = subprocess.run([CHAOS_CLIENT, s.sock, "4", "8", seed], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"seed {seed}: {p.stdout}\n{p.stderr}"
        res = json.loads(p.stdout.strip().splitlines()[-1])
        assert res["failures"] == 0 and res["submitted"] > 500, res
        # every kind of operation ran, more than a handful of times
        kinds = ["call", "echo", "stream", "stream_cancel", "stream_wait", "stream_held", "wait_again",
                 "batch", "poll", "close_busy"]
        assert all(res[k] >= 10 for k in kinds), res
        # and the sidecar still serves
        _, line, _ = run_client(s, "load", 2, 100, "echo")
        assert json.loads(line)["completed"] == 200
