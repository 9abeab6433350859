"""Fixtures for the end-to-end tests: real processes, started and stopped by PID.

Binaries come from the environment meson sets (RINGSIDED, E2E_CLIENT,
RINGSIDE_MOCK_UPSTREAM, RINGSIDE_CALL), or from ./build when run by hand.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import ringside_procs as procs  # noqa: E402
from ringside_procs import Mock, binary  # noqa: E402,F401

RINGSIDED = binary("RINGSIDED", "sidecar/ringsided")
E2E_CLIENT = binary("E2E_CLIENT", "tests/e2e/e2e_client")
RINGSIDE_CALL = binary("RINGSIDE_CALL", "tools/ringside-call")


class Sidecar(procs.Sidecar):
    """The shared sidecar, with the call shape these tests use and a stop
    that fails the test on a sanitizer report or an unclean exit."""

    def __init__(self, upstream, *extra, env=None, user=None, sock=None):
        super().__init__(upstream, extra=extra, env=env, user=user, sock=sock)

    def stop(self):
        problem = super().stop(killed_ok=True)   # tests kill it on purpose
        assert not problem, problem

    # `with Sidecar(...) as s:` stops it (and checks its exit) however the
    # test body ends
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def write_config(tmp_path, text):
    path = tmp_path / "ringside.yaml"
    path.write_text(text)
    return str(path)


def mock_control(mock, lines):
    """Make the mock answer every later request as if it carried these
    x-mock-* headers ("" clears them)."""
    return mock.control(lines)


def mock_stats(mock):
    import urllib.request
    with urllib.request.urlopen(f"{mock.url}/stats", timeout=10) as r:
        return json.loads(r.read())


def mock_requests(mock):
    return mock_stats(mock)["requests"]


def wait_for(pred, timeout=10, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def batch(sidecar, n, prio=1, timeout_ms=30000, window=64, route="", headers=(), popen=False,
          verbose=False):
    """Run e2e_client batch; return its JSON summary (or the Popen). With
    verbose, also the stderr where it printed every error's message."""
    args = [E2E_CLIENT, "batch", sidecar.sock, str(n), str(prio), str(timeout_ms), str(window), route,
            *headers]
    env = dict(os.environ, E2E_VERBOSE="1") if verbose else None
    if popen:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    p = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    res = check_batch(json.loads(p.stdout.strip().splitlines()[-1]))
    return (res, p.stderr) if verbose else res


def check_batch(res):
    """Every batch proves exactly-once: n submitted, n completed, no orphan."""
    assert res["submitted"] == res["completed"] == res["n"] and res["orphans"] == 0, res
    assert sum(res["errors"].values()) == res["n"], res
    return res


def run_client(sidecar, *args, timeout=300, check=True, env=None):
    """Run e2e_client in a mode; return (returncode, last JSON line, stderr).
    env: variables to add to the client's environment."""
    p = subprocess.run([E2E_CLIENT, args[0], sidecar.sock, *map(str, args[1:])],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **env) if env else None)
    out = p.stdout.strip().splitlines()
    if check:
        assert p.returncode == 0, f"e2e_client {args} failed: {p.stdout}\n{p.stderr}\nsidecar log:\n{sidecar.read_log()[-3000:]}"
    return p.returncode, (out[-1] if out else ""), p.stderr


def fill_while_stopped(sidecar, *args):
    """Run e2e_client in a mode that prints "ready", fills its submission
    ring when told "fill" (the sidecar is SIGSTOPped meanwhile), prints one
    "full ..." line, and goes on when told "go" (after SIGCONT). Returns
    the words of the "full" line and the client's last line; the client
    must exit 0."""
    p = subprocess.Popen([E2E_CLIENT, args[0], sidecar.sock, *map(str, args[1:])], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    os.kill(sidecar.proc.pid, signal.SIGSTOP)
    try:
        p.stdin.write("fill\n")
        p.stdin.flush()
        words = p.stdout.readline().split()
    finally:
        os.kill(sidecar.proc.pid, signal.SIGCONT)
    p.stdin.write("go\n")
    p.stdin.flush()
    out = p.communicate(timeout=120)[0]
    assert p.returncode == 0, out
    return words, out.strip().splitlines()[-1]


@pytest.fixture
def mock():
    m = Mock()
    yield m
    m.stop()


@pytest.fixture
def sidecar(mock):
    s = Sidecar(mock.url)
    yield s
    s.stop()
