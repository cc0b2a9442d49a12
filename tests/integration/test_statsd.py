"""StatsD metrics (issue 15) with gunicorn's names and types, received by a real UDP socket:
requests, their status and duration from the workers, the worker gauge from the master, log
line counters; the prefix and dogstatsd tags as gunicorn applies them."""

import socket
import time

import pytest

from harness import wait_until


@pytest.fixture
def statsd_server():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    received = []

    def collect():
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                return received
            received.extend(data.decode().split("\n"))
    yield sock.getsockname()[1], collect
    sock.close()


def metrics_until(collect, predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        lines = collect()
        if predicate(lines):
            return lines
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)


def test_request_and_worker_metrics(server_factory, statsd_server):
    port, collect = statsd_server
    srv = server_factory("-w", "2", "--statsd-host", "127.0.0.1:%d" % port, "--statsd-prefix", "myapp",
                         "wsgi_basic:app")
    for _ in range(3):
        assert srv.get("/hello").status_code == 200
    assert srv.get("/status?code=404").status_code == 404
    lines = metrics_until(collect, lambda ls: ls.count("myapp.gunicorn.requests:1|c") >= 4
                          and "myapp.gunicorn.request.status.404:1|c" in ls)
    assert lines.count("myapp.gunicorn.request.status.200:1|c") >= 3, lines
    durations = [line for line in lines if line.startswith("myapp.gunicorn.request.duration:")]
    assert len(durations) >= 4 and all(line.endswith("|ms") for line in durations), durations
    assert all(0 <= float(line.split(":")[1].split("|")[0]) < 5000 for line in durations), durations
    assert "myapp.gunicorn.workers:2|g" in lines, lines  # the master's gauge


def test_error_lines_are_counted_and_tags_appended(server_factory, statsd_server):
    port, collect = statsd_server
    srv = server_factory("-w", "1", "--statsd-host", "127.0.0.1:%d" % port, "--statsd-prefix", "p.",
                         "--dogstatsd-tags", "env:test,team:web", "wsgi_basic:app")
    assert srv.get("/error?marker=statsd-boom").status_code == 500
    lines = metrics_until(collect, lambda ls: any(line.startswith("p.gunicorn.log.exception:1|c") for line in ls))
    assert "p.gunicorn.log.exception:1|c|#env:test,team:web" in lines, lines
    assert "p.gunicorn.request.status.500:1|c|#env:test,team:web" in lines, lines


def test_backlog_metric(server_factory, statsd_server):
    port, collect = statsd_server
    server_factory("-w", "1", "--statsd-host", "127.0.0.1:%d" % port, "--enable-backlog-metric",
                   "wsgi_basic:app")
    lines = metrics_until(collect, lambda ls: any(line.startswith("gunicorn.backlog:") for line in ls))
    backlog = [line for line in lines if line.startswith("gunicorn.backlog:")]
    assert all(line.endswith("|ms") and int(line.split(":")[1].split("|")[0]) >= 0 for line in backlog), backlog


def test_unresolvable_statsd_host_is_a_clear_error(cli):
    from harness import free_port
    p = cli("-b", "127.0.0.1:%d" % free_port(), "--statsd-host", "no-such-host.invalid:8125", "wsgi_basic:app",
            timeout=20)
    assert p.returncode != 0
    assert "statsd_host" in p.stderr and "no-such-host.invalid" in p.stderr, p.stderr
