"""Fixtures for the Python binding tests: a real mock upstream and real
sidecars (tests/bindings/harness.py), started once per session where the
tests do not disturb them, and per test where a test kills or drains one.

The ringside package comes from PYTHONPATH (meson sets it to the build
tree's bindings/python).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402


@pytest.fixture(scope="session")
def mock():
    m = harness.Mock()
    yield m
    m.stop()


def _stop(s, killed_ok=False):
    why = s.stop(killed_ok=killed_ok)
    assert not why, why


@pytest.fixture(scope="session")
def sidecar(mock):
    """Default policy, upstream = the mock."""
    s = harness.Sidecar(mock.url)
    yield s
    _stop(s)


@pytest.fixture(scope="session")
def fast_sidecar(mock):
    """No retries: an upstream error comes back at once."""
    s = harness.Sidecar(config=harness.FAST % mock.url)
    yield s
    _stop(s)


@pytest.fixture
def victim(mock):
    """A sidecar the test may kill or stop."""
    s = harness.Sidecar(mock.url, extra=("--grace-ms", "3000"))
    yield s
    _stop(s, killed_ok=True)


@pytest.fixture
def client(sidecar):
    import ringside
    with ringside.Client(sidecar.sock) as c:
        yield c


@pytest.fixture
def fast(fast_sidecar):
    import ringside
    with ringside.Client(fast_sidecar.sock) as c:
        yield c
