"""The official OpenAI SDK (npm `openai`, run with node) pointed at the
front door with a virtual key as its api_key: a chat completion, a stream
read chunk by chunk, an error mapped to the SDK's error class with its
status, and an abort mid-stream that cancels the upstream transfer (the mock
sees its request end). The kit is installed by tests/run.sh
(tests/frontdoor/sdk/install.sh); a missing kit fails the test."""
import os
import sys

from conftest import Sidecar, mock_control, write_config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "frontdoor", "sdk"))
from run_sdk import kit_problem, run_sdk_check  # noqa: E402

TOKEN = "vk-sdk-test-token"


def metric(s, name):
    page = s.http("/metrics")[1]
    return sum(float(ln.split()[-1]) for ln in page.splitlines() if ln.startswith(name))


def test_the_openai_sdk_works_unchanged_against_the_front_door(mock, tmp_path):
    assert not kit_problem(), kit_problem()
    cfg = write_config(tmp_path, """
retries: {attempts: 1}
front_door:
  keys: [{name: sdk, key_env: SDK_TOKEN}]
""")
    with Sidecar(None, "--config", cfg, "--upstream", mock.url, env={"SDK_TOKEN": TOKEN}) as s:
        base = s.door + "/v1"
        # streams slow enough to abort in the middle; other answers unchanged
        mock_control(mock, "x-mock-chunk-interval-ms: 100")
        r = run_sdk_check(base, TOKEN, "--checks", "chat,stream,abort", "--upstream-stats", f"{mock.url}/stats")
        assert r["ok"] and r["exit"] == 0, r
        assert metric(s, 'ringside_frontdoor_aborted_total{key="sdk"}') == 1
        assert metric(s, 'ringside_frontdoor_requests_total{key="sdk",code="200"}') >= 2

        mock_control(mock, "x-mock-status: 429\nx-mock-retry-after: 2")
        r = run_sdk_check(base, TOKEN, "--checks", "error", "--expect-error", "429")
        assert r["ok"], r
        mock_control(mock, "")
        # a wrong key is the SDK's AuthenticationError
        r = run_sdk_check(base, "not-a-key", "--checks", "error", "--expect-error", "401")
        assert r["ok"], r
