"""The image in the runtimes users deploy it to (issue #15 part 4).

(a) podman's DEFAULT seccomp profile refuses io_uring_setup (ENOSYS), as
    Docker >= 25's and containerd's RuntimeDefault do: ringsided must serve
    anyway, on its epoll backend, and say so;
(b) the shipped profile (deploy/seccomp/ringside.json) lets it use io_uring;
(c) a client in a second container, under another uid, with only the socket
    directory shared, makes a round trip to the upstream (and a uid that is
    not admitted, or lacks the socket's group, is refused with the reason);
(d) `podman stop` (SIGTERM to PID 1) with a request in flight: the request
    completes and the container exits 0 after draining.
"""
import json
import os
import re
import subprocess
import sys
import time

from conftest import (APP_UID, PROFILE, ROOT, SIDECAR_GID, SOCKET_IN, client_cmd, mock_stats,
                      podman, run_client)


def chat_round_trip(image, sidecar, tag):
    """One chat completion from the app container through the sidecar to
    the mock upstream; the mock echoes the request id into the answer."""
    r = run_client(image, sidecar, "-v", "--header", f"x-request-id: {tag}")
    assert r.returncode == 0, f"client failed: {r.stderr}\nsidecar log:\n{sidecar.logs()}"
    assert f"echo: {tag}" in json.loads(r.stdout)["choices"][0]["message"]["content"]
    assert "status 200, RS_OK, upstream 'default'" in r.stderr


def messages(sidecar, level=None):
    return [l.get("msg", "") for l in sidecar.log_lines() if level is None or l.get("level") == level]


def test_image_is_small_non_root_with_ringsided_as_pid1(image, sidecars, mock_upstream):
    cfg = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert cfg["User"] == "10001:10001"
    assert cfg["Entrypoint"] == ["/usr/local/bin/ringsided"]
    assert "/run/ringside" in cfg["Volumes"]
    assert "RINGSIDE_SOCKET=" + SOCKET_IN in cfg["Env"]
    assert cfg.get("StopSignal") == "SIGTERM"
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    print(f"image {image}: {size / 1e6:.0f} MB")
    assert size < 150e6, "the runtime image grew: check what the last stage installs"
    # no compiler or headers came along from the build stage
    r = podman("run", "--rm", *["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"],
               "--network", "none", "--entrypoint", "sh", image, "-c",
               "for f in /usr/bin/gcc /usr/bin/cc /usr/bin/meson /usr/include/liburing.h; do"
               " [ -e $f ] && echo $f; done; true")
    assert r.stdout.strip() == "", r.stdout

    s = sidecars("--upstream", mock_upstream)
    with open(f"/proc/{s.host_pid()}/status") as f:
        status = f.read()
    assert re.search(r"^NSpid:\s+\d+\s+1$", status, re.M), "ringsided is not PID 1 in its container"
    assert re.search(r"^Uid:\s+10001\s", status, re.M)
    assert re.search(r"^Name:\s+ringsided$", status, re.M)


def test_a_default_seccomp_profile_serves_on_epoll_and_says_why(image, sidecars, mock_upstream):
    s = sidecars("--upstream", mock_upstream, "--allow-uid", APP_UID, seccomp=None)
    chat_round_trip(image, s, "default-seccomp")
    r = run_client(image, s, "--route", "echo", "--data", "ok")
    assert (r.returncode, r.stdout.strip()) == (0, "ok"), r.stderr
    assert not any("io_uring" in f for f in s.fds()), "an io_uring instance under a profile that refuses it?"
    assert any("event loop: epoll" in m for m in messages(s, "info")), s.logs()
    warns = [m for m in messages(s, "warn") if "io_uring unavailable" in m]
    assert len(warns) == 1, s.logs()
    # ...and the warning says how to get io_uring back
    assert "seccomp" in warns[0] or "io_uring_disabled" in warns[0], warns[0]


