"""Real processes for the binding tests: the mock upstream and ringsided,
started on private ports and sockets, stopped by PID.

Used two ways:
  - imported by the pytest suite (tests/bindings/python/conftest.py);
  - as a runner for the Ruby and Lua suites, which cannot easily spawn and
    watch processes themselves (Lua has no PIDs at all):

        harness.py -- ruby tests/bindings/ruby/test_ringside.rb

    It starts one mock upstream and several sidecars, each configured for
    one kind of test, exports where they are, runs the command, stops
    everything and fails if a sidecar crashed or logged a sanitizer report:

      RS_MOCK_URL        the mock upstream (POST /_control there to make
                         every later request fail, lag, ...)
      RS_SOCK            a sidecar with the default policy, upstream = mock
      RS_SOCK_FAST       retries off (attempts: 1), 1 ms backoff: upstream
                         errors come back at once
      RS_SOCK_SHED       shedding every P1/P2 request once the upstream
                         has refused one (fraction 1.0, min_samples 1);
                         use it only for that
      RS_SOCK_QUEUE      1 request/s and a P2 queue of 1: the 3rd
                         concurrent P2 request is refused (RS_EQUEUEFULL)
      RS_SOCK_DOWN       retries off, its only route a closed port: every
                         upstream request fails to connect (RS_ECONNUP)
      RS_SOCK_VICTIM     a sidecar the test may kill: RS_PID_VICTIM is its PID
      RS_SOCK_DRAIN      a sidecar the test may SIGTERM (RS_PID_DRAIN): it
                         drains for up to 3 s (--grace-ms 3000), then exits

The processes themselves are tests/lib/ringside_procs.py, shared with the
end-to-end suite.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from ringside_procs import Mock, Sidecar  # noqa: E402,F401  (the suites use both)

FAST = """
retries: {attempts: 1}
routes:
  - {name: only, endpoint: %s}
"""

SHED = """
retries: {attempts: 1}
shedding: {fraction: 1.0, min_samples: 1}
routes:
  - {name: only, endpoint: %s}
"""

QUEUE = """
limits:
  global: {rps: 1, burst: 1}
priorities: {queue: {p2: 1}}
routes:
  - {name: only, endpoint: %s}
"""


def start_all():
    """The set of processes the Ruby and Lua suites run against."""
    mock = Mock()
    procs = {"mock": mock}
    try:
        procs["main"] = Sidecar(mock.url)
        procs["fast"] = Sidecar(config=FAST % mock.url)
        # shedding needs an upstream that always fails, apart from the
        # shared mock whose controls the suites change
        procs["shed_mock"] = shed_mock = Mock()
        shed_mock.control("x-mock-status: 503\n")
        procs["shed"] = Sidecar(config=SHED % shed_mock.url)
        procs["queue"] = Sidecar(config=QUEUE % mock.url)
        procs["down"] = Sidecar(config=FAST % "http://127.0.0.1:9")   # discard port: refused
        procs["victim"] = Sidecar(mock.url)
        procs["drain"] = Sidecar(mock.url, extra=("--grace-ms", "3000"))
    except Exception:
        stop_all(procs)
        raise
    return procs


def stop_all(procs):
    problems = []
    for name, p in procs.items():
        if isinstance(p, Sidecar):
            why = p.stop(killed_ok=(name in ("victim", "drain")))
            if why:
                problems.append(f"[{name}] {why}")
    for p in procs.values():
        if isinstance(p, Mock):
            p.stop()
    return problems


def main(argv):
    if "--" not in argv:
        print("usage: harness.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    procs = start_all()
    env = dict(os.environ,
               RS_MOCK_URL=procs["mock"].url,
               RS_SOCK=procs["main"].sock,
               RS_SOCK_FAST=procs["fast"].sock,
               RS_SOCK_SHED=procs["shed"].sock,
               RS_SOCK_QUEUE=procs["queue"].sock,
               RS_SOCK_DOWN=procs["down"].sock,
               RS_SOCK_VICTIM=procs["victim"].sock,
               RS_PID_VICTIM=str(procs["victim"].pid),
               RS_SOCK_DRAIN=procs["drain"].sock,
               RS_PID_DRAIN=str(procs["drain"].pid))
    env.pop("RINGSIDE_SOCKET", None)
    try:
        rc = subprocess.call(cmd, env=env)
    finally:
        problems = stop_all(procs)
    for p in problems:
        print(p, file=sys.stderr)
    return rc or (1 if problems else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
