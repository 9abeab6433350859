"""Fixtures of the container suite (issue #15 part 4): the image, built by
setup.sh (podman, the debootstrap base and the layer cache, each made once
per machine), a mock upstream on the host's loopback, and helpers that run
the sidecar and its clients in containers.

Podman on these machines (../shared/TOOLCHAIN.md): every call gets
`--runtime runc` (crun cannot run here) and every run lowered ulimits
(raising them needs CAP_SYS_RESOURCE, which the machine lacks). Only
containers this suite started are removed, by their name.

Nothing is skipped: without podman (and no way to install it) the suite fails.
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = os.environ.get("RINGSIDE_IMAGE", "localhost/ringside:test")
PROFILE = os.path.join(ROOT, "deploy", "seccomp", "ringside.json")
PODMAN = ["podman", "--runtime", "runc"]
RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
             "--log-driver", "k8s-file"]
# the image's user, and the app's: another uid that gets the socket's group
# (what fsGroup does in a pod) and is admitted with --allow-uid
SIDECAR_GID = "10001"
APP_UID = "20000"
SOCKET_IN = "/run/ringside/ringside.sock"


def podman(*args, check=True, timeout=120, **kw):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def image():
    """Builds the image (and what it needs) with tests/container/setup.sh."""
    assert shutil.which("bash"), "bash is needed"
    t = time.monotonic()
    r = subprocess.run(["bash", os.path.join(ROOT, "tests", "container", "setup.sh"), IMAGE],
                       capture_output=True, text=True, timeout=1800)
    log = os.path.join(os.environ.get("RINGSIDE_BUILD", "/tmp"), "container-build.log")
    with open(log, "w") as f:
        f.write(r.stdout + r.stderr)
    assert r.returncode == 0, f"setup.sh failed (full log: {log}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    assert shutil.which("podman"), "podman is not installed and setup.sh could not install it"
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    for line in r.stdout.splitlines():
        if line.startswith("setup:"):
            print(line)
    print(f"container suite: setup {time.monotonic() - t:.1f} s, image {summary['size_bytes'] / 1e6:.0f} MB")
    return summary["image"]


@pytest.fixture(scope="session")
def mock_upstream():
    """The mock upstream on the host's 127.0.0.1 (sidecars run with
    --network host to reach it; clients have no network at all)."""
    exe = os.environ.get("RINGSIDE_MOCK_UPSTREAM",
                         os.path.join(ROOT, "build", "bench", "mockup", "ringside-mock-upstream"))
    assert os.access(exe, os.X_OK), f"mock upstream not built: {exe}"
    p = subprocess.Popen([exe, "--port", "0"], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert m, f"mock upstream said {line!r}"
    url = f"http://127.0.0.1:{m.group(1)}"
    yield url
    p.terminate()
    p.wait(timeout=10)


def mock_stats(url):
    with urllib.request.urlopen(url + "/stats", timeout=5) as r:
        return json.loads(r.read())


class Sidecar:
    def __init__(self, name, rundir):
        self.name = name
        self.rundir = rundir

    def logs(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def log_lines(self):
        """The sidecar's JSON log lines as dicts (anything else is skipped)."""
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def host_pid(self):
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip())

    def fds(self):
        """What the sidecar's descriptors are (read from the host as root:
        ringsided is not dumpable, so not even its own uid may look)."""
        d = f"/proc/{self.host_pid()}/fd"
        out = []
        for fd in os.listdir(d):
            try:
                out.append(os.readlink(os.path.join(d, fd)))
            except OSError:
                pass
        return out

    def exit_code(self):
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout.strip())

    def running(self):
        return podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "true"


@pytest.fixture
def sidecars(image, tmp_path):
    """start(*args, seccomp=PROFILE|None) runs ringsided in a container from
    the image, the socket directory a host directory mounted at /run/ringside
    (owned by the image's uid/gid, mode 0770, like an emptyDir with fsGroup);
    waits for its socket. Removes the containers it started."""
    started = []

    def start(*args, seccomp=PROFILE):
        n = len(started)
        name = f"ringside-test-{os.getpid()}-{n}"
        rundir = tmp_path / f"run{n}"
        rundir.mkdir()
        os.chown(rundir, int(SIDECAR_GID), int(SIDECAR_GID))
        os.chmod(rundir, 0o770)
        cmd = ["run", "-d", "--name", name, *RUN_FLAGS, "--network", "host",
               "-v", f"{rundir}:/run/ringside"]
        if seccomp:
            cmd += ["--security-opt", f"seccomp={seccomp}"]
        podman(*cmd, image, *args)
        s = Sidecar(name, str(rundir))
        started.append(s)
        deadline = time.monotonic() + 20
        while not (rundir / "ringside.sock").exists():
            if time.monotonic() > deadline or not s.running():
                raise AssertionError(f"ringsided in {name} did not create its socket; log:\n{s.logs()}")
            time.sleep(0.05)
        return s

    yield start
    for s in started:
        podman("rm", "-f", s.name, check=False)


def client_cmd(image, sidecar, *args, user=APP_UID + ":" + APP_UID, groups=(SIDECAR_GID,)):
    """podman run of ringside-call in a second container: another uid, no
    network, only the socket directory shared with the sidecar."""
    cmd = PODMAN + ["run", "--rm", *RUN_FLAGS, "--network", "none", "--user", user]
    for g in groups:
        cmd += ["--group-add", g]
    return cmd + ["-v", f"{sidecar.rundir}:/run/ringside", "--entrypoint", "ringside-call",
                  image, *args]


def run_client(image, sidecar, *args, timeout=60, **kw):
    return subprocess.run(client_cmd(image, sidecar, *args, **kw), capture_output=True,
                          text=True, timeout=timeout)
