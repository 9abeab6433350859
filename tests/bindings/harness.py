"""Real processes for the binding tests: the mock upstream and ringsided,
started on private ports and sockets, stopped by PID.

Used two ways:
  - imported by the pytest suite (tests/bindings/python/conftest.py);
  - as a runner for the Ruby and Lua suites, which cannot easily spawn and
    watch processes themselves (Lua has no PIDs at all):

        harness.py -- ruby tests/bindings/ruby/test_ringside.rb

    It starts one mock upstream and several sidecars, each configured for
    one kind of test, exports where they are, runs the command, stops
    everything and fails if a sidecar crashed or logged a sanitizer report:

      RS_MOCK_URL        the mock upstream (POST /_control there to make
                         every later request fail, lag, ...)
      RS_SOCK            a sidecar with the default policy, upstream = mock
      RS_SOCK_FAST       retries off (attempts: 1), 1 ms backoff: upstream
                         errors come back at once
      RS_SOCK_SHED       shedding every P1/P2 request once its route's
                         breaker is open (fraction 1.0, breaker after 1
                         failure); use it only for that
      RS_SOCK_QUEUE      1 request/s and a P2 queue of 1: the 3rd
                         concurrent P2 request is refused (RS_EQUEUEFULL)
      RS_SOCK_DOWN       retries off, its only route a closed port: every
                         upstream request fails to connect (RS_ECONNUP)
      RS_SOCK_VICTIM     a sidecar the test may kill: RS_PID_VICTIM is its PID
      RS_SOCK_DRAIN      a sidecar the test may SIGTERM (RS_PID_DRAIN): it
                         drains for up to 3 s (--grace-ms 3000), then exits

Binaries come from the environment meson sets (RINGSIDED,
RINGSIDE_MOCK_UPSTREAM) or from ./build.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("RINGSIDE_BUILD", os.path.join(ROOT, "build"))


def binary(env, rel):
    path = os.environ.get(env, os.path.join(BUILD, rel))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built (set {env} or build into {BUILD})")
    return path


class Mock:
    """ringside-mock-upstream on a free port."""

    def __init__(self):
        self.proc = subprocess.Popen([binary("RINGSIDE_MOCK_UPSTREAM", "bench/mockup/ringside-mock-upstream"),
                                      "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"mock upstream said {line!r}")
        self.url = f"http://127.0.0.1:{m.group(1)}"

    def control(self, lines):
        """Make every later request behave as if it carried these x-mock-*
        header lines ("" clears them)."""
        req = urllib.request.Request(f"{self.url}/_control", data=lines.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Sidecar:
    """ringsided on a private socket; config is YAML text (or None for the
    embedded defaults with --upstream)."""

    def __init__(self, upstream=None, config=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="rs-bind-")
        self.sock = os.path.join(self.dir, "rs.sock")
        self.log_path = os.path.join(self.dir, "ringsided.log")
        self.log = open(self.log_path, "w")
        args = [binary("RINGSIDED", "sidecar/ringsided"), "--socket", self.sock]
        if config is not None:
            path = os.path.join(self.dir, "ringside.yaml")
            with open(path, "w") as f:
                f.write(config)
            args += ["--config", path]
        if upstream:
            args += ["--upstream", upstream]
        env = dict(os.environ)
        env.pop("DEEPSEEK_API_KEY", None)   # the mock, never a real API
        self.proc = subprocess.Popen(args + list(extra), stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        while not self._listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"ringsided exited: {self.read_log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("ringsided did not start listening")
            time.sleep(0.02)

    def _listening(self):
        if not os.path.exists(self.sock):
            return False
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def read_log(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, killed_ok=False):
        """SIGTERM it and return what went wrong ("" if nothing): a crash,
        an unclean exit, a sanitizer report."""
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
        if "Sanitizer" in log or "runtime error" in log:
            return f"sanitizer report from ringsided:\n{log[-4000:]}"
        if ours and self.proc.returncode != 0:
            return f"ringsided exited {self.proc.returncode}:\n{log[-2000:]}"
        if not ours and not killed_ok:
            return f"ringsided died during the tests ({self.proc.returncode}):\n{log[-2000:]}"
        return ""


FAST = """
retries: {attempts: 1}
routes:
  - {name: only, endpoint: %s}
"""

SHED = """
retries: {attempts: 1}
breaker: {failures: 1, cooldown_ms: 600000}
shedding: {fraction: 1.0}
routes:
  - {name: only, endpoint: %s}
"""

QUEUE = """
limits:
  global: {rps: 1, burst: 1}
priorities: {queue: {p2: 1}}
routes:
  - {name: only, endpoint: %s}
"""


def start_all():
    """The set of processes the Ruby and Lua suites run against."""
    mock = Mock()
    procs = {"mock": mock}
    try:
        procs["main"] = Sidecar(mock.url)
        procs["fast"] = Sidecar(config=FAST % mock.url)
        # shedding needs an upstream that always fails, apart from the
        # shared mock whose controls the suites change
        procs["shed_mock"] = shed_mock = Mock()
        shed_mock.control("x-mock-status: 503\n")
        procs["shed"] = Sidecar(config=SHED % shed_mock.url)
        procs["queue"] = Sidecar(config=QUEUE % mock.url)
        procs["down"] = Sidecar(config=FAST % "http://127.0.0.1:9")   # discard port: refused
        procs["victim"] = Sidecar(mock.url)
        procs["drain"] = Sidecar(mock.url, extra=("--grace-ms", "3000"))
    except Exception:
        stop_all(procs)
        raise
    return procs


def stop_all(procs):
    problems = []
    for name, p in procs.items():
        if isinstance(p, Sidecar):
            why = p.stop(killed_ok=(name in ("victim", "drain")))
            if why:
                problems.append(f"[{name}] {why}")
    for p in procs.values():
        if isinstance(p, Mock):
            p.stop()
    return problems


def main(argv):
    if "--" not in argv:
        print("usage: harness.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    procs = start_all()
    env = dict(os.environ,
               RS_MOCK_URL=procs["mock"].url,
               RS_SOCK=procs["main"].sock,
               RS_SOCK_FAST=procs["fast"].sock,
               RS_SOCK_SHED=procs["shed"].sock,
               RS_SOCK_QUEUE=procs["queue"].sock,
               RS_SOCK_DOWN=procs["down"].sock,
               RS_SOCK_VICTIM=procs["victim"].sock,
               RS_PID_VICTIM=str(procs["victim"].pid),
               RS_SOCK_DRAIN=procs["drain"].sock,
               RS_PID_DRAIN=str(procs["drain"].pid))
    env.pop("RINGSIDE_SOCKET", None)
    try:
        rc = subprocess.call(cmd, env=env)
    finally:
        problems = stop_all(procs)
    for p in problems:
        print(p, file=sys.stderr)
    return rc or (1 if problems else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
