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


# ---------------------------------------------------------------------------
# worker types: the WSGI suites run against sync, gthread and gevent (parametrized, not copied)
# ---------------------------------------------------------------------------
WORKER_ARGS = {"sync": (), "gthread": ("-k", "gthread", "--threads", "4"), "gevent": ("-k", "gevent")}
# Suites about how the app is called and answered, which every worker type must pass.
WORKER_SUITES = {"test_frameworks", "test_environ", "test_input", "test_responses", "test_hooks",
                 "test_signals", "test_slow_clients", "test_keepalive", "test_errors",
                 "test_response_validation"}


def pytest_configure(config):
    config.addinivalue_line("markers", "sync_only(reason): the test is about the sync worker's own "
                                       "behaviour (one request at a time); not run for gthread")


def running_under_asan():
    from harness import narwhal_binary
    return "asan" in str(narwhal_binary())


def pytest_collection_modifyitems(config, items):
    """Under the ASan build (make test-sanitize) the gevent worker's tests are skipped: greenlet
    switches C stacks by copying them with memcpy, which AddressSanitizer cannot follow (Debian's
    greenlet 2.0 has no fiber-switch annotations): every switch over narwhal's instrumented frames
    is reported as a stack-buffer-underflow and the worker aborts. The code those tests reach
    (RequestRunner, Exchange, the engine) is checked under ASan through the sync and gthread runs;
    the gevent runs are part of the regular `make test`."""
    if not running_under_asan():
        return
    skip = pytest.mark.skip(reason="gevent under ASan: greenlet's stack copying is not ASan-aware")
    for item in items:
        if "gevent" in item.nodeid:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "worker_type" in metafunc.fixturenames and module in WORKER_SUITES:
        types = ["sync"] if metafunc.definition.get_closest_marker("sync_only") else list(WORKER_ARGS)
        metafunc.parametrize("worker_type", types, indirect=True, scope="module")


@pytest.fixture(scope="module")
def worker_type(request):
    """"sync" unless the module is one of WORKER_SUITES (then each test runs for every type)."""
    return getattr(request, "param", "sync")


@pytest.fixture
def server_factory(worker_type):
    """Function-scoped: server_factory("-w", "1", "wsgi_basic:app") -> Server."""
    factory = ServerFactory(WORKER_ARGS[worker_type])
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="module")
def module_server_factory(worker_type):
    """Module-scoped variant, for one shared server per test module."""
    factory = ServerFactory(WORKER_ARGS[worker_type])
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


@pytest.fixture
def nginx_factory():
    """A real nginx in front of narwhal (nginx.py): nginx_factory(site_text) -> Nginx, started from
    a temporary directory and stopped at the end of the test. A missing nginx fails the test."""
    from nginx import NginxFactory, nginx_problem
    problem = nginx_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    factory = NginxFactory()
    try:
        yield factory
    finally:
        factory.cleanup()
