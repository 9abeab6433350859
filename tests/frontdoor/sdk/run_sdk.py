"""Run the OpenAI SDK check (sdk_check.mjs) from Python, without pytest.

    from run_sdk import run_sdk_check, kit_problem
    why = kit_problem()            # "" when node and the installed kit are there
    r = run_sdk_check("http://127.0.0.1:PORT/v1", "KEY")                  # chat, stream, abort
    r = run_sdk_check(url, None, "--checks", "error", "--expect-error", "429")
    assert r["ok"], r["failed"]

api_key None (or "") sends no Authorization header at all (--no-auth).
The key goes to node through the environment (OPENAI_API_KEY), never argv.
The result is the script's JSON line, plus "exit" (its exit status: 0 all
passed, 1 a check failed) and "stderr" (its last 2000 characters).
Install the kit first: tests/frontdoor/sdk/install.sh (npm ci).
"""
import json
import os
import shutil
import subprocess

KIT = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(KIT, "sdk_check.mjs")


def node_binary():
    return os.environ.get("NODE") or shutil.which("node") or "/usr/bin/node"


def kit_problem():
    """Why the kit cannot run here ("" if it can): for a test to skip on."""
    if not os.access(node_binary(), os.X_OK):
        return "node is not installed (deploy/install-deps.sh)"
    if not os.path.isfile(os.path.join(KIT, "node_modules", "openai", "package.json")):
        return f"the SDK kit is not installed: run {os.path.join(KIT, 'install.sh')}"
    return ""


def run_sdk_check(base_url, api_key, *args, timeout=120):
    """Run sdk_check.mjs against base_url with the extra command-line args
    (e.g. "--checks", "error", "--expect-error", "429") and return its
    parsed JSON result. Raises RuntimeError when the kit is missing, the
    script prints no JSON (bad usage: exit 2) or it outlives timeout."""
    why = kit_problem()
    if why:
        raise RuntimeError(why)
    env = dict(os.environ)
    env.pop("OPENAI_BASE_URL", None)
    argv = [node_binary(), SCRIPT, "--base-url", base_url]
    if api_key:
        env["OPENAI_API_KEY"] = api_key
    else:
        env.pop("OPENAI_API_KEY", None)
        argv.append("--no-auth")
    argv += [str(a) for a in args]
    try:
        p = subprocess.run(argv, cwd=KIT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"sdk_check.mjs ran over {timeout} s: {(e.stderr or '')[-2000:]}") from None
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"sdk_check.mjs exited {p.returncode} without a result:\n"
                           f"{p.stdout[-2000:]}{p.stderr[-2000:]}")
    result = json.loads(lines[-1])
    result["exit"] = p.returncode
    result["stderr"] = p.stderr[-2000:]
    return result


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 2:
        sys.exit("usage: run_sdk.py BASE_URL [API_KEY|-] [sdk_check.mjs args...]")
    key = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    r = run_sdk_check(sys.argv[1], key, *sys.argv[3:])
    print(json.dumps(r))
    sys.exit(0 if r["ok"] else 1)
