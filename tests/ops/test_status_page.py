"""The /status page (issue #16) rendered by headless Chromium (Debian's
`chromium`) from a running sidecar with traffic flowing through it: the
DOM carries the route and the count of the requests made, and two
renderings a few seconds apart show different numbers. The screenshots
and DOM dumps are kept in meson-logs/status-page/ of the build tree (the
path is printed)."""
import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from ringside_procs import BUILD, Mock, Sidecar, binary  # noqa: E402

RINGSIDE_CALL = binary("RINGSIDE_CALL", "tools/ringside-call")
CHAT = '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}'
ARTIFACTS = os.path.join(BUILD, "meson-logs", "status-page")


class Page(html.parser.HTMLParser):
    """The text of every element with an id, and the rows (cell texts) of
    each table body, by table id."""

    def __init__(self, text):
        super().__init__()
        self.by_id, self.rows, self.row_attrs = {}, {}, {}
        self._open, self._table, self._row = [], None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
        if tag == "tr" and self._table:
            self._row = []
            self.rows.setdefault(self._table, []).append(self._row)
            self.row_attrs.setdefault(self._table, []).append(a)
        if tag in ("td", "th") and self._row is not None:
            self._row.append("")
        self._open.append(a.get("id"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        for i in self._open:
            if i:
                self.by_id[i] = self.by_id.get(i, "") + data
        if self._row:
            self._row[-1] += data

    def route(self, name):
        for attrs, row in zip(self.row_attrs.get("routes", []), self.rows.get("routes", [])):
            if attrs.get("data-route") == name:
                return row
        raise AssertionError(f"no row for route {name}: {self.rows.get('routes')}")


def chromium():
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed: apt-get install chromium (deploy/install-deps.sh does)"
    return exe


def render(url, name, home):
    """Load url in headless Chromium, let the page poll for a few (virtual)
    seconds, and keep its screenshot and DOM as NAME.png and NAME.html
    under ARTIFACTS. Returns (parsed DOM, screenshot bytes)."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, name + ".png")
    if os.path.exists(shot):
        os.unlink(shot)
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={home}/profile", "--window-size=1280,900",
            "--virtual-time-budget=3000", f"--screenshot={shot}", "--dump-dom", url]
    # slow to start on this machine: generous
    p = subprocess.run(args, capture_output=True, text=True, timeout=240, env=dict(os.environ, HOME=home))
    assert p.returncode == 0 and os.path.exists(shot), f"chromium failed ({p.returncode}):\n{p.stderr[-3000:]}"
    with open(os.path.join(ARTIFACTS, name + ".html"), "w") as f:
        f.write(p.stdout)
    with open(shot, "rb") as f:
        png = f.read()
    assert png.startswith(b"\x89PNG"), "the screenshot is not a PNG"
    return Page(p.stdout), png


class Traffic(threading.Thread):
    """Requests one after another through ringside-call until stopped."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.done, self.ok, self.halt = sock, 0, 0, threading.Event()

    def run(self):
        while not self.halt.is_set():
            p = subprocess.run([RINGSIDE_CALL, "--socket", self.sock, "--data", CHAT], capture_output=True,
                               timeout=60)
            self.done += 1
            self.ok += p.returncode == 0
            time.sleep(0.02)

    def stop(self):
        self.halt.set()
        self.join(120)


def test_status_page_renders_live_numbers_in_chromium():
    mock = Mock()
    home = tempfile.mkdtemp(prefix="rs-chromium-")
    try:
        s = Sidecar(config=f"routes:\n  - {{name: primary, endpoint: {mock.url}}}\n")
        try:
            check_page(s, home)
        finally:
            problem = s.stop()
            assert not problem, problem
    finally:
        mock.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(f"status page screenshots and DOM dumps: {ARTIFACTS}")


def check_page(s, home):
    url = s.admin + "/status"
    # the page as served: HTML, no external asset (inline CSS and JS only)
    status, body = s.http("/status")
    assert status == 200 and body.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=|@import|url\(|https?://""", body), "the page loads something"

    # a known amount of traffic, then the page must show exactly it
    for _ in range(7):
        assert subprocess.run([RINGSIDE_CALL, "--socket", s.sock, "--data", CHAT], capture_output=True,
                              timeout=60).returncode == 0
    page, _ = render(url, "1-after-7-requests", home)
    assert page.by_id.get("total") == "7", page.by_id
    assert page.by_id.get("errors") == "0" and page.by_id.get("state") == "running", page.by_id
    row = page.route("primary")
    assert row[0] == "primary" and row[3] == "closed", row
    assert row[9] == "7" and row[10] == "7", row   # attempts, ok
    kinds = [r[1] for r in page.rows["events"][1:]]
    assert kinds and kinds[0] == "start", page.rows["events"]
    assert "connecting" not in page.by_id.get("conn", "") and "cannot reach" not in page.by_id.get("conn", "")

    # traffic keeps flowing: two renderings a few seconds apart differ
    traffic = Traffic(s.sock)
    traffic.start()
    try:
        deadline = time.monotonic() + 60
        while traffic.done < 5:
            assert time.monotonic() < deadline, "no traffic went through"
            time.sleep(0.1)
        first, shot1 = render(url, "2-traffic-flowing", home)
        time.sleep(3)
        second, shot2 = render(url, "3-a-few-seconds-later", home)
    finally:
        traffic.stop()
    assert traffic.ok == traffic.done, f"{traffic.done - traffic.ok} of {traffic.done} requests failed"
    n1, n2 = int(first.by_id["total"]), int(second.by_id["total"])
    assert 7 < n1 < n2 <= 7 + traffic.done, (n1, n2, traffic.done)
    assert int(first.route("primary")[10]) < int(second.route("primary")[10])
    for p in (first, second):
        assert float(p.by_id["rate"]) > 0, p.by_id
        assert p.by_id["err"] == "0.0 %" and p.by_id["lat"].endswith(" ms"), p.by_id
    assert shot1 != shot2, "the two screenshots are the same"
