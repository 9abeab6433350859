#!/usr/bin/env python3
"""What issue #13 asks of the code's shape, checked on every build:

  1. the sidecar's modules call one way: in the graph of which object file
     uses a symbol another defines (from nm), there is no cycle, and the
     order printed bottom to top is the one README.md's "Layout" gives;
  2. libringside.so carries no policy code (no symbol the policy library
     defines is defined in it);
  3. no product .c file (core/, sidecar/, tools/, bindings/) is over 800
     lines.

usage: check_structure.py SOURCE_ROOT SIDECAR_OBJECT_DIR LIBRINGSIDE_SO POLICY_ARCHIVE
"""
import glob
import os
import subprocess
import sys

MAX_LINES = 800


def nm(path, *flags):
    out = subprocess.run(["nm", *flags, path], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def call_graph(objdir):
    defs, uses = {}, {}
    for obj in sorted(glob.glob(os.path.join(objdir, "*.o"))):
        mod = os.path.basename(obj).split(".")[0]
        uses[mod] = set()
        for f in nm(obj):
            if len(f) == 2 and f[0] == "U":
                uses[mod].add(f[1])
            elif len(f) == 3 and f[1] in "TDBR":
                defs[f[2]] = mod
    return {m: {defs[s] for s in syms if s in defs and defs[s] != m} for m, syms in uses.items()}


def topo_order(graph):
    """Bottom (called by others, calls none of them) to top, or the cycle."""
    order, state = [], {}

    def visit(m, path):
        if state.get(m) == "done":
            return None
        if state.get(m) == "open":
            return path[path.index(m):] + [m]
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            cycle = visit(n, path + [m])
            if cycle:
                return cycle
        state[m] = "done"
        order.append(m)
        return None

    for m in sorted(graph):
        cycle = visit(m, [])
        if cycle:
            return None, cycle
    return order, None


def main():
    root, objdir, so, policy = sys.argv[1:5]
    problems = []

    graph = call_graph(objdir)
    order, cycle = topo_order(graph)
    if cycle:
        problems.append("sidecar modules call each other in a circle: " + " -> ".join(cycle))
    else:
        print("sidecar modules, bottom to top:", " ".join(order))

    policy_defs = {f[2] for f in nm(policy) if len(f) == 3 and f[1] in "TDBR"}
    lib_defs = {f[2] for f in nm(so, "--defined-only") if len(f) == 3}
    leaked = sorted(policy_defs & lib_defs)
    if leaked:
        problems.append("libringside.so carries policy code: " + ", ".join(leaked[:10]))

    for top in ("core", "sidecar", "tools", "bindings"):
        for path in glob.glob(os.path.join(root, top, "**", "*.c"), recursive=True):
            with open(path, errors="replace") as f:
                n = sum(1 for _ in f)
            if n > MAX_LINES:
                problems.append(f"{os.path.relpath(path, root)} is {n} lines (at most {MAX_LINES})")

    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
