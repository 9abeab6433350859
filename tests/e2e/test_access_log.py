"""The access log and request ids (issue #16): a JSON line per terminal
answer as access_log.level says, the id sent upstream as x-request-id and
handed back to the client, never a key or a body."""
import json
import subprocess

from conftest import RINGSIDE_CALL, Sidecar, run_client, write_config

CHAT = '{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}'


def call(s, *args):
    p = subprocess.run([RINGSIDE_CALL, "--socket", s.sock, "-v", *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def access_lines(text):
    out = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("type") == "access":
            out.append(doc)
    return out


def test_by_default_only_failures_get_a_line(mock):
    with Sidecar(mock.url) as s:
        assert call(s, "--data", CHAT)[0] == 0
        assert call(s, "--header", "x-mock-status: 503", "--data", CHAT)[0] != 0
        lines = access_lines(s.read_log())
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["outcome"] == "upstream_error" and line["status"] == 503 and line["route"] == "default"
    assert line["attempts"] == 3 and line["priority"] == 1 and line["client_pid"] > 0
    assert line["id"].startswith("rs-") and line["total_ms"] >= line["first_content_ms"] >= 0


def test_every_answer_to_a_file_with_its_id_sent_upstream_and_returned(mock, tmp_path):
    log = tmp_path / "access.jsonl"
    cfg = write_config(tmp_path, f"""
access_log: {{level: all, file: {log}}}
routes:
  - {{name: main, endpoint: {mock.url}, api_key_env: TEST_KEY}}
""")
    with Sidecar(None, "--config", cfg, env={"TEST_KEY": "sk-very-secret"}) as s:
        rc, out, err = call(s, "--data", CHAT)
        assert rc == 0, err
        # the mock answers "echo: <x-request-id>" when the header comes
        content = json.loads(out)["choices"][0]["message"]["content"]
        assert "echo: rs-" in content, content
        sent = content.split("echo: ")[1].split()[0]
        assert f"x-request-id: {sent}" in err.splitlines(), err   # and handed back with the answer
        rc, out, err = call(s, "--header", "x-request-id: mine-42", "--data", CHAT)
        assert rc == 0 and "echo: mine-42" in out, out
        assert call(s, "--route", "echo", "--data", "x")[0] == 0
    lines = access_lines(log.read_text())
    assert [l["id"] for l in lines] == [sent, "mine-42", lines[2]["id"]], lines
    assert [l["route"] for l in lines] == ["main", "main", "echo"] and all(l["outcome"] == "ok" for l in lines)
    text = log.read_text()
    assert "sk-very-secret" not in text and "deepseek-chat" not in text   # no key, no body


def test_level_off_and_a_bad_level(mock, tmp_path):
    cfg = write_config(tmp_path, "access_log: {level: off}\n")
    with Sidecar(mock.url, "--config", cfg) as s:
        assert call(s, "--header", "x-mock-status: 503", "--data", CHAT)[0] != 0
        assert access_lines(s.read_log()) == []
    bad = write_config(tmp_path, "access_log: {level: verbose}\n")
    from conftest import RINGSIDED
    p = subprocess.run([RINGSIDED, "--check-config", bad], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "access_log.level: 'verbose' is not one of off, errors, all" in p.stderr


def test_a_sample_under_one_keeps_some_lines_not_all(mock, tmp_path):
    # 400 answers at sample 0.5: about 200 lines (binomial, sd 10). The
    # bounds are 10 sd out: never crossed by chance, but by a sample that
    # keeps every line or none, or ignores the rate
    log = tmp_path / "access.jsonl"
    cfg = write_config(tmp_path, f"access_log: {{level: all, sample: 0.5, file: {log}}}\n")
    with Sidecar(mock.url, "--config", cfg) as s:
        _, line, _ = run_client(s, "load", 2, 200, "echo")
        assert json.loads(line)["completed"] == 400, line
    lines = access_lines(log.read_text())
    assert 100 < len(lines) < 300, len(lines)
    assert all(l["outcome"] == "ok" and l["route"] == "echo" for l in lines)
    assert len({l["id"] for l in lines}) == len(lines)   # each a different answer
