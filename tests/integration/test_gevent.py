"""The gevent worker (`-k gevent`, issue 13): each request runs in a greenlet, every wait yields
to gevent's hub, so blocking-style apps serve many concurrent requests per worker. The WSGI
suites also run with -k gevent (conftest WORKER_ARGS); this file holds what only gevent does.
The app is apps/gevent_app.py."""

import http.server
import json
import os
import signal
import socket
import statistics
import threading
import time

import pytest

from harness import timing_factor, wait_until
from rawhttp import build_request
from test_process import ABORT_CONFIG, app_dir  # noqa: F401  (fixture)
from test_slow_clients import timed_get, worker_pids

GEVENT = ("-k", "gevent", "-w", "1")
APP = "gevent_app:app"


def parallel_gets(srv, paths, timeout=20):
    """GETs every path at once (one thread each); returns [(status, body, seconds)]."""
    results = [None] * len(paths)
    barrier = threading.Barrier(len(paths))

    def call(i, path):
        barrier.wait()
        started = time.monotonic()
        try:
            with srv.raw(timeout=timeout) as conn:
                resp = conn.request("GET", path, [("Connection", "close")])
            results[i] = (resp.status, resp.body, time.monotonic() - started)
        except Exception as error:  # reported by the assertion below
            results[i] = (None, repr(error).encode(), time.monotonic() - started)
    threads = [threading.Thread(target=call, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_requests_run_in_greenlets_of_a_patched_worker(server_factory):
    srv = server_factory(*GEVENT, APP)
    resp = srv.get("/whoami")
    assert resp.status_code == 200
    info = resp.json()
    assert not info["in_hub"] and info["greenlet_parent_is_hub"], info
    assert info["socket_patched"] and info["time_patched"] and info["threading_patched"], info
    assert info["multithread"] is False and info["multiprocess"] is False, info
    assert info["input_terminated"] is True, info
    srv.wait_for_stderr("Using worker: gevent")


def test_100_sleeping_requests_finish_in_about_one_second(server_factory):
    srv = server_factory(*GEVENT, APP)
    srv.get("/hello")
    started = time.monotonic()
    results = parallel_gets(srv, ["/sleep?s=1"] * 100)
    elapsed = time.monotonic() - started
    assert all(r[0] == 200 and r[1] == b"slept" for r in results), [r for r in results if r[0] != 200][:3]
    assert elapsed < 1 + 1.5 * timing_factor(), "100 x sleep(1) took %.2fs on one worker" % elapsed


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.5)
        body = b"upstream:" + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_outbound_http_call_while_100_others_are_served(server_factory, upstream):
    srv = server_factory(*GEVENT, APP)
    srv.get("/hello")
    paths = ["/fetch?port=%d&path=/x%d" % (upstream, i) for i in range(5)] + ["/sleep?s=0.5"] * 100
    started = time.monotonic()
    results = parallel_gets(srv, paths)
    elapsed = time.monotonic() - started
    for i, (status, body, _) in enumerate(results[:5]):
        assert status == 200 and body == b"200 upstream:/x%d" % i, (status, body)
    assert all(r[0] == 200 and r[1] == b"slept" for r in results[5:])
    # each outbound call waits 0.5 s on the upstream, each sleep 0.5 s: all overlap
    assert elapsed < 0.5 + 1.5 * timing_factor(), "took %.2fs" % elapsed


def test_200_event_streams_do_not_slow_a_normal_request(server_factory):
    srv = server_factory(*GEVENT, APP)
    streams = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            sock.sendall(build_request("GET", "/sse?n=60&every=1"))
            streams.append(sock)
        for sock in streams:  # every stream is live: its head and first event arrived
            data = b""
            while b"data: 0\n\n" not in data:
                chunk = sock.recv(4096)
                assert chunk, "an event stream closed"
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 "), data[:100]
            assert b"Transfer-Encoding: chunked" in data or b"transfer-encoding: chunked" in data.lower()
        times = []
        for _ in range(20):
            resp, took = timed_get(srv)
            assert resp.status == 200 and resp.body == b"hello", resp
            times.append(took)
        assert statistics.median(times) < 0.05 * timing_factor(), times
        # the streams go on meanwhile
        data = b""
        deadline = time.monotonic() + 5
        while b"data: 2\n\n" not in data and time.monotonic() < deadline:
            data += streams[0].recv(4096)
        assert b"data: 2\n\n" in data, data
    finally:
        for sock in streams:
            sock.close()


def test_slow_upload_streams_while_others_are_served(server_factory):
    """A body larger than body_buffer_size streams through wsgi.input: the greenlet reading it
    waits cooperatively, so a slow uploader holds only its greenlet."""
    srv = server_factory(*GEVENT, "--body-timeout", "5", APP)
    timed_get(srv, "/hello")  # the worker has booted (the master listens before it does)
    total = 300_000
    with srv.raw(timeout=10) as slow:
        slow.send(build_request("POST", "/upload", [("Content-Length", str(total))]))
        sent = 0
        times = []
        while sent < total:
            piece = b"u" * min(50_000, total - sent)
            slow.send(piece)
            sent += len(piece)
            resp, took = timed_get(srv, "/hello")
            assert resp.status == 200 and resp.body == b"hello", resp
            times.append(took)
            time.sleep(0.1)
        resp = slow.read_response()
        assert resp.status == 200 and resp.body == str(total).encode(), resp
    assert max(times) < 0.5 * timing_factor(), times


def test_body_read_by_another_greenlet(server_factory):
    """wsgi.input handed to another greenlet (gevent.spawn(...).get()) while the body still
    streams in: its waits run on that greenlet's stack, the request's exchange is not on the
    request greenlet's (swapped-out) stack."""
    srv = server_factory(*GEVENT, APP)
    total = 1_000_000
    with srv.raw(timeout=10) as conn:
        conn.send(build_request("POST", "/upload-elsewhere", [("Content-Length", str(total))]))
        for i in range(10):
            conn.send(bytes([65 + i]) * (total // 10))
            time.sleep(0.05)
        resp = conn.read_response()
        assert resp.status == 200 and resp.body == str(total).encode(), resp
        resp = conn.request("GET", "/hello")  # the connection goes on
        assert resp.status == 200 and resp.body == b"hello", resp


def test_graceful_stop_lets_running_greenlets_finish(server_factory):
    srv = server_factory(*GEVENT, "--graceful-timeout", "10", APP)
    srv.get("/hello")
    results = {}

    def call(i):
        try:
            results[i] = srv.get("/sleep?s=1", timeout=10)
        except Exception as error:
            results[i] = error
    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.4)
    os.kill(srv.pid, signal.SIGTERM)
    for t in threads:
        t.join()
    assert all(getattr(r, "status_code", None) == 200 and r.text == "slept" for r in results.values()), results
    assert srv.proc.wait(10) == 0  # the master stops once its worker is done


def test_graceful_timeout_abandons_the_rest_and_says_so(server_factory):
    """HUP: the old worker lets its greenlets run for graceful_timeout, then says so and leaves
    (on TERM the master's own graceful_timeout SIGKILL may come first, as in gunicorn)."""
    srv = server_factory(*GEVENT, "--graceful-timeout", "1", APP)
    assert srv.get("/hello", timeout=10).text == "hello"  # booted: the /sleep below really runs
    old = worker_pids(srv)[0]
    holder = threading.Thread(target=lambda: _swallow(lambda: srv.get("/sleep?s=30", timeout=10)))
    holder.start()
    time.sleep(0.4)
    started = time.monotonic()
    os.kill(srv.pid, signal.SIGHUP)
    srv.wait_for_stderr("Worker graceful timeout (pid:%d): 1 request(s) still running" % old, timeout=10)
    assert time.monotonic() - started < 1 + 3 * timing_factor()
    holder.join()
    assert srv.get("/hello", timeout=10).text == "hello"


def _swallow(call):
    try:
        call()
    except Exception:
        pass


def test_hup_under_load_drops_nothing(server_factory):
    srv = server_factory("-k", "gevent", "-w", "2", "--graceful-timeout", "10", APP)
    srv.get("/hello")
    stop = threading.Event()
    failures, done = [], [0]

    def client(path):
        session_get = srv.get
        while not stop.is_set():
            try:
                resp = session_get(path, timeout=10)
                if resp.status_code != 200:
                    failures.append(resp.status_code)
                done[0] += 1
            except Exception as error:
                failures.append(repr(error))
    threads = [threading.Thread(target=client, args=(p,)) for p in ["/hello", "/sleep?s=0.2"] * 4]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            time.sleep(1.0)
            old = set(worker_pids(srv))
            os.kill(srv.pid, signal.SIGHUP)
            wait_until(lambda: not (set(worker_pids(srv)) & old) and len(worker_pids(srv)) == 2, 15,
                       message="the workers to be replaced")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert done[0] > 50


def test_cpu_bound_request_past_timeout_is_logged_with_its_traceback(server_factory, app_dir):
    (app_dir / "abort_conf.py").write_text(ABORT_CONFIG)
    import shutil
    from harness import APPS_DIR
    shutil.copy(APPS_DIR / "gevent_app.py", app_dir / "gevent_app.py")
    os.chmod(app_dir / "gevent_app.py", 0o644)
    srv = server_factory(*GEVENT, "--timeout", "2", "-c", str(app_dir / "abort_conf.py"), APP, cwd=app_dir)
    first = worker_pids(srv)[0]
    holder = threading.Thread(target=lambda: _swallow(lambda: srv.get("/cpu?s=30", timeout=15)))
    holder.start()
    log = srv.wait_for_stderr("WORKER TIMEOUT (pid:%d)" % first, timeout=15)
    holder.join()
    log = srv.wait_for_stderr("burn_cpu_without_yielding", timeout=5)
    assert "narwhal-worker-abort-hook pid=%d" % first in log
    # replaced: a new worker serves
    wait_until(lambda: worker_pids(srv) and worker_pids(srv)[0] != first, 10, message="a new worker")
    assert srv.get("/hello", timeout=10).text == "hello"


def test_gevent_pywsgi_names_the_same_worker(server_factory):
    srv = server_factory("-k", "gevent_pywsgi", "-w", "1", APP)
    assert srv.get("/whoami").json()["greenlet_parent_is_hub"]
