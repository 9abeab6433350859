#!/usr/bin/env python3
"""Writes ringside's seccomp profile: a container runtime's default profile
plus the three io_uring syscalls, and nothing else.

    deploy/seccomp/make-profile.py [DEFAULT_PROFILE] > deploy/seccomp/ringside.json
    deploy/seccomp/make-profile.py --check [DEFAULT_PROFILE]   # exit 1 if it differs

DEFAULT_PROFILE defaults to podman's, /usr/share/containers/seccomp.json
(Debian package golang-github-containers-common, installed with podman);
Docker's is moby's profiles/seccomp/default.json, the same format. The
committed ringside.json was made from Debian 12's podman 4.3 profile.

Why a whole profile and not a delta: a Localhost seccomp profile (Kubernetes,
`podman run --security-opt seccomp=FILE`, `docker run --security-opt
seccomp=FILE`) replaces the runtime's default rather than extending it, so
the file must carry the default's rules itself. Those defaults refuse
io_uring_setup (ENOSYS: podman, Docker >= 25, containerd's RuntimeDefault)
because io_uring operations are carried out by the kernel without passing
through seccomp: a workload allowed io_uring can do, through it, what the
filter would refuse as syscalls (open files, connect sockets, ...). Allowing
it for ringsided is that trade; ringsided runs without it too (its epoll
backend), just with more syscalls per event.
"""
import json
import sys

IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
DEFAULT = "/usr/share/containers/seccomp.json"


def make(default):
    prof = json.loads(default)
    rules = prof["syscalls"]
    # drop io_uring from every rule first (a profile that already lists it,
    # allowed or refused), so the result is the same whatever the input says
    for r in rules:
        names = r.get("names") or ([r["name"]] if r.get("name") else [])
        if any(n in IO_URING for n in names):
            r["names"] = [n for n in names if n not in IO_URING]
            r.pop("name", None)
    prof["syscalls"] = [r for r in rules if r.get("names") or r.get("name")]
    # just after the first unconditional allow list, where a reader of a
    # diff against the default finds it
    at = next((i + 1 for i, r in enumerate(prof["syscalls"])
               if r.get("action") == "SCMP_ACT_ALLOW" and not r.get("args")
               and not r.get("includes") and not r.get("excludes")), 0)
    prof["syscalls"].insert(at, {
        "names": IO_URING,
        "action": "SCMP_ACT_ALLOW",
        "comment": "ringside: io_uring for ringsided's event loop "
                   "(deploy/seccomp/make-profile.py)",
    })
    return json.dumps(prof, indent="\t") + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    src = args[0] if args else DEFAULT
    with open(src) as f:
        out = make(f.read())
    if not check:
        sys.stdout.write(out)
        return 0
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    with open(here + "/ringside.json") as f:
        if f.read() == out:
            return 0
    print(f"deploy/seccomp/ringside.json is not {src} plus io_uring; regenerate it:\n"
          f"  deploy/seccomp/make-profile.py {src} > deploy/seccomp/ringside.json",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
