"""Sockets across containers, and no silent demo (issue #15, parts 3 and 8),
with real processes.

An app container runs under another uid than the sidecar. Here that app is
ringside-call run by setpriv as uid 4242: by default it cannot even open
the socket, and is told which sidecar settings (socket_mode, socket_group)
would let it; with the socket open to it but neither its uid nor a group
of it admitted, it is told which (allow_uids, allow_gids); with
socket_group + allow_gids, or allow_uids + a world socket_mode, it makes
round trips. The socket file, and the directory the sidecar makes for it,
carry the mode and group configured. In a private mount namespace (a tmpfs
over /run: the host's /run is never touched) that uid, given no socket
path, finds the sidecar at the pod path /run/ringside/ringside.sock.

And ringsided warns at start when it serves the bundled mock because no
key, upstream or routes were given — and only then.
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import RINGSIDE_CALL, RINGSIDED, Sidecar, write_config
from ringside_procs import runnable_by

OTHER = 4242       # the app container's uid, and its gid unless a test says otherwise
STRANGER = 4343    # a uid or gid nothing admits

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to run clients as another uid (CI runs as root)")


@pytest.fixture(scope="module")
def call():
    """ringside-call, runnable by uid 4242 however private the build tree is."""
    d = tempfile.mkdtemp(prefix="rs-call-")
    yield runnable_by(OTHER, RINGSIDE_CALL, d)
    shutil.rmtree(d)


def as_other(call, sock, *args, uid=OTHER, gid=OTHER, groups=()):
    """ringside-call run with this uid, primary gid and supplementary groups
    (none unless given), as a container's process would be."""
    ids = ["setpriv", "--reuid", str(uid), "--regid", str(gid)]
    ids += ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return subprocess.run(ids + [call, "--socket", sock, "--timeout-ms", "10000", *args],
                          capture_output=True, text=True, timeout=60)


def echo(call, sock, **who):
    return as_other(call, sock, "--route", "echo", "--data", "across uids", **who)


def traversable_dir():
    """A directory every uid may pass through, as a pod's emptyDir is."""
    d = tempfile.mkdtemp(prefix="rs-pod-")
    os.chmod(d, 0o755)
    return d


