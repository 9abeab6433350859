"""deploy/systemd/ringsided.service run by systemd (issue #15 part 6).

`systemd-analyze verify` (tests/deploy) checks the file; it cannot tell
whether the sandboxing lets ringsided work. Here systemd runs as PID 1 in a
container (systemd.Containerfile) and starts the unit unchanged: ringsided
must get io_uring under the unit's SystemCallFilter, serve a client of
another uid through /run/ringside (RuntimeDirectory), reload on
`systemctl reload` and drain on `systemctl stop`.

The container is --privileged: systemd needs CAP_SYS_ADMIN to build the
unit's sandbox (mount namespaces for ProtectSystem=, PrivateTmp=, ...), and
podman then applies no seccomp filter of its own, so the filter ringsided
runs under is the unit's alone. It has no network (--network none): the
mock upstream runs on the container's own loopback.
"""
import os
import re
import subprocess
import time

from conftest import PODMAN, ROOT, RUN_FLAGS, podman

IMAGE_SD = "localhost/ringside-systemd:test"


def sh(name, cmd, check=True, timeout=60):
    return podman("exec", name, "sh", "-c", cmd, check=check, timeout=timeout)


def test_the_unit_under_systemd(image):
    mock = os.environ.get("RINGSIDE_MOCK_UPSTREAM",
                          os.path.join(ROOT, "build", "bench", "mockup", "ringside-mock-upstream"))
    t = time.monotonic()
    podman("build", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
           "--build-arg", f"IMAGE={image}", "-f", os.path.join(ROOT, "tests", "container", "systemd.Containerfile"),
           "-t", IMAGE_SD, ROOT, timeout=900)
    print(f"systemd image built in {time.monotonic() - t:.1f} s")
    name = f"ringside-systemd-test-{os.getpid()}"
    podman("run", "-d", "--name", name, *RUN_FLAGS, "--systemd=always", "--privileged",
           "--network", "none", "-v", f"{mock}:/usr/local/bin/ringside-mock-upstream:ro", IMAGE_SD)
    try:
        deadline = time.monotonic() + 60
        while sh(name, "systemctl is-active ringsided", check=False).stdout.strip() != "active":
            assert time.monotonic() < deadline, sh(name, "systemctl status ringsided --no-pager", check=False).stdout
            time.sleep(0.2)
        while "ringside.sock" not in sh(name, "ls /run/ringside", check=False).stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pid = sh(name, "systemctl show -p MainPID --value ringsided").stdout.strip()
        status = sh(name, f"cat /proc/{pid}/status").stdout
        # the sandbox is on: the unit's seccomp filter, no privileges ...
        assert re.search(r"^Seccomp:\s+2$", status, re.M), status
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
        assert re.search(r"^CapEff:\s+0+$", status, re.M)
        # ... and ringsided still has its io_uring
        fds = sh(name, f"ls -l /proc/{pid}/fd").stdout
        assert "anon_inode:[io_uring]" in fds, fds
        listing = sh(name, "stat -c '%A %U %G %n' /run/ringside /run/ringside/ringside.sock").stdout
        assert "drwxr-x--- ringside ringside /run/ringside" in listing, listing
        assert "srw-rw---- ringside ringside /run/ringside/ringside.sock" in listing, listing

        podman("exec", "-d", name, "ringside-mock-upstream", "--port", "18089")
        call = ("su app -c 'RINGSIDE_SOCKET=/run/ringside/ringside.sock ringside-call -v "
                "--header \"x-request-id: {tag}\" {extra}'")
        deadline = time.monotonic() + 20
        while True:   # the mock may still be starting
            r = sh(name, call.format(tag="systemd-1", extra=""), check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.returncode == 0, r.stderr + sh(name, "journalctl -u ringsided -o cat --no-pager").stdout
        assert "echo: systemd-1" in r.stdout

        # reload: SIGHUP through ExecReload, same process, config re-read
        sh(name, "systemctl reload ringsided")
        assert sh(name, "systemctl show -p MainPID --value ringsided").stdout.strip() == pid
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in sh(name, "journalctl -u ringsided -o cat --no-pager").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.1)

        # stop with a request in flight: it completes, then ringsided exits 0
        client = subprocess.Popen(PODMAN + ["exec", name, "sh", "-c",
                                            call.format(tag="drained", extra="--header \"x-mock-delay-ms: 3000\"")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while len(re.findall(r"client \d+ registered", sh(name, "journalctl -u ringsided -o cat --no-pager").stdout)) < 2:
            assert time.monotonic() < deadline and client.poll() is None, client.communicate()
            time.sleep(0.05)
        time.sleep(0.3)   # the request reaches the upstream
        t = time.monotonic()
        sh(name, "systemctl stop ringsided")
        stop_s = time.monotonic() - t
        out, err = client.communicate(timeout=30)
        print(f"systemctl stop with a 3 s request in flight took {stop_s:.1f} s")
        assert client.returncode == 0 and "echo: drained" in out, err
        show = sh(name, "systemctl show -p Result -p ExecMainStatus ringsided").stdout
        assert "Result=success" in show and "ExecMainStatus=0" in show, show
        assert 1.0 < stop_s < 14
        journal = sh(name, "journalctl -u ringsided -o cat --no-pager").stdout
        assert "SIGTERM: draining" in journal, journal
        # RuntimeDirectory= is removed with the service
        assert sh(name, "test -e /run/ringside", check=False).returncode != 0
    finally:
        podman("rm", "-f", name, check=False)
