"""What the packaging tests share (issue 15): each installs one binding
the way its users would — pip into a venv, gem into a GEM_HOME, luarocks
into a tree — from this repository, offline, then runs that language's
binding tests against the installed copy alone.

Every process gets a clean environment: no PYTHONPATH, RUBYLIB,
LUA_PATH/LUA_CPATH or LD_LIBRARY_PATH pointing into the build tree, no
pip configuration, a HOME of its own. So an installed package can only
come from where it was installed, and its extension can only load if it
needs nothing from the build tree.

meson sets RINGSIDE_SOURCE (the repository), RINGSIDE_PACKAGING_DIR (a
directory in the build tree for what the tests install, and their logs),
RINGSIDE_VERSION, and what the binding tests need (RINGSIDED,
RINGSIDE_MOCK_UPSTREAM).
"""
import os
import shutil
import subprocess
import time

SRC = os.path.realpath(os.environ["RINGSIDE_SOURCE"])
WORK = os.path.realpath(os.environ["RINGSIDE_PACKAGING_DIR"])
VERSION = os.environ["RINGSIDE_VERSION"]
HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(SRC, "tests", "bindings", "harness.py")
PYTHON = "/usr/bin/python3"   # the harness's; Debian's, as in tests/bindings


def clean_env(work, **extra):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.path.join(work, "home"),      # caches land here, not in the user's home
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,           # no pip.conf: the same run on every machine
        "PYTHONDONTWRITEBYTECODE": "1",          # no __pycache__ in the source tree
    }
    env.update(extra)
    return env


def binding_env(work, **extra):
    """clean_env plus where the binding tests find ringsided and the mock."""
    return clean_env(work, **{k: os.environ[k] for k in ("RINGSIDED", "RINGSIDE_MOCK_UPSTREAM", "RINGSIDE_VERSION")},
                     **extra)


def run(cmd, env, cwd, timeout=900):
    """Run, output and errors together in the result's stdout."""
    return subprocess.run(cmd, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout)


def fresh(work):
    """An empty work directory (with the HOME clean_env names)."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "home"))


def install(work, what, cmd, env, cwd):
    """Run an install command, timed; its output goes to <what>.log in the
    work directory, and its tail into the failure."""
    t0 = time.monotonic()
    r = run(cmd, env, cwd)
    took = time.monotonic() - t0
    with open(os.path.join(work, what + ".log"), "w") as f:
        f.write(r.stdout + f"\n{what}: exit {r.returncode} in {took:.1f} s\n")
    assert r.returncode == 0, f"{what} failed ({took:.1f} s):\n{r.stdout[-6000:]}"
    return took


def source_status():
    """What git says is changed or new in the source tree (ignored files
    such as build directories left out); None outside a git checkout."""
    r = subprocess.run(["git", "-C", SRC, "status", "--porcelain", "--untracked-files=all"],
                       text=True, capture_output=True)
    return r.stdout if r.returncode == 0 else None


def assert_source_untouched(before, leftovers):
    """The source tree is as git saw it before the install, and none of the
    build directories the installers make in it (leftovers) is left."""
    after = source_status()
    if before is not None:
        assert after == before, f"the install changed the source tree:\n{after}"
    left = [n for n in os.listdir(SRC) if n.startswith(leftovers) and os.path.isdir(os.path.join(SRC, n))]
    assert not left, f"a build directory was left in the source tree: {left}"


def assert_self_contained(ext, entry, work):
    """An installed extension carries the client library: no libringside.so,
    no search path into a build or install tree, every library it needs
    found, and only its entry point exported (package.map keeps its copy
    of the library private)."""
    env = clean_env(work)
    dyn = run(["readelf", "-d", ext], env, work).stdout
    assert "libringside" not in dyn, "the extension must link libringside statically:\n" + dyn
    assert "RPATH" not in dyn and "RUNPATH" not in dyn, "no search path into a build or install tree:\n" + dyn
    ldd = run(["ldd", ext], env, work).stdout
    assert "not found" not in ldd, ldd
    syms = [line.split()[-1] for line in run(["nm", "-D", "--defined-only", ext], env, work).stdout.splitlines()
            if line]
    assert syms == [entry], syms