def mode_and_gid(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_gid


def test_another_uid_is_kept_out_by_default_and_told_which_setting_lets_it_in(mock, call):
    base = traversable_dir()
    with Sidecar(mock.url, sock=os.path.join(base, "rs.sock")) as s:
        assert mode_and_gid(s.sock) == (0o660, 0)   # root's group, not 4242's
        p = echo(call, s.sock)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "no permission to open " + s.sock in p.stderr, p.stderr
        assert "socket_group (--socket-group)" in p.stderr and "socket_mode (--socket-mode)" in p.stderr, p.stderr
        assert "refused pid" not in s.read_log()   # the file kept it out, before any peer check

    # the socket open to every uid, but neither 4242 nor its group admitted
    with Sidecar(mock.url, "--socket-mode", "0666", sock=os.path.join(base, "rs2.sock")) as s:
        p = echo(call, s.sock)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "uid 4242 may not register (gid 4242)" in p.stderr, p.stderr
        assert "allow_uids (--allow-uid 4242)" in p.stderr and "allow_gids (--allow-gid 4242)" in p.stderr, p.stderr
        assert "refused pid" in s.read_log()


@pytest.mark.parametrize("how", ["yaml", "flags"])
def test_socket_group_and_allow_gids_let_another_uid_in(mock, call, tmp_path, how):
    sock = os.path.join(traversable_dir(), "ringside", "ringside.sock")   # the sidecar makes "ringside"
    if how == "yaml":
        extra = ["--config", write_config(tmp_path, f"socket_group: {OTHER}\nallow_gids: [{OTHER}]\n")]
    else:
        extra = ["--socket-group", str(OTHER), "--allow-gid", str(OTHER)]
    with Sidecar(mock.url, *extra, sock=sock) as s:
        assert mode_and_gid(s.sock) == (0o660, OTHER)
        assert mode_and_gid(os.path.dirname(s.sock)) == (0o750, OTHER)

        p = echo(call, s.sock)   # 4242 by its primary group
        assert p.returncode == 0 and p.stdout == "across uids\n", p.stdout + p.stderr
        p = as_other(call, s.sock)   # a chat completion, through the mock
        assert p.returncode == 0, p.stdout + p.stderr
        assert json.loads(p.stdout)["choices"][0]["message"]["content"], p.stdout

        # the group as a supplementary one, as a pod's app container gets
        # it (SO_PEERGROUPS): the primary gid is one nothing admits
        p = echo(call, s.sock, gid=STRANGER, groups=[OTHER])
        assert p.returncode == 0 and p.stdout == "across uids\n", p.stdout + p.stderr
        # without the group, the directory and the socket keep it out
        p = echo(call, s.sock, gid=STRANGER)
        assert p.returncode == 1 and "no permission to open" in p.stderr, p.stdout + p.stderr
        assert s.read_log().count("registered: pid") == 3


def test_allow_uids_and_a_world_mode_let_another_uid_in(mock, call, tmp_path):
    sock = os.path.join(traversable_dir(), "ringside", "ringside.sock")
    config = write_config(tmp_path, f'socket_mode: "0666"\nallow_uids: [{OTHER}]\n')
    with Sidecar(mock.url, "--config", config, sock=sock) as s:
        assert mode_and_gid(s.sock) == (0o666, 0)
        assert mode_and_gid(os.path.dirname(s.sock)) == (0o755, 0)   # world bits: others may pass
        p = echo(call, s.sock)
        assert p.returncode == 0 and p.stdout == "across uids\n", p.stdout + p.stderr
        # admitted by uid, not by group: another uid of the same gid is not
        p = echo(call, s.sock, uid=STRANGER)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "uid 4343 may not register (gid 4242)" in p.stderr, p.stderr


def test_a_socket_group_the_sidecar_cannot_give_refuses_the_start(mock, tmp_path):
    p = subprocess.run([RINGSIDED, "--socket", str(tmp_path / "rs.sock"), "--upstream", mock.url,
                        "--socket-group", "no-such-group-rs"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert "--socket-group 'no-such-group-rs' is not a group here" in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "rs.sock")

    # nobody may not give its socket to a group it is not in
    with pytest.raises(RuntimeError) as e:
        Sidecar(mock.url, "--socket-group", str(OTHER), user=65534)
    assert "socket_group: cannot give" in str(e.value) and "to group 4242" in str(e.value), e.value


def test_a_client_of_another_uid_given_no_path_finds_the_pod_socket(mock, call, tmp_path):
    log = tmp_path / "ringsided.log"
    # RINGSIDED as root with no --socket listens on the pod path; the client
    # runs before it (to show where that uid looks otherwise) and after
    script = f"""
mount -t tmpfs -o mode=0755 tmpfs /run || exit 90
client() {{ setpriv --reuid {OTHER} --regid {OTHER} --clear-groups {call} --route echo --data pod \
                    --timeout-ms 10000; }}
client && exit 91
{RINGSIDED} --upstream {mock.url} --socket-group {OTHER} --allow-gid {OTHER} 2>{log} &
sidecar=$!
trap 'kill -TERM $sidecar 2>/dev/null' EXIT
i=0
until grep -q 'listening on' {log}; do
    i=$((i + 1)); [ $i -gt 400 ] && exit 92
    kill -0 $sidecar || exit 93
    sleep 0.05
done
ls -ld /run/ringside /run/ringside/ringside.sock >&2
client
rc=$?
kill -TERM $sidecar
wait $sidecar
echo "sidecar exit $?" >&2
exit $rc
"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RINGSIDE_SOCKET", "XDG_RUNTIME_DIR", "RINGSIDE_CONFIG", "DEEPSEEK_API_KEY")}
    host_had_it = os.path.exists("/run/ringside")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=120, env=env)
    sidecar_log = log.read_text() if log.exists() else ""
    assert p.returncode == 0, f"{p.returncode}\n{p.stdout}\n{p.stderr}\nsidecar log:\n{sidecar_log[-3000:]}"
    assert p.stdout == "pod\n", p.stdout
    # before the sidecar was there: that uid's own default
    assert f"cannot connect to /tmp/ringside-{OTHER}/ringside.sock" in p.stderr, p.stderr
    assert "sidecar exit 0" in p.stderr, p.stderr + sidecar_log[-3000:]
    assert "client 1 registered" in sidecar_log and f"uid {OTHER}" in sidecar_log, sidecar_log[-3000:]
    assert os.path.exists("/run/ringside") == host_had_it   # the host's /run untouched


# ----------------------------------------------------------------- demo mode

def start_log(s):
    """The sidecar's log lines once its start is over: the SIGUSR1 stats
    line comes from the loop, after everything the start logs."""
    os.kill(s.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 20
    while "stats (SIGUSR1)" not in s.read_log():
        assert time.monotonic() < deadline, s.read_log()
        time.sleep(0.02)
    return [json.loads(line) for line in s.read_log().splitlines() if line.startswith("{")]


def demo_warnings(lines):
    return [line for line in lines if "demo mode" in line["msg"]]


def test_demo_mode_is_a_warning_naming_how_to_reach_the_real_api(monkeypatch):
    monkeypatch.delenv("RINGSIDE_UPSTREAM", raising=False)
    monkeypatch.delenv("RINGSIDE_CONFIG", raising=False)
    with Sidecar(None) as s:   # no upstream, no routes, no key (the harness drops DEEPSEEK_API_KEY)
        lines = start_log(s)
    warned = demo_warnings(lines)
    assert len(warned) == 1 and warned[0]["level"] == "warn", warned
    msg = warned[0]["msg"]
    for says in ("bundled mock upstream at http://127.0.0.1:18089", "DEEPSEEK_API_KEY", "--upstream URL",
                 "config file with routes"):
        assert says in msg, msg


@pytest.mark.parametrize("given", ["upstream", "routes", "key"])
def test_no_demo_warning_once_an_upstream_routes_or_a_key_are_given(mock, tmp_path, monkeypatch, given):
    monkeypatch.delenv("RINGSIDE_UPSTREAM", raising=False)
    monkeypatch.delenv("RINGSIDE_CONFIG", raising=False)
    if given == "upstream":
        s = Sidecar(mock.url)
    elif given == "routes":
        s = Sidecar(None, "--config", write_config(tmp_path, f"routes:\n  - {{name: m, endpoint: '{mock.url}'}}\n"))
    else:
        s = Sidecar(None, env={"DEEPSEEK_API_KEY": "sk-e2e-not-a-real-key"})
    with s:
        lines = start_log(s)
    routes = [line["msg"] for line in lines if line["msg"].startswith("route '")]
    assert routes, lines   # the start was logged...
    assert not demo_warnings(lines), lines   # ...without the warning
    if given == "key":
        assert routes == ["route 'default': https://api.deepseek.com, weight 1, API key from $DEEPSEEK_API_KEY"], routes
