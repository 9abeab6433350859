"""rtt.py — the Python side of the bindings benchmark: round trips of
client.request() on the sidecar's "echo" route, measured as rtt_c.c does
(warm-up, then the median of 20 rounds' mean).

    rtt.py SOCKET N BODY_BYTES      → {"lang":"python","n":...,"rtt_us":...,"mean_us":...}
"""
import json
import statistics
import sys
import time

import ringside

ROUNDS = 20


def main():
    sock, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    body = b"x" * size
    per = n // ROUNDS
    with ringside.Client(sock) as c:
        for _ in range(n // 10):
            c.request("POST", "/echo", body, route="echo")
        rounds = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for _ in range(per):
                r = c.request("POST", "/echo", body, route="echo")
                if len(r.body) != size:
                    raise SystemExit("wrong echo")
            rounds.append((time.perf_counter() - t0) / per * 1e6)
    print(json.dumps({"lang": "python", "n": per * ROUNDS, "rtt_us": round(statistics.median(rounds), 2),
                      "mean_us": round(statistics.fmean(rounds), 2)}))


if __name__ == "__main__":
    main()
