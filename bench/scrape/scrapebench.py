"""scrapebench.py — does scraping /metrics slow the data path? (issue #16)

Runs ringbench (its busy and asleep rs_call echo round trips through a
real ringsided) in alternating pairs: once alone, once while a scraper
fetches http://127.0.0.1:9464/metrics ten times a second. ringbench's
sidecars take the admin listener's default address, so the scrapes reach
the sidecar being measured (run with --no-epoll: one sidecar at a time;
nothing else may hold 127.0.0.1:9464). The scraper counts the pages it got:
a run where it got none measured nothing and is reported as such.

    /usr/bin/python3 bench/scrape/scrapebench.py [--build DIR] [--pairs N] [--quick]

Prints each run, then one JSON line {"bench":"scrape",...} with the
medians of both sides and their ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KEYS = ("rtt_p50_ns", "rtt_p99_ns", "sleep_rtt_p50_ns")


class Scraper(threading.Thread):
    def __init__(self, hz):
        super().__init__(daemon=True)
        self.period, self.pages, self.bytes, self.stop = 1.0 / hz, 0, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                with urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=1) as r:
                    self.bytes += len(r.read())
                    self.pages += 1
            except OSError:
                pass   # between ringbench's sidecars nobody listens
            self.stop.wait(max(0.0, self.period - (time.monotonic() - t)))


def ringbench(build, quick):
    args = [os.path.join(build, "bench/ring/ringbench"), "--no-epoll", os.path.join(build, "sidecar/ringsided")]
    if quick:
        args.insert(1, "--quick")
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--hz", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    runs = {"alone": [], "scraped": []}
    scraped_pages = []
    for i in range(a.pairs):
        for side in (("alone", "scraped") if i % 2 == 0 else ("scraped", "alone")):
            s = Scraper(a.hz) if side == "scraped" else None
            if s:
                s.start()
            r = ringbench(a.build, a.quick)
            if s:
                s.stop.set()
                s.join()
                scraped_pages.append(s.pages)
            runs[side].append(r)
            print(f"pair {i + 1} {side:7}: " + ", ".join(f"{k} {r[k]}" for k in KEYS) +
                  (f"; {s.pages} pages scraped ({s.bytes // max(s.pages, 1)} bytes each)" if s else ""))
    med = {side: {k: statistics.median(r[k] for r in rs) for k in KEYS} for side, rs in runs.items()}
    out = {"bench": "scrape", "hz": a.hz, "pairs": a.pairs, "pages_scraped": scraped_pages,
           "measured": all(p > 0 for p in scraped_pages)}
    for k in KEYS:
        out[f"alone_{k}"] = med["alone"][k]
        out[f"scraped_{k}"] = med["scraped"][k]
        out[f"ratio_{k}"] = round(med["scraped"][k] / med["alone"][k], 3) if med["alone"][k] else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
