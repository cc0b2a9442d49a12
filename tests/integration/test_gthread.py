"""The gthread worker (`-k gthread --threads N`): the C++ loop owns every connection, threads
only run the app (issue 11). Slow clients never hold a thread; responses a client is slow to
take are finished by the loop; requests run in parallel; each request gets its own answer."""

import json
import os
import signal
import socket
import statistics
import threading
import time
import uuid

import pytest

from harness import timing_factor, wait_until
from rawhttp import build_request
from test_process import ABORT_CONFIG, app_dir, get_pid  # noqa: F401  (fixture)
from test_slow_clients import timed_get, worker_pids

GTHREAD = ("-k", "gthread", "--threads", "4", "-w", "1")


def connect(srv, timeout=10):
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    return sock


def read_response(sock):
    """One response with Content-Length from a keep-alive socket: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before the head"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed inside the body"
        rest += chunk
    return status, rest[:length], rest[length:]


def test_slowloris_and_slow_uploaders_do_not_delay_a_normal_client(server_factory):
    srv = server_factory(*GTHREAD, "--header-timeout", "30", "--body-timeout", "30", "wsgi_basic:app")
    hostile = []
    try:
        for i in range(200):  # slowloris: an unfinished head each
            sock = connect(srv)
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            hostile.append(sock)
        for i in range(200):  # slow uploaders: a body that never completes
            sock = connect(srv)
            sock.sendall(build_request("POST", "/echo", [("Content-Length", "100000")]) + b"z" * 100)
            hostile.append(sock)
        time.sleep(0.3)
        times = []
        for _ in range(20):
            resp, elapsed = timed_get(srv)
            assert resp.status == 200 and resp.body == b"hello"
            times.append(elapsed)
        assert statistics.median(times) < 0.05 * timing_factor(), times
    finally:
        for sock in hostile:
            sock.close()


def test_sleeping_requests_run_in_parallel(server_factory):
    srv = server_factory(*GTHREAD, "wsgi_basic:app")
    results = []

    def call():
        results.append(srv.get("/sleep?s=1", timeout=10).status_code)
    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 4
    assert elapsed < 1.8, "4 one-second requests took %.2fs on 4 threads" % elapsed


def test_threads_alone_select_gthread_and_run_in_parallel(server_factory):
    srv = server_factory("--threads", "4", "-w", "1", "wsgi_basic:app")
    srv.wait_for_stderr("Using worker: gthread")
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: srv.get("/sleep?s=1", timeout=10)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 1.8


def test_2000_requests_over_50_keepalive_connections_get_their_own_answers(server_factory):
    srv = server_factory(*GTHREAD, "--keep-alive", "10", "wsgi_basic:app")
    errors = []

    def client(n):
        try:
            with connect(srv) as sock:
                leftover = b""
                for i in range(40):
                    token = "%d-%d-%s" % (n, i, uuid.uuid4().hex[:8])
                    body = token.encode()
                    sock.sendall(build_request("POST", "/echo?mode=read", [("Content-Length", str(len(body)))]) + body)
                    status, answer, leftover = read_response(sock)
                    assert not leftover
                    if status != 200 or json.loads(answer)["body"] != token:
                        errors.append((token, status, answer[:80]))
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(error))
    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_a_client_that_stops_reading_does_not_hold_the_only_thread(server_factory):
    srv = server_factory("-k", "gthread", "--threads", "1", "-w", "1", "--write-timeout", "20",
                         "wsgi_basic:app")
    size = 50 * 1024 * 1024
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.settimeout(10)
    reader.connect(("127.0.0.1", srv.port))
    try:
        reader.sendall(build_request("GET", "/big?n=%d" % size))  # one 50 MiB bytes element
        time.sleep(0.5)
        for _ in range(5):
            resp, elapsed = timed_get(srv)
            assert resp.status == 200 and elapsed < 0.5 * timing_factor(), elapsed
        # the stalled reader still gets its whole response once it reads
        received = 0
        reader.settimeout(20)
        while True:
            chunk = reader.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
            if received >= size:
                break
        assert received >= size
    finally:
        reader.close()


def test_hup_three_times_under_load_drops_nothing(server_factory):
    srv = server_factory("-k", "gthread", "--threads", "4", "-w", "2", "wsgi_basic:app")
    stop = threading.Event()
    failures, done = [], [0]

    def load():
        while not stop.is_set():
            try:
                resp = srv.get("/hello", timeout=10)
                if resp.status_code != 200:
                    failures.append(resp.status_code)
                done[0] += 1
            except Exception as error:  # noqa: BLE001
                failures.append(repr(error))
    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            time.sleep(1.0)
            os.kill(srv.proc.pid, signal.SIGHUP)
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert failures == []
    assert done[0] > 100


def test_hung_request_is_logged_with_its_traceback_and_the_worker_replaced(server_factory, app_dir):
    (app_dir / "abort_conf.py").write_text(ABORT_CONFIG)
    srv = server_factory("-k", "gthread", "--threads", "2", "-w", "1", "--timeout", "2",
                         "-c", str(app_dir / "abort_conf.py"), "process_app:app", cwd=app_dir)
    first = get_pid(srv)
    stuck = {}

    def call_stuck():
        try:
            stuck["response"] = srv.get("/stuck", timeout=20)
        except Exception as error:  # noqa: BLE001
            stuck["error"] = error
    thread = threading.Thread(target=call_stuck)
    thread.start()
    log = srv.wait_for_stderr("narwhal-worker-abort-hook", timeout=30)
    assert "WORKER TIMEOUT (pid:%d)" % first in log
    assert "narwhal_stuck_function" in log and "time.sleep(100)" in log
    thread.join(15)
    wait_until(lambda: get_pid(srv) != first, 10, message="a replacement worker")
    assert srv.proc.poll() is None


def test_environ_says_multithread(server_factory):
    srv = server_factory(*GTHREAD, "wsgi_basic:app")
    env = srv.get("/env").json()
    assert env["reprs"]["wsgi.multithread"] == "True"
