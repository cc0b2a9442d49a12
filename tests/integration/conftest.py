"""pytest wiring for the narwhal integration suite: binary check, per-phase
timeouts (SIGALRM, no plugin needed) and server fixtures. The machinery lives
in harness.py (server process) and rawhttp.py (raw-socket HTTP client)."""

import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ServerFactory, _binary_problem, run_cli  # noqa: E402


def pytest_sessionstart(session):
    problem = _binary_problem()
    if problem:
        # A missing binary is a hard failure, never a skip.
        pytest.exit("INTEGRATION SUITE CANNOT RUN: " + problem, returncode=1)


# ---------------------------------------------------------------------------
# per-test timeout without pytest-timeout: SIGALRM around each phase
# ---------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addini("narwhal_test_timeout", "seconds allowed per test phase", default="60")


class PhaseTimeout(Exception):
    pass


@contextlib.contextmanager
def _alarm(item, phase):
    limit = int(float(os.environ.get("NARWHAL_TEST_TIMEOUT")
                      or item.config.getini("narwhal_test_timeout")))

    def on_alarm(signum, frame):
        raise PhaseTimeout("%s of %s exceeded %ss" % (phase, item.nodeid, limit))

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _alarm(item, "setup"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _alarm(item, "call"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _alarm(item, "teardown"):
        yield


@pytest.fixture
def server_factory():
    """Function-scoped: server_factory("-w", "1", "wsgi_basic:app") -> Server."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="module")
def module_server_factory():
    """Module-scoped variant, for one shared server per test module."""
    factory = ServerFactory()
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="module")
def basic_server(module_server_factory):
    """One single-worker server with the plain WSGI test app, per module."""
    return module_server_factory("-w", "1", "wsgi_basic:app")



@pytest.fixture
def cli():
    return run_cli
