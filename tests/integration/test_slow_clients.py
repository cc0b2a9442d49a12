"""Slow and hostile clients: header_timeout, body_timeout, write_timeout and EMFILE.

Every test runs a single worker (-w 1) so "another client is served meanwhile / afterwards"
proves the hostile client never held the worker (or held it only until its timeout).
"""

import os
import resource
import socket
import subprocess
import time
import uuid

import pytest

import harness
from harness import Server, wait_until
from rawhttp import IncompleteResponse, build_request


def app_calls(server):
    with server.raw(timeout=5) as conn:
        conn.send(b"GET /count HTTP/1.0\r\n\r\n")
        return int(conn.read_response().body)


def timed_get(server, path="/hello", timeout=5):
    started = time.monotonic()
    with server.raw(timeout=timeout) as conn:
        resp = conn.request("GET", path, [("Connection", "close")])
    return resp, time.monotonic() - started


def worker_pids(server):
    def children():
        try:
            with open("/proc/%d/task/%d/children" % (server.pid, server.pid)) as f:
                return [int(p) for p in f.read().split()]
        except FileNotFoundError:
            return []
    return wait_until(children, 10, message="a worker process")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime (fields 14 and 15)


def drain_until_close(sock, timeout):
    """Read until EOF/reset; returns (bytes received, closed?)."""
    sock.settimeout(timeout)
    total = 0
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return total, data, True
            total += len(chunk)
            if len(data) < 4096:
                data += chunk[:4096]
    except ConnectionResetError:
        return total, data, True
    except socket.timeout:
        pass
    return total, data, False


# --------------------------------------------------------------------------- slowloris
def test_slowloris_is_dropped_while_others_are_served(server_factory):
    srv = server_factory("-w", "1", "--header-timeout", "2", "wsgi_basic:app")
    before = app_calls(srv)
    slow = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    head = b"GET /count HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: " + b"a" * 200
    served = 0
    started = time.monotonic()
    dropped_after = None
    try:
        for byte in head:
            try:
                slow.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                dropped_after = time.monotonic() - started
                break
            # a normal client on the same single worker is served at once
            resp, elapsed = timed_get(srv)
            assert resp.status == 200 and resp.body == b"hello"
            assert elapsed < 1.0, "normal client waited %.2fs behind the slowloris" % elapsed
            served += 1
            time.sleep(0.3)
            if time.monotonic() - started > 10:
                break
        if dropped_after is None:
            # the server may have answered 408 and closed while we were still sending
            total, data, closed = drain_until_close(slow, 3)
            assert closed, "slowloris connection still open after %.1fs" % (time.monotonic() - started)
            assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
            dropped_after = time.monotonic() - started
    finally:
        slow.close()
    assert dropped_after < 6, "dropped only after %.1fs with --header-timeout 2" % dropped_after
    assert served >= 3
    # the app saw only the normal requests (and the /count calls), never the slow head
    assert app_calls(srv) == before + 1 + served


def test_slow_head_gets_408(server_factory):
    srv = server_factory("-w", "1", "--header-timeout", "1", "wsgi_basic:app")
    with srv.raw(timeout=6) as conn:
        conn.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        resp = conn.read_response()
        assert resp.status == 408
        assert conn.is_closed(3)


def test_idle_connection_without_a_byte_is_closed_silently(server_factory):
    srv = server_factory("-w", "1", "--header-timeout", "1", "--keep-alive", "30", "wsgi_basic:app")
    with srv.raw(timeout=6) as conn:
        assert conn.read_some(timeout=5) == b""   # closed, nothing sent


# --------------------------------------------------------------------------- request bodies
def recorded(server, token):
    def get():
        with server.raw(timeout=5) as conn:
            conn.send(build_request("GET", "/recorded?token=" + token, [("Connection", "close")]))
            body = conn.read_response().json()
        return body if body["seen"] else None
    return wait_until(get, 10, message="the app to record the outcome of " + token)


@pytest.mark.sync_only("gthread reads the whole body before the app runs: the app never sees a "
                      "partial body (test_hostile_clients covers its stalled uploads)")
