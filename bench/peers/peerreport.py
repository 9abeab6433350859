"""peerreport — what bench/peers makes of its runs (see README.md there).

Owns: the medians over rounds per target and concurrency, the added
latency (a target's percentile minus direct's), the ratios to HAProxy,
issue #18's goals, and the outputs: the Markdown table, the gnuplot data,
script and PNG, and the run's description (commit, machine, versions).
"""
import json
import os
import re
import shutil
import statistics
import subprocess

from peerprocs import HERE, log

ROOT = os.path.dirname(os.path.dirname(HERE))


def median(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 2) if xs else None


def ratio(x, y):
    return round(x / y, 3) if x is not None and y else None


def summarize(runs, targets, concs):
    res = {}
    for t in targets:
        res[t] = {}
        for c in concs:
            rs = [r for r in runs if r["target"] == t and r["conc"] == c]
            if not rs:
                continue
            m = {k: median([r.get(k) for r in rs])
                 for k in ("rps", "p50_us", "p99_us", "p999_us", "cpu_us_per_req", "upstream_cpu_us_per_req",
                           "loadgen_cpu_us_per_req", "other_cores")}
            for k in ("raw_p50_us", "raw_p99_us", "raw_p999_us", "sidecar_p50_us",
                      "sidecar_queued_p50_us"):   # the ring's
                if any(k in r for r in rs):
                    m[k] = median([r.get(k) for r in rs])
            rss = [r["peak_rss_kib"] for r in rs if r.get("peak_rss_kib")]
            m["peak_rss_kib"] = max(rss) if rss else None
            m["non2xx"] = sum(r["non2xx"] for r in rs)
            m["errors"] = sum(r["errors"] for r in rs)
            m["upstream_ok"] = all(r["upstream_ok"] for r in rs)
            m["rounds"] = len(rs)
            res[t][str(c)] = m
    if "direct" in res:
        for t in targets:
            for c, m in res[t].items():
                d = res["direct"].get(c)
                for p in ("p50", "p99", "p999"):
                    m[f"added_{p}_us"] = (round(m[f"{p}_us"] - d[f"{p}_us"], 1)
                                          if t != "direct" and d and m[f"{p}_us"] is not None else None)
    over = {}
    if "haproxy" in res:
        for t in targets:
            if t in ("direct", "haproxy"):
                continue
            over[t] = {}
            for c, m in res[t].items():
                h = res["haproxy"].get(c)
                if not h:
                    continue
                over[t][c] = {
                    "rps": ratio(m["rps"], h["rps"]),
                    "cpu_us_per_req": ratio(m["cpu_us_per_req"], h["cpu_us_per_req"]),
                    "added_p50": ratio(m.get("added_p50_us"), h.get("added_p50_us")),
                    "added_p99": ratio(m.get("added_p99_us"), h.get("added_p99_us")),
                    "p99": ratio(m["p99_us"], h["p99_us"]),
                    "peak_rss": ratio(m["peak_rss_kib"], h["peak_rss_kib"]),
                }
    return res, over


def goals18(res, over, concs):
    """Issue #18's goals for the ring, where this run can tell."""
    ring = over.get("ringside-ring")
    if not ring:
        return None
    g = {}
    for c in ("32", "256"):
        if c in ring:
            g[f"rps_ge_haproxy_c{c}"] = ring[c]["rps"] is not None and ring[c]["rps"] >= 1.0
            g[f"cpu_le_haproxy_c{c}"] = ring[c]["cpu_us_per_req"] is not None and ring[c]["cpu_us_per_req"] <= 1.0
    if "1" in ring and "direct" in res:
        a_r = res["ringside-ring"]["1"].get("added_p50_us")
        a_h = res["haproxy"]["1"].get("added_p50_us")
        g["added_p50_le_haproxy_c1"] = a_r is not None and a_h is not None and a_r <= a_h
    return g


def fmt(x, nd=0):
    if x is None:
        return "–"
    return f"{x:,.{nd}f}" if isinstance(x, (int, float)) else str(x)