def test_b_shipped_seccomp_profile_serves_on_io_uring(image, sidecars, mock_upstream):
    s = sidecars("--upstream", mock_upstream, "--allow-uid", APP_UID, seccomp=PROFILE)
    chat_round_trip(image, s, "shipped-seccomp")
    assert "anon_inode:[io_uring]" in s.fds(), "ringsided holds no io_uring instance"
    assert any("event loop: io_uring" in m for m in messages(s, "info")), s.logs()
    assert not any("io_uring unavailable" in m for m in messages(s)), s.logs()


def test_c_a_client_in_another_container_under_another_uid(image, sidecars, mock_upstream):
    s = sidecars("--upstream", mock_upstream, "--allow-uid", APP_UID)
    for i in range(3):
        chat_round_trip(image, s, f"cross-container-{i}")
    assert re.search(rf"client \d+ registered: pid \d+ uid {APP_UID}\b", s.logs())

    # another uid with the socket's group but not admitted: refused, and the
    # refusal names the setting that admits it
    r = run_client(image, s, "--route", "echo", "--data", "x", user=f"20001:{SIDECAR_GID}", groups=())
    assert r.returncode == 1 and "RS_ECONNECT" in r.stderr, r.stderr
    assert re.search(r"allow.uid", r.stderr), r.stderr
    # an admitted uid without the socket's group cannot open the socket
    r = run_client(image, s, "--route", "echo", "--data", "x", groups=())
    assert r.returncode == 1 and "RS_ECONNECT" in r.stderr, r.stderr
    assert s.running()
    chat_round_trip(image, s, "after-refusals")


def test_c_the_socket_group_admits_every_uid_in_it(image, sidecars):
    """What the pod manifest does: allow_gids names fsGroup, so any app
    container of the pod gets in whatever its uid; a uid outside it not."""
    s = sidecars("--allow-gid", SIDECAR_GID)
    for uid in ("20000", "20002"):
        r = run_client(image, s, "--route", "echo", "--data", f"uid {uid}", user=f"{uid}:{uid}")
        assert r.returncode == 0 and r.stdout.strip() == f"uid {uid}", f"{r.stderr}\n{s.logs()}"
    r = run_client(image, s, "--route", "echo", "--data", "x", user="20003:20003", groups=())
    assert r.returncode == 1 and "RS_ECONNECT" in r.stderr, r.stderr


def test_d_podman_stop_drains_the_request_in_flight(image, sidecars, mock_upstream):
    s = sidecars("--upstream", mock_upstream, "--allow-uid", APP_UID, "--grace-ms", "10000")
    client = subprocess.Popen(
        client_cmd(image, s, "-v", "--header", "x-request-id: drained",
                   "--header", "x-mock-delay-ms: 3000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while mock_stats(mock_upstream)["inflight"] < 1:
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline, "the request never reached the upstream"
            time.sleep(0.05)
        t = time.monotonic()
        podman("stop", "-t", "30", s.name, timeout=60)
        stop_s = time.monotonic() - t
        out, err = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
    print(f"podman stop with a 3 s request in flight took {stop_s:.1f} s")
    assert client.returncode == 0, err + "\nsidecar log:\n" + s.logs()
    assert "echo: drained" in out and "status 200, RS_OK" in err
    assert s.exit_code() == 0, s.logs()   # not 137: SIGKILL after the timeout
    assert 1.0 < stop_s < 25, "the stop did not wait for the request, or hit the kill timeout"
    log = s.logs()
    assert re.search(r"SIGTERM: draining", log), log


def test_seccomp_profile_is_podmans_default_plus_io_uring():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "seccomp", "make-profile.py"),
                        "--check", "/usr/share/containers/seccomp.json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(PROFILE) as f:
        prof = json.load(f)
    allowed = {n for rule in prof["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
               and not rule.get("includes") for n in rule["names"]}
    assert {"io_uring_setup", "io_uring_enter", "io_uring_register"} <= allowed
