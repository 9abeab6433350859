"""`pip install` of the Python binding (issue 15), as a user would run it:
into a fresh venv, from the repository, then used from that venv alone.

Offline, like every test here: the venv sees Debian's packages
(--system-site-packages: python3-mesonpy, pytest, mypy) and pip builds
with them (--no-build-isolation --no-index). Every process after the
install gets a clean environment: no PYTHONPATH, no LD_LIBRARY_PATH, no
pip configuration, so the package can only come from the venv and its
extension can only load if it needs nothing from the build tree.

meson sets RINGSIDE_SOURCE (the repository), RINGSIDE_PACKAGING_DIR (a
directory in the build tree for the venv and logs), RINGSIDE_VERSION and
what the binding tests need (RINGSIDED, RINGSIDE_MOCK_UPSTREAM).
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

SRC = os.path.realpath(os.environ["RINGSIDE_SOURCE"])
WORK = os.path.realpath(os.environ["RINGSIDE_PACKAGING_DIR"])
VENV = os.path.join(WORK, "venv")
PY = os.path.join(VENV, "bin", "python")
VERSION = os.environ["RINGSIDE_VERSION"]
HERE = os.path.dirname(os.path.abspath(__file__))

# What the wheel holds under site-packages, besides its .dist-info and the
# extension module (whose name carries the interpreter's ABI tag)
PACKAGE_FILES = {"ringside/__init__.py", "ringside/__init__.pyi", "ringside/py.typed"}


def clean_env(**extra):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,           # no pip.conf: the same run on every machine
        "PYTHONDONTWRITEBYTECODE": "1",          # no __pycache__ in the source tree
        "MYPY_CACHE_DIR": os.path.join(WORK, "mypy-cache"),
    }
    env.update(extra)
    return env


def run(cmd, **kw):
    """Run in the clean environment, from the work directory (so the current
    directory on sys.path is not the source tree); output to the log."""
    kw.setdefault("env", clean_env())
    kw.setdefault("cwd", WORK)
    return subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def source_status():
    """What git says is changed or new in the source tree (ignored files
    such as build directories left out); None outside a git checkout."""
    r = subprocess.run(["git", "-C", SRC, "status", "--porcelain", "--untracked-files=all"],
                       text=True, capture_output=True)
    return r.stdout if r.returncode == 0 else None


@pytest.fixture(scope="module")
def venv():
    """A fresh venv with the package pip-installed from the repository; the
    install's output and time go to pip-install.log beside it."""
    shutil.rmtree(VENV, ignore_errors=True)
    os.makedirs(WORK, exist_ok=True)
    before = source_status()
    r = run([sys.executable, "-m", "venv", "--system-site-packages", VENV])
    assert r.returncode == 0, f"python3 -m venv failed (apt-get install python3-venv):\n{r.stdout}"
    t0 = time.monotonic()
    r = run([PY, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-cache-dir",
             "--disable-pip-version-check", SRC])
    took = time.monotonic() - t0
    with open(os.path.join(WORK, "pip-install.log"), "w") as f:
        f.write(r.stdout + f"\npip install: exit {r.returncode} in {took:.1f} s\n")
    assert r.returncode == 0, f"pip install failed ({took:.1f} s):\n{r.stdout[-6000:]}"
    return {"status_before": before, "seconds": took}


def installed(venv):
    """Where the venv's interpreter finds the package, and what pip recorded."""
    code = (
        "import json, sysconfig, importlib.metadata as md, ringside, ringside._ringside as ext\n"
        "print(json.dumps({'init': ringside.__file__, 'ext': ext.__file__, 'version': ringside.__version__,\n"
        "  'dist_version': md.version('ringside'), 'platlib': sysconfig.get_paths()['platlib'],\n"
        "  'files': [str(f) for f in md.files('ringside')]}))\n"
    )
    r = run([PY, "-c", code])
    assert r.returncode == 0, f"import ringside from the venv failed:\n{r.stdout}"
    return json.loads(r.stdout.splitlines()[-1])


def test_package_comes_from_the_venv(venv):
    info = installed(venv)
    platlib = os.path.realpath(info["platlib"])
    assert platlib.startswith(VENV + os.sep)
    for f in (info["init"], info["ext"]):
        assert os.path.realpath(f).startswith(platlib + os.sep), f"{f} is not in the venv's {platlib}"
    assert info["version"] == VERSION and info["dist_version"] == VERSION


def test_wheel_holds_the_package_only(venv):
    # pip's RECORD also lists the dist-info and the bytecode pip compiled
    files = {f for f in installed(venv)["files"] if ".dist-info/" not in f and "/__pycache__/" not in f}
    ext = {f for f in files if f.startswith("ringside/_ringside.") and f.endswith(".so")}
    assert len(ext) == 1, files
    assert files - ext == PACKAGE_FILES, "the wheel must hold the package ringside alone"


def test_extension_needs_nothing_from_the_build(venv):
    ext = installed(venv)["ext"]
    dyn = run(["readelf", "-d", ext]).stdout
    assert "libringside" not in dyn, "the extension must link libringside statically:\n" + dyn
    assert "RPATH" not in dyn and "RUNPATH" not in dyn, "no search path into a build or install tree:\n" + dyn
    ldd = run(["ldd", ext]).stdout
    assert "not found" not in ldd, ldd
    # its copy of the client library stays private (wheel.map)
    syms = [line.split()[-1] for line in run(["nm", "-D", "--defined-only", ext]).stdout.splitlines() if line]
    assert syms == ["PyInit__ringside"], syms


def test_binding_tests_pass_from_the_venv(venv):
    """tests/bindings/python, run by the venv's interpreter, with the
    package it imports checked to be the venv's first."""
    tests = os.path.join(SRC, "tests", "bindings", "python")
    runner = (
        "import sys, ringside, pytest\n"
        f"assert ringside.__file__.startswith({VENV + os.sep!r}), ringside.__file__\n"
        f"sys.exit(pytest.main(['-p', 'no:cacheprovider', '-q', {tests!r}]))\n"
    )
    env = clean_env(**{k: os.environ[k] for k in ("RINGSIDED", "RINGSIDE_MOCK_UPSTREAM", "RINGSIDE_BUILD",
                                                   "RINGSIDE_VERSION")})
    r = run([PY, "-c", runner], env=env, timeout=900)
    print(r.stdout)
    assert r.returncode == 0, "the Python binding tests failed from the venv:\n" + r.stdout[-8000:]


def test_type_hints(venv):
    """The stub matches the installed package (mypy's stubtest: a name or
    argument added in __init__.py and not in __init__.pyi fails), and a
    caller's code checks under --strict with the types it should get."""
    r = run([PY, "-m", "mypy.stubtest", "--concise", "ringside"])
    assert r.returncode == 0, "__init__.pyi does not match ringside/__init__.py:\n" + r.stdout
    r = run([PY, "-m", "mypy", "--strict", "--warn-unused-ignores", os.path.join(HERE, "typing_usage.py")])
    assert r.returncode == 0, "type hints of the installed package:\n" + r.stdout


def test_source_tree_untouched(venv):
    """pip builds in a temporary directory: the source tree is as it was
    (git status), and no build directory of meson-python's is left in it."""
    after = source_status()
    if venv["status_before"] is not None:
        assert after == venv["status_before"], f"pip install changed the source tree:\n{after}"
    left = [n for n in os.listdir(SRC) if n.startswith(".mesonpy-") and os.path.isdir(os.path.join(SRC, n))]
    assert not left, f"meson-python left its build directory in the source tree: {left}"