def test_client_disconnect_mid_body_raises_in_wsgi_input(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    worker = worker_pids(srv)[0]
    token = "disc-" + uuid.uuid4().hex
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(build_request("POST", "/upload-record?token=" + token,
                               [("Content-Length", "100000")]) + b"z" * 1000)
    time.sleep(0.3)
    sock.close()
    outcome = recorded(srv, token)
    assert outcome["error"] and "Error" in outcome["error"], outcome
    # the worker goes on
    resp, _ = timed_get(srv)
    assert resp.status == 200
    assert worker_pids(srv) == [worker]


@pytest.mark.sync_only("gthread reads the whole body before the app runs: the app never sees a "
                      "partial body (test_hostile_clients covers its stalled uploads)")
def test_client_disconnect_mid_chunked_body(server_factory):
    # A body larger than the loop's buffer streams through wsgi.input (the app sees the error).
    srv = server_factory("-w", "1", "--body-buffer-size", "16", "wsgi_basic:app")
    token = "discc-" + uuid.uuid4().hex
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(build_request("POST", "/upload-record?token=" + token,
                               [("Transfer-Encoding", "chunked")]) + b"400\r\n" + b"z" * 100)
    time.sleep(0.3)
    sock.close()
    assert recorded(srv, token)["error"]
    assert timed_get(srv)[0].status == 200


@pytest.mark.sync_only("gthread reads the whole body before the app runs: the app never sees a "
                      "partial body (test_hostile_clients covers its stalled uploads)")
def test_stalled_body_times_out_with_body_timeout(server_factory):
    srv = server_factory("-w", "1", "--body-timeout", "2", "wsgi_basic:app")
    token = "stall-" + uuid.uuid4().hex
    with srv.raw(timeout=10) as conn:
        started = time.monotonic()
        conn.send(build_request("POST", "/upload-record?token=" + token,
                                [("Content-Length", "100000")]) + b"z" * 1000)
        resp = conn.read_response()          # the app caught the error and answered
        elapsed = time.monotonic() - started
        assert resp.body == b"caught"
        assert 1.5 < elapsed < 6, elapsed
        assert conn.is_closed(3)             # the rest of the body can't be trusted: close
    outcome = recorded(srv, token)
    assert "timed out" in outcome["error"], outcome
    assert timed_get(srv)[0].status == 200


# --------------------------------------------------------------------------- slow readers
@pytest.mark.sync_only("with gthread the second client is served at once by another thread, so the "
                      "reader starts reading before write_timeout (test_gthread covers gthread)")
def test_client_that_stops_reading_is_dropped_after_write_timeout(server_factory):
    srv = server_factory("-w", "1", "--write-timeout", "2", "wsgi_basic:app")
    size = 800 * 65536                                           # 50 MiB generator
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.settimeout(5)
    reader.connect(("127.0.0.1", srv.port))
    try:
        reader.sendall(build_request("GET", "/gen?n=800&size=65536"))
        started = time.monotonic()
        time.sleep(0.5)
        # a second client waits behind the stalled response (one sync worker), but only until
        # the write timeout frees the worker
        resp, _ = timed_get(srv, timeout=15)
        freed_after = time.monotonic() - started
        assert resp.status == 200 and resp.body == b"hello"
        assert freed_after < 8, "worker held %.1fs with --write-timeout 2" % freed_after
        total, data, closed = drain_until_close(reader, 10)
        assert closed, "stalled reader not disconnected"
        assert total < size, "the whole response was delivered: the stall was not detected"
    finally:
        reader.close()
    for _ in range(3):
        assert timed_get(srv)[0].status == 200


# --------------------------------------------------------------------------- file responses
def test_slow_reader_of_a_file_does_not_hold_the_worker(server_factory, tmp_path):
    # wsgi.file_wrapper over a regular file: once the socket buffer is full, the rest is sent
    # from the worker's event loop, so other clients are served at once (-w 1).
    data = os.urandom(32 * 1024 * 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    srv = server_factory("-w", "1", "wsgi_basic:app")
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.settimeout(20)
    reader.connect(("127.0.0.1", srv.port))
    try:
        target = "/filewrapper?path=%s" % path
        # a second request pipelined behind the file: answered after the whole file, in order
        reader.sendall(build_request("GET", target) + build_request("GET", "/hello", [("Connection", "close")]))
        time.sleep(0.5)
        for _ in range(3):
            resp, took = timed_get(srv, timeout=5)
            assert resp.status == 200 and resp.body == b"hello"
            assert took < 1.5, "another client waited %.1fs behind a slow file reader" % took
        received = bytearray()
        closed = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = reader.recv(1 << 20)
            if not chunk:
                closed = True
                break
            received += chunk
    finally:
        reader.close()
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Length: %d" % len(data) in head
    assert rest[:len(data)] == data
    tail = rest[len(data):]
    assert tail.startswith(b"HTTP/1.1 200") and tail.endswith(b"hello"), tail[:200]
    assert closed


def test_stalled_file_reader_is_dropped_after_write_timeout(server_factory, tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(32 * 1024 * 1024))
    srv = server_factory("-w", "1", "--write-timeout", "2", "wsgi_basic:app")
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.settimeout(10)
    reader.connect(("127.0.0.1", srv.port))
    try:
        reader.sendall(build_request("GET", "/filewrapper?path=%s" % path))
        time.sleep(5)  # never read: write_timeout (checked about once a second) drops it
        total, _, closed = drain_until_close(reader, 10)
        assert closed, "stalled file reader not disconnected"
        assert total < 32 * 1024 * 1024
    finally:
        reader.close()
    assert timed_get(srv)[0].status == 200


# --------------------------------------------------------------------------- EMFILE
class LowFdServer(Server):
    """A Server whose processes start with RLIMIT_NOFILE = `nofile`."""

    nofile = 64

    def _spawn(self):
        limit = self.nofile

        def lower_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        real_popen = subprocess.Popen

        def popen(*args, **kwargs):
            kwargs["preexec_fn"] = lower_limit
            return real_popen(*args, **kwargs)

        harness.subprocess.Popen = popen
        try:
            super()._spawn()
        finally:
            harness.subprocess.Popen = real_popen


def test_emfile_does_not_spin_and_recovers():
    srv = LowFdServer(["-w", "1", "--header-timeout", "30", "wsgi_basic:app"])
    try:
        srv.start()
        worker = worker_pids(srv)[0]
        assert timed_get(srv)[0].status == 200
        idle = []
        try:
            for _ in range(120):                    # well past the 64 descriptors allowed
                idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
            time.sleep(1.0)                         # the worker hits EMFILE now
            ticks_per_second = os.sysconf("SC_CLK_TCK")
            before = cpu_ticks(worker)
            time.sleep(2.0)
            used = (cpu_ticks(worker) - before) / ticks_per_second
            assert used < 0.6, "worker used %.2fs CPU of 2s while out of descriptors" % used
            srv.wait_for_stderr("pausing accept", timeout=5)
        finally:
            for s in idle:
                s.close()
        # descriptors are freed: new requests are served again
        deadline = time.monotonic() + 10
        while True:
            try:
                resp, _ = timed_get(srv, timeout=5)
                if resp.status == 200:
                    break
            except (OSError, IncompleteResponse):
                pass
            assert time.monotonic() < deadline, "no request served after the idle clients left"
            time.sleep(0.2)
        assert worker_pids(srv) == [worker]
    finally:
        srv.cleanup()


def decode_chunked(data):
    """The payload of a chunked body (raises ValueError if the framing is broken)."""
    payload, position = b"", 0
    while True:
        end = data.index(b"\r\n", position)
        size = int(data[position:end].split(b";")[0], 16)
        position = end + 2
        if size == 0:
            return payload
        payload += data[position:position + size]
        if data[position + size:position + size + 2] != b"\r\n":
            raise ValueError("chunk of %d bytes not followed by CRLF at %d" % (size, position + size))
        position += size + 2


def test_response_queued_for_a_slow_reader_arrives_intact(server_factory):
    # The socket takes only part of a chunked response; the rest (chunk headers, the app's
    # bytes, CRLFs) waits in the connection's output queue and is finished by the loop.
    srv = server_factory("-w", "1", "wsgi_basic:app")
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.settimeout(10)
    reader.connect(("127.0.0.1", srv.port))
    try:
        reader.sendall(build_request("GET", "/gen?n=6000&size=1000", [("Connection", "close")]))
        time.sleep(1.0)  # the server fills the socket and queues the rest
        data = b""
        while True:
            chunk = reader.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        reader.close()
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head.lower()
    assert decode_chunked(body) == b"y" * 6000000
