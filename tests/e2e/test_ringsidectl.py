"""ringsidectl (issue #16) against the real sidecar and the mock upstream:
the status frame and the route table count the traffic made, the
timeline shows a breaker opening and exports it as Markdown in order, a
reload shows up as an event, and an unreachable admin listener is named
with the setting that moves it."""
import os
import re
import socket
import subprocess
import time

from conftest import RINGSIDE_CALL, Sidecar, binary, write_config

RINGSIDECTL = binary("RINGSIDECTL", "tools/ringsidectl")
CHAT = '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}'


def ctl(s, *args, env=None, timeout=30):
    """(returncode, stdout, stderr) of ringsidectl against sidecar s (or
    the admin URL s)."""
    url = s if isinstance(s, str) else s.admin
    p = subprocess.run([RINGSIDECTL, "--admin", url, *args], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def call(s, *args):
    return subprocess.run([RINGSIDE_CALL, "--socket", s.sock, *args], capture_output=True, text=True,
                          timeout=30).returncode


def route_row(table_text, name):
    """The cells of the route table's row for route name, by header."""
    lines = [l for l in table_text.splitlines() if l.strip()]
    head = next(i for i, l in enumerate(lines) if l.startswith("route "))
    cols = lines[head].split()
    for line in lines[head + 1:]:
        cells = line.split()
        if cells and cells[0] == name:
            return dict(zip(cols, cells))
    raise AssertionError(f"no row for route {name} in:\n{table_text}")


def wait_for_kind(s, kind, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        rc, out, err = ctl(s, "events")
        assert rc == 0, err
        if re.search(rf"\s{kind}\s", out):
            return out
        assert time.monotonic() < deadline, f"no {kind} event in:\n{out}"
        time.sleep(0.05)


def breaker_sidecar(mock, tmp_path):
    cfg = write_config(tmp_path, f"""
breaker: {{failures: 3, cooldown_ms: 60000, max_cooldown_ms: 60000}}
retries: {{attempts: 1}}
routes:
  - {{name: only, endpoint: {mock.url}}}
""")
    return Sidecar(None, "--config", cfg)


def test_status_once_and_routes_count_the_traffic(mock, tmp_path):
    cfg = write_config(tmp_path, f"routes:\n  - {{name: primary, endpoint: {mock.url}}}\n")
    with Sidecar(None, "--config", cfg) as s:
        for _ in range(4):
            assert call(s, "--data", CHAT) == 0
        rc, out, err = ctl(s, "status", "--once")
        assert rc == 0, err
        assert "\033" not in out   # --once: no escape codes
        assert re.search(r"^answers 4  errors 0  clients \d+", out, re.M), out
        assert re.search(r"^requests/s (?:[0-9.]+|-)  error ratio 0\.0 %  mean latency [0-9.]+ ms", out, re.M), out
        assert re.search(r"^queued  P0 0  P1 0  P2 0    shedding  P1 no  P2 no$", out, re.M), out
        row = route_row(out, "primary")
        assert row["breaker"] == "closed" and row["attempts"] == "4" and row["ok"] == "4", row
        assert " start " in out.split("timeline (newest first")[1]
        # the same table alone; RINGSIDE_ADMIN when no --admin is given
        p = subprocess.run([RINGSIDECTL, "routes"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, RINGSIDE_ADMIN=s.admin))
        assert p.returncode == 0, p.stderr
        row = route_row(p.stdout, "primary")
        assert row["endpoint"] == mock.url and row["limit"] == "64" and row["failed"] == "0", row
        rc, out, _ = ctl(s, "metrics")
        assert rc == 0 and 'ringside_requests_total{route="primary",priority="P1",outcome="ok"} 4' in out


def test_status_refreshes_in_place_with_rates_over_the_last_second(mock):
    with Sidecar(mock.url) as s:
        p = subprocess.Popen([RINGSIDECTL, "--admin", s.admin, "status"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(20):
                assert call(s, "--data", CHAT) == 0
                time.sleep(0.1)
            time.sleep(1.2)
        finally:
            p.terminate()
            out, err = p.communicate(timeout=10)
        frames = out.split("\033[H")[1:]
        assert len(frames) >= 3, out + err
        assert frames[0].startswith("\033[2J")           # the screen cleared once, then drawn over
        assert all(f.endswith("\033[J") for f in frames[:-1])
        assert all(line.endswith("\033[K") for line in frames[1].split("\n")[:-1])
        assert "(averages since the start)" in frames[0]
        assert re.search(r"requests/s [1-9][0-9.]*  .*\(over the last [0-9.]+ s\)", "".join(frames[1:])), out
        assert re.search(r"answers 20 ", frames[-1]), frames[-1]


def test_events_and_the_markdown_timeline_show_a_breaker_opening(mock, tmp_path):
    with breaker_sidecar(mock, tmp_path) as s:
        for _ in range(3):
            assert call(s, "--header", "x-mock-status: 503", "--data", CHAT) != 0
        out = wait_for_kind(s, "breaker_open")
        lines = out.splitlines()
        kinds = [l.split()[2] for l in lines]   # date, time, kind, ...
        assert kinds[0] == "start" and "breaker_open" in kinds, out
        opened = lines[kinds.index("breaker_open")]
        assert re.search(r"breaker_open\s+only\s+route 'only': circuit breaker open", opened), opened

        rc, status, _ = ctl(s, "status", "--once")
        assert rc == 0 and route_row(status, "only")["breaker"] == "open", status
        assert re.search(r"^answers 3  errors 3 ", status, re.M), status

        rc, md, err = ctl(s, "timeline", "--since", "1h", "--markdown")
        assert rc == 0, err
        assert md.startswith("# ringside incident timeline\n"), md
        assert re.search(r"^- Period: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to .* UTC \(--since 1h\)$", md, re.M), md
        assert "| time (UTC) | kind | route | what happened |\n|---|---|---|---|\n" in md
        rows = [[c.strip() for c in l.strip("|").split(" | ")] for l in md.splitlines() if re.match(r"\| \d{4}-", l)]
        kinds = [r[1].strip("*") for r in rows]
        assert kinds.index("start") < kinds.index("breaker_open"), md
        assert [r[0] for r in rows] == sorted(r[0] for r in rows), md   # in order of time
        row = rows[kinds.index("breaker_open")]
        assert row[1] == "**breaker_open**" and row[2] == "only" and "circuit breaker open" in row[3], row

        # --since as Unix ms and as an ISO time: from the opening on, the start is left out
        rc, ev = ctl(s, "events", "--since", "1h")[:2]
        assert rc == 0 and ev == out
        rc, md_ms = ctl(s, "timeline", "--since", str(int(time.time() * 1000) + 60000))[:2]
        assert rc == 0 and md_ms.startswith("timeline from ") and ": 0 events" in md_ms, md_ms
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
        rc, ev_iso = ctl(s, "events", "--since", iso)[:2]
        assert rc == 0 and ev_iso == out
        assert ctl(s, "events", "--since", "yesterday")[0] == 2


def test_reload_shows_in_the_timeline(mock, tmp_path):
    cfg = write_config(tmp_path, f"routes:\n  - {{name: a, endpoint: {mock.url}}}\n")
    with Sidecar(None, "--config", cfg) as s:
        with open(cfg, "w") as f:
            f.write(f"routes:\n  - {{name: b, endpoint: {mock.url}}}\n")
        rc, out, err = ctl(s, "reload")
        assert rc == 0 and "reload asked" in out, out + err
        events = wait_for_kind(s, "reload")
        assert "configuration reloaded" in events
        assert route_row(ctl(s, "routes")[1], "b")["breaker"] == "closed"


def test_emergency_prints_the_answer_and_fails_on_a_refusal(mock):
    with Sidecar(mock.url) as s:
        assert ctl(s, "emergency", "maybe")[0] == 2
        rc, out, err = ctl(s, "emergency", "off")
        # until the sidecar takes POST /admin/emergency, its refusal is
        # printed and the exit is 1; once it does, its answer and 0
        if rc:
            assert rc == 1 and re.search(r"POST .*/admin/emergency\?state=off: HTTP 4\d\d: ", err), err
        else:
            assert out.strip(), "no answer printed"


def test_an_unreachable_admin_listener_is_named_with_its_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]   # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{port}"
        for args in (["status", "--once"], ["routes"], ["events"], ["reload"], ["metrics"]):
            rc, out, err = ctl(url, *args)
            assert rc == 1 and out == "", (args, out, err)
            assert f"cannot reach the admin listener at {url}" in err, err
            assert "--admin-listen" in err and "admin.listen" in err and "RINGSIDE_ADMIN" in err, err
