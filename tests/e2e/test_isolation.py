"""The threat model of the README, one test per line of it: what a process
of the sidecar's own uid, a process of another uid and a client through the
protocol can and cannot see. The sidecar runs as nobody (65534), so the
attacker is an ordinary process of its uid, not root."""
import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import Sidecar, binary
from ringside_procs import runnable_by

NOBODY = 65534
SECRET = "sk-isolation-test-5f1e2d"
HOSTILE_CLIENT = binary("HOSTILE_CLIENT", "tests/e2e/hostile_client")
RINGSIDE_CALL = binary("RINGSIDE_CALL", "tools/ringside-call")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run processes as nobody (CI runs as root)")


def as_nobody():
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


@pytest.fixture
def nobody_sidecar(mock):
    with Sidecar(mock.url, env={"DEEPSEEK_API_KEY": SECRET}, user=NOBODY) as s:
        yield s


def snoop(sidecar, *target):
    """hostile_client snoop, run as nobody: what it could see of the
    sidecar (pid 0) or of another process (target = pid, secret)."""
    prog = runnable_by(NOBODY, HOSTILE_CLIENT, tempfile.mkdtemp(prefix="rs-snoop-"))
    p = subprocess.run([prog, "snoop", sidecar.sock, *map(str, target)], capture_output=True, text=True,
                       timeout=60, **as_nobody())
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_a_process_of_the_sidecars_uid_cannot_read_its_environment_memory_or_descriptors(nobody_sidecar):
    # the probe itself works: a dumpable process of the same uid, holding
    # the same key in its environment, shows all of it
    control = subprocess.Popen(["sleep", "60"], env={"DEEPSEEK_API_KEY": SECRET}, **as_nobody())
    try:
        time.sleep(0.2)
        c = snoop(nobody_sidecar, control.pid, SECRET)
    finally:
        control.kill()
        control.wait()
    assert c["environ"] == "ok" and c["secret_seen"], c
    assert c["maps"] == c["mem"] == c["fd"] == c["fd_dir"] == c["ptrace"] == "ok", c

    s = snoop(nobody_sidecar, 0, SECRET)   # pid 0: the sidecar itself
    assert s["pid"] == nobody_sidecar.pid
    assert not s["secret_seen"], s
    for what in ("environ", "maps", "mem", "fd", "fd_dir", "map_files"):
        assert s[what] == "EACCES", (what, s)
    assert s["ptrace"] == "EPERM", s
    # a client gets its own region and no other: the sidecar's descriptors
    # and mappings (every client's region) are closed to it above
    assert s["regions_distinct"], s
    assert nobody_sidecar.alive()


def test_the_api_key_leaves_the_environment_but_still_reaches_the_upstream(nobody_sidecar):
    # even root, reading the environment block, no longer finds it
    with open(f"/proc/{nobody_sidecar.pid}/environ", "rb") as f:
        env = f.read()
    assert SECRET.encode() not in env
    entries = [e for e in env.split(b"\0") if e.startswith(b"DEEPSEEK_API_KEY=")]
    assert entries == [b"DEEPSEEK_API_KEY="], entries   # its bytes wiped
    p = subprocess.run([RINGSIDE_CALL, "--socket", nobody_sidecar.sock, "--header", "x-mock-echo-headers: 1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["request_headers"]["authorization"] == f"Bearer {SECRET}"
    # a reload builds the routes again from the kept copy
    os.kill(nobody_sidecar.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "configuration reloaded" not in nobody_sidecar.read_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "configuration reloaded" in nobody_sidecar.read_log()
    assert "API key from $DEEPSEEK_API_KEY" in nobody_sidecar.read_log().split("SIGHUP")[-1]
    p = subprocess.run([RINGSIDE_CALL, "--socket", nobody_sidecar.sock, "--header", "x-mock-echo-headers: 1"],
                       capture_output=True, text=True, timeout=30)
    assert json.loads(p.stdout)["request_headers"]["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in nobody_sidecar.read_log()


def test_the_sidecar_never_dumps_core(mock):
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core dumps go to {pattern!r}, not the process's directory")
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))   # inherited by both below
    try:
        # control: a process of the same uid and limits leaves a core behind
        d = tempfile.mkdtemp(prefix="rs-core-")
        os.chown(d, NOBODY, NOBODY)
        control = subprocess.Popen(["sleep", "60"], cwd=d, **as_nobody())
        time.sleep(0.2)
        control.send_signal(signal.SIGABRT)
        control.wait()
        assert any(f.startswith("core") for f in os.listdir(d)), os.listdir(d)

        s = Sidecar(mock.url, env={"DEEPSEEK_API_KEY": SECRET}, user=NOBODY)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    with open(f"/proc/{s.pid}/limits") as f:
        core = next(line for line in f if line.startswith("Max core file size")).split()
    assert core[4:6] == ["0", "0"], core
    assert os.stat(f"/proc/{s.pid}/environ").st_uid == 0   # non-dumpable: /proc/PID is root's
    os.kill(s.pid, signal.SIGABRT)
    s.proc.wait(10)
    assert s.proc.returncode == -signal.SIGABRT
    assert not any(f.startswith("core") for f in os.listdir(s.dir)), os.listdir(s.dir)
    s.stop()


def test_another_uid_cannot_even_connect(nobody_sidecar):
    # the socket is 0660, owned by the sidecar's uid and group; 65533 is
    # neither (admitting it takes the group or a mode, and --allow-uid)
    st = os.stat(nobody_sidecar.sock)
    assert st.st_mode & 0o777 == 0o660 and st.st_uid == NOBODY, oct(st.st_mode)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(65533)
            os.setuid(65533)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                c.connect(nobody_sidecar.sock)
                os._exit(1)
            except PermissionError:
                os._exit(0)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
