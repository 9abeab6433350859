"""Fixtures for the end-to-end tests: real processes, started and stopped by PID.

Binaries come from the environment meson sets (RINGSIDED, E2E_CLIENT,
RINGSIDE_MOCK_UPSTREAM, RINGSIDE_CALL), or from ./build when run by hand.
"""
import os
import re
import signal
import socket
import json
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("RINGSIDE_BUILD", os.path.join(ROOT, "build"))


def binary(env, rel):
    path = os.environ.get(env, os.path.join(BUILD, rel))
    assert os.access(path, os.X_OK), f"{path} is not built (set {env} or build into {BUILD})"
    return path


RINGSIDED = binary("RINGSIDED", "sidecar/ringsided")
E2E_CLIENT = binary("E2E_CLIENT", "tests/e2e/e2e_client")
MOCK = binary("RINGSIDE_MOCK_UPSTREAM", "bench/mockup/ringside-mock-upstream")
RINGSIDE_CALL = binary("RINGSIDE_CALL", "sidecar/ringside-call")


class Mock:
    def __init__(self):
        self.proc = subprocess.Popen([MOCK, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, f"mock upstream said {line!r}"
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Sidecar:
    """A ringsided process on a private socket, its log kept in a file."""

    def __init__(self, upstream, *extra, env=None):
        self.dir = tempfile.mkdtemp(prefix="rs-e2e-")
        self.sock = os.path.join(self.dir, "rs.sock")
        self.log_path = os.path.join(self.dir, "ringsided.log")
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.pop("DEEPSEEK_API_KEY", None)
        e.update(env or {})
        args = [RINGSIDED, "--socket", self.sock]
        if upstream:
            args += ["--upstream", upstream]
        self.proc = subprocess.Popen(args + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=e)
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, f"ringsided exited: {self.read_log()}"
            if os.path.exists(self.sock):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    s.connect(self.sock)
                    break
                except OSError:
                    pass
                finally:
                    s.close()
            assert time.monotonic() < deadline, "ringsided did not start listening"
            time.sleep(0.02)

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def eventfd_count(self):
        """Each registered client holds two eventfd doorbells in the sidecar."""
        d = f"/proc/{self.proc.pid}/fd"
        n = 0
        for fd in os.listdir(d):
            try:
                n += os.readlink(f"{d}/{fd}") == "anon_inode:[eventfd]"
            except OSError:
                pass
        return n

    def region_maps(self):
        with open(f"/proc/{self.proc.pid}/maps") as f:
            return sum(1 for line in f if "ringside-client" in line)

    def stop(self):
        """SIGTERM it (if still running) and check it ended cleanly: exit 0
        and no sanitizer report (the ASan build runs these tests too)."""
        ours = self.proc.poll() is None
        if ours:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        log = self.read_log()
        self.log.close()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-4000:]
        if ours:
            assert self.proc.returncode == 0, f"ringsided exited {self.proc.returncode}: {log[-2000:]}"


def write_config(tmp_path, text):
    path = tmp_path / "ringside.yaml"
    path.write_text(text)
    return str(path)


def mock_control(mock, lines):
    """Make the mock answer every later request as if it carried these
    x-mock-* headers ("" clears them)."""
    import urllib.request
    req = urllib.request.Request(f"{mock.url}/_control", data=lines.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def mock_requests(mock):
    import urllib.request
    with urllib.request.urlopen(f"{mock.url}/stats", timeout=10) as r:
        return json.loads(r.read())["requests"]


def batch(sidecar, n, prio=1, timeout_ms=30000, window=64, route="", headers=(), popen=False):
    """Run e2e_client batch; return its JSON summary (or the Popen)."""
    args = [E2E_CLIENT, "batch", sidecar.sock, str(n), str(prio), str(timeout_ms), str(window), route,
            *headers]
    if popen:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return check_batch(json.loads(p.stdout.strip().splitlines()[-1]))


def check_batch(res):
    """Every batch proves exactly-once: n submitted, n completed, no orphan."""
    assert res["submitted"] == res["completed"] == res["n"] and res["orphans"] == 0, res
    assert sum(res["errors"].values()) == res["n"], res
    return res


def run_client(sidecar, *args, timeout=300, check=True):
    """Run e2e_client in a mode; return (returncode, last JSON line, stderr)."""
    p = subprocess.run([E2E_CLIENT, args[0], sidecar.sock, *map(str, args[1:])],
                       capture_output=True, text=True, timeout=timeout)
    out = p.stdout.strip().splitlines()
    if check:
        assert p.returncode == 0, f"e2e_client {args} failed: {p.stdout}\n{p.stderr}\nsidecar log:\n{sidecar.read_log()[-3000:]}"
    return p.returncode, (out[-1] if out else ""), p.stderr


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
