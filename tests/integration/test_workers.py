"""Process model: several workers, worker replacement, shutdown on SIGTERM."""

import os
import signal
import threading
import time

import pytest

from harness import port_accepts, wait_until


def get_pid(server, sleep=None, timeout=5):
    path = "/pid" + ("?sleep=%s" % sleep if sleep else "")
    r = server.get(path, timeout=timeout, headers={"Connection": "close"})
    assert r.status_code == 200
    return int(r.text)


def parent_pid(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return int(stat.rsplit(")", 1)[1].split()[1])


def concurrent_pids(server, n=4, sleep=0.4):
    pids, errors = [], []

    def one():
        try:
            pids.append(get_pid(server, sleep=sleep, timeout=10))
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors, errors
    return set(pids)


def test_two_workers_serve_requests(server_factory):
    srv = server_factory("-w", "2", "wsgi_basic:app")
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        # concurrent slow requests on fresh connections must occupy both workers
        seen |= concurrent_pids(srv)
    assert len(seen) == 2, seen
    assert srv.pid not in seen                       # the master does not serve
    for pid in seen:
        assert parent_pid(pid) == srv.pid            # workers are children of the master


def test_killed_worker_is_replaced(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    old = get_pid(srv)
    os.kill(old, signal.SIGKILL)

    def new_worker():
        try:
            pid = get_pid(srv, timeout=2)
        except Exception:
            return None
        return pid if pid != old else None
    new = wait_until(new_worker, 10, interval=0.1, message="a replacement worker")
    assert parent_pid(new) == srv.pid
    assert srv.proc.poll() is None
    for _ in range(3):
        assert srv.get("/hello").text == "hello"


def test_sigterm_exits_zero(server_factory):
    srv = server_factory("-w", "2", "wsgi_basic:app")
    assert srv.get("/hello").status_code == 200
    start = time.monotonic()
    rc = srv.terminate(timeout=10)
    assert rc == 0, "exit code %r after SIGTERM\n%s" % (rc, srv.stderr_text())
    assert time.monotonic() - start < 8
    assert not port_accepts(srv.port)


def test_sigterm_lets_inflight_request_finish(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    result = {}

    def slow():
        try:
            result["resp"] = srv.get("/sleep?s=1.0", timeout=10)
        except Exception as e:
            result["error"] = e
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)   # the request is in the app now
    rc = srv.terminate(timeout=10)
    t.join(10)
    assert "error" not in result, result
    assert result["resp"].status_code == 200 and result["resp"].text == "slept"
    assert rc == 0


@pytest.mark.parametrize("worker_args", [(), ("-k", "gthread", "--threads", "4"), ("-k", "gevent")],
                         ids=["sync", "gthread", "gevent"])
def test_max_requests_with_jitter_recycles_workers_without_dropping(server_factory, worker_args):
    # Each worker leaves after 5..8 requests (gracefully: the request that reaches the limit is
    # answered with Connection: close) and the master starts a new one. Nothing may fail, on
    # fresh connections or on keep-alive ones.
    srv = server_factory(*worker_args, "-w", "2", "--max-requests", "5", "--max-requests-jitter", "3",
                         "wsgi_basic:app")
    pids = []
    for _ in range(40):
        pids.append(get_pid(srv, timeout=10))
    import requests
    with requests.Session() as session:  # keep-alive: reconnects after each Connection: close
        for _ in range(30):
            r = session.get(srv.url + "/pid", timeout=10)
            assert r.status_code == 200
            pids.append(int(r.text))
    # 70 requests, at most 8 per worker: at least 9 different workers served them
    assert len(set(pids)) >= 9, sorted(set(pids))
    assert "Autorestarting worker after current request." in srv.stderr_text()
