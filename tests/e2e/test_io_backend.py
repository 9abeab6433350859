"""The event loop's backends, and starts that fail (issue #15).

Container runtimes' default seccomp profiles refuse io_uring (podman says
ENOSYS, others EPERM; sysctl kernel.io_uring_disabled=2 says EPERM too).
seccomp_refuse reproduces that for one process: ringsided must then serve
on epoll and say why — or, when io_uring was asked for by name, exit with
a message naming the cause and the remedy, never crash.
"""
import os
import subprocess

import pytest

from conftest import RINGSIDE_CALL, RINGSIDED, binary
from ringside_procs import Sidecar

SECCOMP_REFUSE = binary("SECCOMP_REFUSE", "tests/e2e/seccomp_refuse")
URING = "io_uring_setup,io_uring_enter,io_uring_register"


def chat(sock):
    p = subprocess.run([RINGSIDE_CALL, "--socket", sock, "--data",
                        '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}'],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "chat.completion" in p.stdout
    return p.stdout


def start_failing(*args, wrapper=()):
    """Run ringsided expecting it not to start; return (exit status, log)."""
    p = subprocess.run([*wrapper, RINGSIDED, "--socket", "/tmp/rs-never-listens.sock", *args],
                       capture_output=True, text=True, timeout=30)
    assert not os.path.exists("/tmp/rs-never-listens.sock")
    return p.returncode, p.stdout + p.stderr


def stopped_cleanly(s):
    problem = s.stop()
    assert not problem, problem


@pytest.mark.parametrize("errno", ["ENOSYS", "EPERM"])
def test_io_uring_refused_serves_on_epoll_and_says_why(mock, errno):
    s = Sidecar(mock.url, wrapper=[SECCOMP_REFUSE, errno, URING], backend="")
    try:
        chat(s.sock)
        log = s.read_log()
        assert "event loop: epoll" in log
        warning = next(line for line in log.splitlines() if "io_uring unavailable" in line)
        assert os.strerror(getattr(__import__("errno"), errno)) in warning
        assert "deploy/seccomp/ringside.json" in warning and "kernel.io_uring_disabled" in warning
    finally:
        stopped_cleanly(s)


def test_io_uring_by_name_refused_exits_with_cause_and_remedy():
    status, log = start_failing("--io-backend", "io_uring", wrapper=[SECCOMP_REFUSE, "ENOSYS", URING])
    assert status == 1, log   # an exit, not a signal (the old crash was -11)
    assert "io_uring_setup failed: Function not implemented" in log
    assert "--io-backend" in log and "seccomp" in log


def test_no_event_loop_at_all_exits_with_both_causes():
    status, log = start_failing(wrapper=[SECCOMP_REFUSE, "EPERM", URING + ",epoll_create1"])
    assert status == 1, log
    assert "io_uring_setup failed (Operation not permitted), and so did epoll_create1" in log


def test_epoll_chosen_by_name_gives_no_warning(mock):
    s = Sidecar(mock.url, backend="epoll")
    try:
        chat(s.sock)
        log = s.read_log()
        assert "event loop: epoll" in log and "io_uring unavailable" not in log
    finally:
        stopped_cleanly(s)


def test_epoll_without_epoll_pwait2_keeps_serving(mock):
    """Older kernels and some profiles lack epoll_pwait2: millisecond waits."""
    s = Sidecar(mock.url, wrapper=[SECCOMP_REFUSE, "ENOSYS", URING + ",epoll_pwait2"], backend="")
    try:
        for _ in range(3):
            chat(s.sock)
        assert "event loop: epoll" in s.read_log()
    finally:
        stopped_cleanly(s)


def test_io_backend_in_yaml_and_bad_values(tmp_path, mock):
    cfg = tmp_path / "ringside.yaml"
    cfg.write_text("io_backend: epoll\n")
    s = Sidecar(mock.url, extra=["--config", str(cfg)], backend="")
    try:
        chat(s.sock)
        assert "event loop: epoll" in s.read_log()
    finally:
        stopped_cleanly(s)
    cfg.write_text("io_backend: kqueue\n")
    p = subprocess.run([RINGSIDED, "--check-config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "io_backend" in p.stderr and "auto, io_uring, epoll" in p.stderr
    status, log = start_failing("--io-backend", "select")
    assert status == 2 and "--io-backend wants auto, io_uring or epoll" in log


def test_a_socket_it_cannot_create_exits_with_the_path():
    status, log = start_failing("--socket", "/proc/ringside/x.sock")
    assert status == 1, log
    assert "/proc/ringside" in log


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the sidecar as nobody (CI runs as root)")
def test_a_prefault_without_a_thread_warns_and_the_client_is_served_and_freed(mock):
    # On epoll a prefault's madvise runs in a thread of its own. With no
    # thread to be had — RLIMIT_NPROC 1 for a sidecar run as nobody (root
    # is exempt from it) — pthread_create fails with EAGAIN: the populate
    # must report that (the warning), close its own eventfd, and the client
    # be served and its region and doorbells freed when it goes
    import resource
    import time
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    hard = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    as_nobody = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    s = Sidecar(mock.url, extra=["--prefault"], user=NOBODY, backend="epoll", wrapper=["prlimit", "--nproc=1:"])
    try:
        base_efds, base_maps = s.eventfd_count(), s.region_maps()
        p = subprocess.run([RINGSIDE_CALL, "--socket", s.sock, "--route", "echo", "--data", "x"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr + s.read_log()
        deadline = time.monotonic() + 10
        while (s.region_maps(), s.eventfd_count()) != (base_maps, base_efds):
            assert time.monotonic() < deadline, "the region, doorbells or the populate's eventfd were never freed"
            time.sleep(0.05)
        log = s.read_log()
        assert "prefaulting its region failed (Resource temporarily unavailable)" in log, log
    finally:
        # threads again before it stops (LeakSanitizer's check at exit needs one)
        subprocess.run(["prlimit", "--pid", str(s.pid), f"--nproc={hard}:"], check=True, timeout=30, **as_nobody)
        stopped_cleanly(s)
