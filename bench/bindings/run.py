"""run.py — what a language binding adds to a ringside round trip.

Starts one ringsided (its upstream is never used: every call goes to the
built-in "echo" route, answered inside the sidecar, so no network and no
mock take part), then runs the same loop of calls in C (rtt_c: rs_call),
Python, Ruby and Lua (client.request through the SWIG bindings), each in
its own process on its own client, in alternating rounds (C, Python, Ruby,
Lua, C, ...) so that every language sees the same mix of machine noise.
Each run reports the median of its 20 rounds' mean; the result per
language is the median of its runs.

    /usr/bin/python3 bench/bindings/run.py [--build DIR] [--calls N] [--runs K] [--body BYTES]

Output: a line per run, then one JSON line:
    {"bench":"bindings","c_rtt_us":..,"python_rtt_us":..,"ruby_rtt_us":..,"lua_rtt_us":..,...}

rtt_c comes from DIR/bench/bindings/rtt_c when meson built it, else it is
compiled here with cc against DIR/core/libringside.so.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "bindings"))


def c_program(build, tmp):
    built = os.path.join(build, "bench", "bindings", "rtt_c")
    if os.access(built, os.X_OK):
        return built
    out = os.path.join(tmp, "rtt_c")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-std=gnu11", "-I", os.path.join(ROOT, "core"), os.path.join(HERE, "rtt_c.c"),
                    "-L", os.path.join(build, "core"), "-lringside",
                    "-Wl,-rpath," + os.path.join(build, "core"), "-o", out], check=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build directory (default ./build)")
    ap.add_argument("--calls", type=int, default=40000, help="timed calls per run (default 40000)")
    ap.add_argument("--runs", type=int, default=5, help="runs per language (default 5)")
    ap.add_argument("--body", type=int, default=64, help="request body bytes (default 64)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["RINGSIDE_BUILD"] = build
    import harness   # after RINGSIDE_BUILD: it finds ringsided there

    tmp = tempfile.mkdtemp(prefix="rs-bindbench-")
    bind = os.path.join(build, "bindings")
    env = dict(os.environ,
               PYTHONPATH=os.path.join(bind, "python"),
               RUBYLIB=os.path.join(bind, "ruby"),
               LUA_PATH=os.path.join(bind, "lua", "?.lua") + ";;",
               LUA_CPATH=os.path.join(bind, "lua", "?.so") + ";;")
    args = [str(a.calls), str(a.body)]
    langs = {
        "c": [c_program(build, tmp)],
        "python": [os.environ.get("PYTHON", "/usr/bin/python3"), os.path.join(HERE, "rtt.py")],
        "ruby": [shutil.which("ruby") or "ruby", os.path.join(HERE, "rtt.rb")],
        "lua": [shutil.which("lua5.4") or "lua5.4", os.path.join(HERE, "rtt.lua")],
    }
    sidecar = harness.Sidecar("http://127.0.0.1:9")
    results = {lang: [] for lang in langs}
    try:
        for run in range(a.runs):
            for lang, cmd in langs.items():
                p = subprocess.run(cmd + [sidecar.sock] + args, env=env, capture_output=True, text=True,
                                   timeout=600)
                if p.returncode != 0:
                    raise SystemExit(f"{lang} failed: {p.stdout}{p.stderr}")
                line = json.loads(p.stdout.strip().splitlines()[-1])
                results[lang].append(line["rtt_us"])
                print(f"run {run + 1} {lang:7s} {line['rtt_us']:8.2f} us/call (mean of rounds {line['mean_us']:.2f})",
                      flush=True)
    finally:
        why = sidecar.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if why:
            print(why, file=sys.stderr)
    med = {lang: round(statistics.median(v), 2) for lang, v in results.items()}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
          f"body {a.body} bytes, {a.calls} calls x {a.runs} runs per language")
    out = {"bench": "bindings"}
    out.update({f"{lang}_rtt_us": med[lang] for lang in langs})
    out.update({"body_bytes": a.body, "calls": a.calls, "runs": a.runs})
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
