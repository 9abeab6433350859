"""Real processes for the test suites: the mock upstream and ringsided,
started on private ports and sockets, stopped by PID. Shared by the
end-to-end suite (tests/e2e/conftest.py) and the binding suites
(tests/bindings/harness.py), so both start, watch and judge the sidecar
the same way.

Binaries come from the environment meson sets (RINGSIDED,
RINGSIDE_MOCK_UPSTREAM) or from ./build when run by hand.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
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


def free_port():
    """A TCP port free on 127.0.0.1 right now (for a server to take next)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def control(self, lines):
        """Make every later request behave as if it carried these x-mock-*
        header lines ("" clears them). Returns the mock's /stats."""
        req = urllib.request.Request(f"{self.url}/_control", data=lines.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def runnable_by(uid, path, into):
    """A copy of the program at path that uid can run (the build tree may be
    private to root), in the directory into."""
    copy = shutil.copy(path, into)
    os.chmod(copy, 0o755)
    os.chown(into, uid, uid)
    os.chmod(into, 0o755)
    return copy


class Sidecar:
    """ringsided on a private socket, its log kept in a file. config is YAML
    text (written next to the socket), upstream the --upstream URL; extra
    flags and environment are added as given. user: run it as that uid (and
    gid); the caller must be root. sock: the socket's path (default: rs.sock
    in a fresh private directory, which also holds the log). wrapper: a
    command line it runs under (e.g. a seccomp filter). backend:
    --io-backend, by default the one the suite runs on
    ($RINGSIDE_TEST_IO_BACKEND); "" for none (auto). own_admin: False
    leaves --admin-listen out, so it tries its default admin address."""

    def __init__(self, upstream=None, config=None, extra=(), env=None, user=None, sock=None, wrapper=(),
                 backend=None, own_admin=True):
        self.dir = tempfile.mkdtemp(prefix="rs-test-")
        self.sock = sock or os.path.join(self.dir, "rs.sock")
        self.log_path = os.path.join(self.dir, "ringsided.log")
        self.log = open(self.log_path, "w")
        prog = binary("RINGSIDED", "sidecar/ringsided")
        if user is not None:
            prog = runnable_by(user, prog, self.dir)
        args = [*wrapper, prog, "--socket", self.sock]
        if config is not None:
            path = os.path.join(self.dir, "ringside.yaml")
            with open(path, "w") as f:
                f.write(config)
            args += ["--config", path]
        if upstream:
            args += ["--upstream", upstream]
        # the suites run once per event-loop backend (tests/run.sh)
        self.backend = os.environ.get("RINGSIDE_TEST_IO_BACKEND") if backend is None else backend
        if self.backend:
            args += ["--io-backend", self.backend]
        # an admin listener of its own on a free port (many run at once)
        own_admin = own_admin and not any(str(a).startswith("--admin-listen") for a in extra)
        if own_admin:
            args += ["--admin-listen", "127.0.0.1:0"]
        # and a front door of its own (its default, 127.0.0.1:8080, is one per host)
        if not any(str(a).startswith("--front-door-listen") for a in extra):
            args += ["--front-door-listen", "127.0.0.1:0"]
        e = dict(os.environ)
        e.pop("DEEPSEEK_API_KEY", None)   # the mock, never a real API
        e.update(env or {})
        as_user = {} if user is None else {"user": user, "group": user, "extra_groups": []}
        self.proc = subprocess.Popen(args + list(extra), stdout=self.log, stderr=subprocess.STDOUT, env=e,
                                     **as_user)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        # the admin listener starts just after the socket: wait for both
        while not self._listening() or (own_admin and "admin listener on" not in self.read_log()):
            if self.proc.poll() is not None:
                raise RuntimeError(f"ringsided exited: {self.read_log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("ringsided did not start listening")
            time.sleep(0.02)
        if self.backend and f"event loop: {self.backend}" not in self.read_log():
            raise RuntimeError(f"ringsided is not on the {self.backend} backend: {self.read_log()}")
        m = re.search(r"admin listener on (http://[0-9.:]+)", self.read_log())
        self.admin = m.group(1) if m else None   # None: turned off by the caller
        m = re.search(r"front door listening on (http://[0-9.:]+)", self.read_log())
        self.door = m.group(1) if m else None

    def http(self, path, method="GET", timeout=10):
        """(status, body text) of a request to its admin listener."""
        import urllib.error
        import urllib.request
        req = urllib.request.Request(self.admin + path, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

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

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        """SIGKILL, as a crash would."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

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

    def stop(self, killed_ok=False):
        """SIGTERM it (if still running) and return what went wrong ("" if
        nothing): a sanitizer report (the ASan build runs the tests too), an
        unclean exit, or — unless killed_ok — a death during the tests."""
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