def write_markdown(path, meta, res, over, targets, concs):
    L = [f"# bench/peers — {meta['date']}", "",
         f"`{meta['command']}`", "",
         f"ringsided {meta['ringsided_version']} at commit {meta['commit']} ({meta['build']}); "
         f"{meta['machine']}; {meta['rounds']} rounds × {meta['seconds']} s per run, "
         "target order rotating per round; medians over rounds (peak RSS: the highest).", "",
         "Added latency is the target's percentile minus direct's at the same concurrency; "
         "CPU is the proxy's utime+stime (all its threads and processes) per answered request; "
         "×HAProxy are ratios to HAProxy in this run.", "",
         "| target | c | req/s | ×HAProxy | added p50 µs | added p99 µs | added p99.9 µs | CPU µs/req "
         "| ×HAProxy | peak RSS MiB | ×HAProxy | upstream count | errors |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in concs:
        for t in targets:
            m = res[t].get(str(c))
            if not m:
                continue
            o = over.get(t, {}).get(str(c), {})
            rss = m["peak_rss_kib"] / 1024 if m["peak_rss_kib"] else None
            L.append(f"| {t} | {c} | {fmt(m['rps'])} | {fmt(o.get('rps'), 2)} | {fmt(m.get('added_p50_us'))} "
                     f"| {fmt(m.get('added_p99_us'))} | {fmt(m.get('added_p999_us'))} "
                     f"| {fmt(m['cpu_us_per_req'], 1)} | {fmt(o.get('cpu_us_per_req'), 2)} | {fmt(rss, 1)} "
                     f"| {fmt(o.get('peak_rss'), 2)} | {'ok' if m['upstream_ok'] else 'MISMATCH'} "
                     f"| {m['errors'] + m['non2xx']} |")
    L += ["", "Absolute latency (µs, p50 / p99 / p99.9), as wrk reports it: corrected for coordinated "
          "omission (ringside-ring's by ringload the same way; README.md):", "",
          "| target | " + " | ".join(f"c={c}" for c in concs) + " |",
          "|---|" + "---|" * len(concs)]
    for t in targets:
        cells = []
        for c in concs:
            m = res[t].get(str(c))
            cells.append(f"{fmt(m['p50_us'])} / {fmt(m['p99_us'])} / {fmt(m['p999_us'])}" if m else "–")
        L.append(f"| {t} | " + " | ".join(cells) + " |")
    if "ringside-ring" in res:
        cells = []
        for c in concs:
            m = res["ringside-ring"].get(str(c))
            cells.append(f"{fmt(m.get('raw_p50_us'))} / {fmt(m.get('raw_p99_us'))} / {fmt(m.get('raw_p999_us'))}"
                         f" (sidecar {fmt(m.get('sidecar_p50_us'))}, queued {fmt(m.get('sidecar_queued_p50_us'))})"
                         if m else "–")
        L.append("| ringside-ring, raw (the sidecar's p50: in all, before sending) | " + " | ".join(cells) + " |")
    L += ["", "Load generator CPU µs/req (wrk, or ringload for ringside-ring), upstream (nginx) CPU µs/req, "
          "and other load on the machine (cores busy beyond the processes measured):", "",
          "| target | " + " | ".join(f"c={c}" for c in concs) + " |",
          "|---|" + "---|" * len(concs)]
    for t in targets:
        cells = []
        for c in concs:
            m = res[t].get(str(c))
            cells.append(f"{fmt(m['loadgen_cpu_us_per_req'], 1)} / {fmt(m['upstream_cpu_us_per_req'], 1)} / "
                         f"{fmt(m['other_cores'], 2)}" if m else "–")
        L.append(f"| {t} | " + " | ".join(cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def write_plot(out, res, targets, concs, title):
    """peers.dat + peers.gp, and peers.png when gnuplot is there."""
    dat = os.path.join(out, "peers.dat")
    with open(dat, "w") as f:
        f.write("# conc " + " ".join(f"{t}_rps {t}_cpu" for t in targets) + "\n")
        for c in concs:
            row = [str(c)]
            for t in targets:
                m = res[t].get(str(c), {})
                row.append(str(m.get("rps")) if m.get("rps") is not None else "-")
                row.append(str(m.get("cpu_us_per_req")) if m.get("cpu_us_per_req") is not None else "-")
            f.write(" ".join(row) + "\n")
    names = " ".join(targets)
    xtics = ", ".join(f'"{c}" {c}' for c in concs)
    gp = os.path.join(out, "peers.gp")
    have_cairo = False
    if shutil.which("gnuplot"):
        p = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
        have_cairo = "pngcairo" in (p.stdout + p.stderr)
    term = "pngcairo size 1400,620 font ',11'" if have_cairo else "png size 1400,620"
    # one colour per target in both panels, whichever targets ran
    palette = {"direct": "#808080", "haproxy": "#1f77b4", "nginx": "#2ca02c", "portkey": "#9467bd",
               "ringside-ring": "#d62728", "ringside-door": "#ff7f0e"}
    styles = "\n".join(f"set linetype {i} lc rgb '{palette[t]}' lw 2 pt 7" for i, t in enumerate(targets, 1))
    with open(gp, "w") as f:
        f.write(f"""# written by bench/peers/peers.py: gnuplot peers.gp
set terminal {term}
set output 'peers.png'
set datafile missing "-"
names = "{names}"
{styles}
set multiplot layout 1,2 title "{title}"
set logscale x 2
set xrange [{min(concs) / 1.5}:{max(concs) * 1.5}]
set xtics ({xtics})
set xlabel "requests in flight"
set grid
set bmargin 7
set key at screen 0.5, screen 0.02 center bottom horizontal
set title "req/s (higher is better)"
set logscale y
plot for [i=1:words(names)] 'peers.dat' using 1:(column(2*i)) with linespoints lt i title word(names, i)
set title "proxy CPU µs per request (lower is better)"
unset key
plot for [i=1:words(names)] 'peers.dat' using 1:(column(2*i+1)) with linespoints lt i notitle
unset multiplot
""")
    if not shutil.which("gnuplot"):
        log("gnuplot is missing: no PNG (bench/peers/install.sh installs gnuplot-nox)")
        return None
    p = subprocess.run(["gnuplot", "peers.gp"], cwd=out, capture_output=True, text=True)
    if p.returncode != 0:
        log(f"gnuplot failed: {p.stderr[-500:]}")
        return None
    return os.path.join(out, "peers.png")


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            model = m.group(1).strip() if m else ""
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU {model}, Linux {os.uname().release}"


def versions(ringsided):
    def out(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            return (p.stdout + p.stderr).strip()
        except Exception:
            return ""
    v = {}
    m = re.search(r"HAProxy version (\S+)", out(["haproxy", "-v"]))
    v["haproxy"] = m.group(1) if m else None
    m = re.search(r"nginx/(\S+)", out(["nginx", "-v"]))
    v["nginx"] = m.group(1) if m else None
    m = re.search(r"wrk (\S+)", out(["wrk", "-v"]))
    v["wrk"] = m.group(1) if m else None
    v["node"] = out(["node", "--version"]) or None
    try:
        with open(os.path.join(HERE, "portkey", "node_modules", "@portkey-ai", "gateway", "package.json")) as f:
            v["portkey"] = json.load(f)["version"]
    except OSError:
        v["portkey"] = None
    v["ringsided"] = out([ringsided, "--version"]).splitlines()[0] if ringsided else None
    return v


def git_commit():
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"
