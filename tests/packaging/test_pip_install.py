"""`pip install` of the Python binding (pyproject.toml, meson-python) into
a fresh venv, then the package used from that venv alone.

Offline: the venv sees Debian's packages (--system-site-packages:
python3-mesonpy, pytest, mypy) and pip builds with them
(--no-build-isolation --no-index).
"""
import json
import os
import sys

import pytest

from pkgtest import HERE, SRC, VERSION, WORK, assert_self_contained, assert_source_untouched, binding_env, \
    clean_env, fresh, install, run, source_status

DIR = os.path.join(WORK, "pip")
VENV = os.path.join(DIR, "venv")
PY = os.path.join(VENV, "bin", "python")

# What the wheel holds besides its .dist-info and the extension module
# (whose name carries the interpreter's ABI tag)
PACKAGE_FILES = {"ringside/__init__.py", "ringside/__init__.pyi", "ringside/py.typed"}


def env(**extra):
    return clean_env(DIR, MYPY_CACHE_DIR=os.path.join(DIR, "mypy-cache"), **extra)


@pytest.fixture(scope="module")
def venv():
    """A fresh venv with the package pip-installed from the repository
    (output and time in pip-install.log)."""
    fresh(DIR)
    before = source_status()
    r = run([sys.executable, "-m", "venv", "--system-site-packages", VENV], env(), DIR)
    assert r.returncode == 0, f"python3 -m venv failed (apt-get install python3-venv):\n{r.stdout}"
    install(DIR, "pip-install", [PY, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                                 "--no-cache-dir", "--disable-pip-version-check", SRC], env(), DIR)
    return before


def installed():
    """Where the venv's interpreter finds the package (run from the work
    directory, so the current directory on sys.path is not the source
    tree), and what pip recorded."""
    code = (
        "import json, sysconfig, importlib.metadata as md, ringside, ringside._ringside as ext\n"
        "print(json.dumps({'init': ringside.__file__, 'ext': ext.__file__, 'version': ringside.__version__,\n"
        "  'dist_version': md.version('ringside'), 'platlib': sysconfig.get_paths()['platlib'],\n"
        "  'files': [str(f) for f in md.files('ringside')]}))\n"
    )
    r = run([PY, "-c", code], env(), DIR)
    assert r.returncode == 0, f"import ringside from the venv failed:\n{r.stdout}"
    return json.loads(r.stdout.splitlines()[-1])


def test_package_comes_from_the_venv(venv):
    info = installed()
    platlib = os.path.realpath(info["platlib"])
    assert platlib.startswith(VENV + os.sep)
    for f in (info["init"], info["ext"]):
        assert os.path.realpath(f).startswith(platlib + os.sep), f"{f} is not in the venv's {platlib}"
    assert info["version"] == VERSION and info["dist_version"] == VERSION


def test_wheel_holds_the_package_only(venv):
    # pip's RECORD also lists the dist-info and the bytecode pip compiled
    files = {f for f in installed()["files"] if ".dist-info/" not in f and "/__pycache__/" not in f}
    ext = {f for f in files if f.startswith("ringside/_ringside.") and f.endswith(".so")}
    assert len(ext) == 1, files
    assert files - ext == PACKAGE_FILES, "the wheel must hold the package ringside alone"


def test_extension_needs_nothing_from_the_build(venv):
    assert_self_contained(installed()["ext"], "PyInit__ringside", DIR)


def test_binding_tests_pass_from_the_venv(venv):
    """tests/bindings/python, run by the venv's interpreter, with the
    package it imports checked to be the venv's first."""
    tests = os.path.join(SRC, "tests", "bindings", "python")
    runner = (
        "import sys, ringside, pytest\n"
        f"assert ringside.__file__.startswith({VENV + os.sep!r}), ringside.__file__\n"
        f"sys.exit(pytest.main(['-p', 'no:cacheprovider', '-q', {tests!r}]))\n"
    )
    r = run([PY, "-c", runner], binding_env(DIR), DIR)
    print(r.stdout)
    assert r.returncode == 0, "the Python binding tests failed from the venv:\n" + r.stdout[-8000:]


def test_type_hints(venv):
    """The stub matches the installed package (mypy's stubtest: a name or
    argument added in __init__.py and not in __init__.pyi fails), and a
    caller's code checks under --strict with the types it should get."""
    r = run([PY, "-m", "mypy.stubtest", "--concise", "ringside"], env(), DIR)
    assert r.returncode == 0, "__init__.pyi does not match ringside/__init__.py:\n" + r.stdout
    r = run([PY, "-m", "mypy", "--strict", "--warn-unused-ignores", os.path.join(HERE, "typing_usage.py")], env(), DIR)
    assert r.returncode == 0, "type hints of the installed package:\n" + r.stdout


def test_source_tree_untouched(venv):
    """pip (meson-python) builds in a temporary .mesonpy-* directory in the
    source tree and removes it; its native file stays, gitignored."""
    assert_source_untouched(venv, ".mesonpy-")
