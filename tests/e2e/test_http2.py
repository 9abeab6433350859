"""HTTP/2 to the upstream (a route's http_version) and a route's own CA
(ca_file), against a real nginx serving TLS with HTTP/2 on 127.0.0.1."""
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import RINGSIDE_CALL, Sidecar, batch, write_config

ANSWER = ('{"id":"chatcmpl-nginx","object":"chat.completion","created":1700000000,"model":"deepseek-chat",'
          '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},"finish_reason":"stop"}],'
          '"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22}}')


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx_h2(tmp_path):
    """nginx with TLS and HTTP/2 (a certificate for 127.0.0.1 signed by a
    CA made here), answering every path with a fixed chat completion and
    an x-proto header naming the protocol it spoke; its stub_status on a
    plain port counts the connections it accepted."""
    if not shutil.which("nginx") or not shutil.which("openssl"):
        pytest.fail("nginx and openssl are needed (deploy/install-deps.sh installs them)")
    d = tmp_path / "nginx"
    d.mkdir()

    def ssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=ringside test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext")
    port, status_port = free_port(), free_port()
    (d / "nginx.conf").write_text(f"""worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    http2_max_concurrent_streams 512;
    ssl_certificate {d}/srv.pem;
    ssl_certificate_key {d}/srv.key;
    default_type application/json;
    location / {{ client_body_buffer_size 64k; add_header x-proto $server_protocol always;
                 return 200 '{ANSWER}'; }}
  }}
  server {{
    listen 127.0.0.1:{status_port};
    location / {{ stub_status; }}
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-p", str(d), "-c", str(d / "nginx.conf")], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{status_port}/", timeout=1).read()
            break
        except OSError:
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(d / 'error.log').read_text()}")
            time.sleep(0.05)

    def accepts():
        with urllib.request.urlopen(f"http://127.0.0.1:{status_port}/", timeout=10) as r:
            # "Active connections: 1\nserver accepts handled requests\n 5 5 12\n..."
            return int(re.search(r"\n\s*(\d+)\s+\d+\s+\d+", r.read().decode()).group(1)) - 1   # not this one
    yield {"url": f"https://127.0.0.1:{port}", "ca": str(d / "ca.pem"), "accepts": accepts}
    p.send_signal(signal.SIGQUIT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def routes_config(tmp_path, url, ca, **extra):
    keys = "".join(f", {k}: '{v}'" for k, v in extra.items())
    return write_config(tmp_path, "routes:\n"
                        f"  - {{name: tls, endpoint: {url}, ca_file: {ca}, "
                        f"concurrency: {{initial: 256, min: 1, max: 256}}{keys}}}\n")


def call_headers(s):
    p = subprocess.run([RINGSIDE_CALL, "--socket", s.sock, "--path", "/v1/chat/completions", "-v"],
                       input='{"model":"deepseek-chat","messages":[]}', capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["object"] == "chat.completion"
    return dict(line.split(": ", 1) for line in p.stderr.splitlines() if ": " in line)


def test_http2_over_tls_multiplexes_many_requests_on_few_connections(nginx_h2, tmp_path):
    with Sidecar(None, "--config", routes_config(tmp_path, nginx_h2["url"], nginx_h2["ca"])) as s:
        assert call_headers(s)["x-proto"] == "HTTP/2.0"   # the default (auto) negotiates HTTP/2
        before = nginx_h2["accepts"]()
        res = batch(s, 600, window=300)
        assert res["errors"] == {"RS_OK": 600}, res
        # 300 in flight at once, over the one connection, not one each
        assert nginx_h2["accepts"]() - before <= 4, nginx_h2["accepts"]()


def test_http_version_1_1_never_speaks_http2(nginx_h2, tmp_path):
    config = routes_config(tmp_path, nginx_h2["url"], nginx_h2["ca"], http_version="1.1")
    with Sidecar(None, "--config", config) as s:
        assert call_headers(s)["x-proto"] == "HTTP/1.1"
        before = nginx_h2["accepts"]()
        res = batch(s, 600, window=300)
        assert res["errors"] == {"RS_OK": 600}, res
        assert nginx_h2["accepts"]() - before >= 20   # a connection per request in flight


def test_an_upstream_certificate_outside_ca_file_is_refused(nginx_h2, tmp_path):
    # the system's CAs (no ca_file) do not know the test CA: the TLS
    # handshake fails and the call says so
    config = write_config(tmp_path, f"retries: {{attempts: 1}}\nroutes:\n  - {{name: tls, endpoint: {nginx_h2['url']}}}\n")
    with Sidecar(None, "--config", config) as s:
        p = subprocess.run([RINGSIDE_CALL, "--socket", s.sock, "--path", "/v1/chat/completions"],
                           input="{}", capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "RS_ECONNUP" in p.stderr and "certificate" in p.stderr, p.stderr

