"""The asgi worker (`-k asgi`) with a raw ASGI 3 application: the scope (ASGI HTTP spec 2.4,
every key and type), receive() events as the body arrives, send() messages and their framing,
keep-alive and pipelining, app errors, misuse, disconnects, backpressure, lifespan, and process
management. Real server, real sockets; frameworks are in test_asgi_frameworks.py."""

import json
import os
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import running_under_asan
from harness import free_port, worker_rss_kib

ASGI = ("-k", "asgi", "-w", "1")


@pytest.fixture(scope="module")
def asgi(module_server_factory):
    return module_server_factory(*ASGI, "--access-logfile", "-", "asgi_basic:app")


def read_until_closed(conn):
    data = b""
    while True:
        piece = conn.read_some(timeout=3)
        if not piece:
            return data
        data += piece


# --------------------------------------------------------------------------- the scope
def test_scope_keys_and_types(asgi):
    r = asgi.get("/scope/caf%C3%A9%20x?a=1&b=%20", headers={"X-Custom": "Value", "X-Dup": "1"})
    assert r.status_code == 200
    scope = r.json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope/café x"  # percent-decoded, UTF-8
    assert scope["raw_path"] == {"bytes": "/scope/caf%C3%A9%20x"}
    assert scope["query_string"] == {"bytes": "a=1&b=%20"}
    assert scope["root_path"] == ""
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", asgi.port]
    types = scope["types"]
    assert types["path"] == "str" and types["raw_path"] == "bytes" and types["query_string"] == "bytes"
    assert types["headers"] == "list" and types["client"] == "tuple" and types["server"] == "tuple"
    assert types["state"] == "dict"
    assert scope["header_types"] == ["tuple/bytes"]
    headers = [(n["bytes"], v["bytes"]) for n, v in scope["headers"]]
    assert ("x-custom", "Value") in headers  # names lowercased, values as sent
    assert ("host", "127.0.0.1:%d" % asgi.port) in headers


def test_scope_duplicate_headers_kept_in_order(asgi):
    with asgi.raw() as conn:
        conn.send(b"GET /scope HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B: 2\r\nX-A: 3\r\n\r\n")
        scope = conn.read_response().json()
    names = [(n["bytes"], v["bytes"]) for n, v in scope["headers"]]
    assert names == [("host", "x"), ("x-a", "1"), ("x-b", "2"), ("x-a", "3")]


def test_http10_and_root_path(server_factory):
    srv = server_factory(*ASGI, "--root-path", "/mounted", "asgi_basic:app")
    with srv.raw() as conn:
        conn.send(b"GET /scope HTTP/1.0\r\n\r\n")
        scope = conn.read_response().json()
    assert scope["http_version"] == "1.0"
    assert scope["root_path"] == "/mounted"
    assert scope["path"] == "/scope"


def test_lifespan_state_in_every_scope(asgi):
    scope = asgi.get("/scope").json()
    assert scope["state_keys"] == ["started_by"]


# --------------------------------------------------------------------------- bodies
def test_small_body_is_one_event(asgi):
    r = asgi.post("/echo", data=b"hello body")
    assert r.content == b"hello body"
    assert r.headers["x-events"] == "1"


def test_large_body_streams_in_several_events(asgi):
    data = os.urandom(3 * 1024 * 1024)
    r = asgi.post("/echo", data=data)
    assert r.status_code == 200 and r.content == data
    assert int(r.headers["x-events"]) > 1


def test_chunked_upload(asgi):
    def chunks():
        for i in range(20):
            yield b"%02d" % i * 1000
    r = asgi.post("/count", data=chunks())
    assert r.json()["size"] == 40000


def test_body_arrives_as_the_client_sends_it(asgi):
    # The first part is answered by receive() before the rest is sent.
    with asgi.raw() as conn:
        conn.send(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + b"a" * 1000)
        time.sleep(0.3)
        conn.send(b"b" * 199000)
        result = conn.read_response().json()
    assert result["size"] == 200000 and result["events"] >= 2


def test_expect_continue_sent_on_first_receive(asgi):
    with asgi.raw() as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        interim = conn.read_some(timeout=3)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        conn.send(b"z" * 100000)
        response = conn.read_response()
    assert response.status == 200 and response.body == b"z" * 100000


def test_expect_continue_not_sent_when_body_unread(asgi):
    with asgi.raw() as conn:
        conn.send(b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        response = conn.read_response()
    assert response.status == 200 and response.body == b"not read"
    assert b"100 Continue" not in response.raw


def test_malformed_chunked_body_gets_400_and_close(asgi):
    with asgi.raw() as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
        response = conn.read_response()
    assert response.status == 400
    assert "close" in response.connection_tokens()


def test_unread_body_is_drained_for_keepalive(asgi):
    with asgi.raw() as conn:
        conn.send(b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"q" * 5000)
        assert conn.read_response().body == b"not read"
        conn.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.read_response().status == 200


# --------------------------------------------------------------------------- responses
def test_single_body_gets_content_length(asgi):
    with asgi.raw() as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        response = conn.read_response()
    assert response.header("content-length") == "3"
    assert response.framing == "length"
    assert response.header("server") == "narwhal" and response.has_header("date")


def test_streaming_response_is_chunked_and_incremental(asgi):
    with asgi.raw() as conn:
        conn.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        first = conn.read_some(timeout=3)
        assert b"transfer-encoding: chunked" in first.lower()
        assert b"part 0" in first and b"part 4" not in first  # arrives before the rest exists
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            rest += conn.read_some(timeout=3)
    assert b"part 4" in rest


def test_streaming_response_http10_is_close_delimited(asgi):
    with asgi.raw() as conn:
        conn.send(b"GET /stream HTTP/1.0\r\n\r\n")
        data = read_until_closed(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower()
    assert body == b"".join(b"part %d\n" % i for i in range(5))


def test_duplicate_response_headers_kept(asgi):
    r = asgi.get("/headers")
    assert r.status_code == 201
    assert r.headers["x-two"] == "a, b"
    assert r.raw.headers.getlist("x-two") == ["a", "b"]


def test_head_request_has_no_body(asgi):
    with asgi.raw() as conn:
        conn.send(b"HEAD /head-length HTTP/1.1\r\nHost: x\r\n\r\nGET /head-length HTTP/1.1\r\nHost: x\r\n\r\n")
        head = conn.read_response(method="HEAD")
        assert head.status == 200 and head.body == b""
        get = conn.read_response()
        assert get.body == b"12345"


def test_keepalive_and_pipelining(asgi):
    with asgi.raw() as conn:
        conn.send(b"".join(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n%02d" % i for i in range(10)))
        bodies = [conn.read_response().body for _ in range(10)]
    assert bodies == [b"%02d" % i for i in range(10)]


def test_backpressure_large_response(asgi):
    size = 20 * 1024 * 1024
    before = worker_rss_kib(asgi)
    with asgi.raw() as conn:
        conn.send(b"GET /big?%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        time.sleep(1.0)  # the client reads nothing: send() must wait, not queue 20 MiB
        grown = worker_rss_kib(asgi) - before
        response = conn.read_response()
    assert len(response.body) == size
    if not running_under_asan():  # ASan's quarantine keeps freed memory resident
        assert grown < 8 * 1024, grown


# --------------------------------------------------------------------------- app errors and misuse
@pytest.mark.parametrize("path, status, log", [
    ("/error-before", 500, "boom before the response"),
    ("/no-response", 500, "ASGI callable returned without starting response."),
    ("/start-only", 500, "ASGI callable returned without completing response."),
    ("/double-start", 500, "after the response already started"),
    ("/bad-header", 500, "invalid response header x-bad"),
    ("/str-header", 500, "an ASGI header name must be bytes, not str"),
    ("/bad-status", 500, "must be a final status"),
    ("/unknown-message", 500, "Unexpected ASGI message 'http.response.nonsense'"),
])
def test_errors_before_the_response_give_500(asgi, path, status, log):
    r = asgi.get(path)
    assert r.status_code == status
    assert "Injected" not in r.headers
    asgi.wait_for_stderr(log)
    assert asgi.get("/echo").status_code == 200  # the worker serves on


def test_error_after_start_closes_without_a_complete_response(asgi):
    with asgi.raw() as conn:
        conn.send(b"GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_until_closed(conn)
    assert b"partial" in data
    assert not data.endswith(b"0\r\n\r\n")  # never looks complete
    asgi.wait_for_stderr("boom after the response started")


def test_more_than_content_length_is_cut_and_closed(asgi):
    with asgi.raw() as conn:
        conn.send(b"GET /too-long HTTP/1.1\r\nHost: x\r\n\r\n")
        response = conn.read_response()
        assert response.body == b"abc"
        assert conn.read_some(timeout=3) == b""  # closed after it


def test_receive_send_kept_past_the_request(asgi):
    assert asgi.get("/keep-refs").status_code == 200
    result = asgi.get("/use-kept").json()
    assert result["receive"] == {"type": "http.disconnect"}
    assert result["send"].startswith("send raised: ASGI send() after the request")


def test_send_from_another_thread_is_refused(asgi):
    assert asgi.get("/from-thread").json() == {"outcome": "RuntimeError"}


def test_concurrent_receive_is_refused(asgi):
    assert asgi.get("/concurrent-receive").text == "receive() is already being awaited"


# --------------------------------------------------------------------------- disconnects
def test_disconnect_reaches_a_waiting_receive(asgi):
    conn = asgi.raw()
    conn.send(b"GET /wait-disconnect HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"waiting" in conn.read_some(timeout=3)
    conn.close()
    deadline = time.monotonic() + 3
    while "http.disconnect" not in asgi.get("/disconnects").json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_receive_after_the_response_is_disconnect(asgi):
    assert asgi.get("/after-response").text == "done"
    deadline = time.monotonic() + 3
    while "after:http.disconnect" not in asgi.get("/disconnects").json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_abandoned_task_is_cancelled_after_grace_period(server_factory):
    srv = server_factory(*ASGI, "--asgi-disconnect-grace-period", "1", "--log-level", "debug", "asgi_basic:app")
    conn = srv.raw()
    conn.send(b"GET /sleep?30 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    conn.close()
    srv.wait_for_stderr("ASGI request task cancelled", timeout=5)
    assert srv.get("/echo").status_code == 200


# --------------------------------------------------------------------------- concurrency
def test_200_concurrent_sleeping_requests_on_one_worker(asgi):
    results = []

    def one():
        results.append(requests.get(asgi.url + "/sleep?1", timeout=10).status_code)
    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == [200] * 200
    assert elapsed < 3, elapsed


def test_slow_client_does_not_delay_others(asgi):
    slow = asgi.raw()
    slow.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")  # stalls mid-body
    try:
        started = time.monotonic()
        assert asgi.get("/echo").status_code == 200
        assert time.monotonic() - started < 0.5
    finally:
        slow.close()


# --------------------------------------------------------------------------- lifespan
def test_lifespan_startup_failure_stops_the_master(cli):
    p = cli("-k", "asgi", "-b", "127.0.0.1:%d" % free_port(), "asgi_lifespan:app",
            env={"NARWHAL_TEST_LIFESPAN": "fail"}, timeout=20)
    assert p.returncode == 4, p.stderr
    assert "database unreachable" in p.stderr
    assert "Application startup failed. Exiting." in p.stderr
    assert "App failed to load" in p.stderr


def test_lifespan_exception_with_lifespan_on_stops(cli):
    p = cli("-k", "asgi", "--asgi-lifespan", "on", "-b", "127.0.0.1:%d" % free_port(), "asgi_lifespan:app",
            env={"NARWHAL_TEST_LIFESPAN": "raise"}, timeout=20)
    assert p.returncode == 4, p.stderr
    assert "Exception in 'lifespan' protocol" in p.stderr and "lifespan exploded" in p.stderr


def test_lifespan_auto_tolerates_apps_without_it(server_factory):
    srv = server_factory(*ASGI, "--log-level", "info", "asgi_lifespan:no_lifespan")
    assert srv.get("/").text == "served without lifespan"
    srv.wait_for_stderr("ASGI 'lifespan' protocol appears unsupported.")


def test_lifespan_off_sends_no_lifespan_events(server_factory):
    srv = server_factory(*ASGI, "--asgi-lifespan", "off", "asgi_lifespan:app", env={"NARWHAL_TEST_LIFESPAN": "fail"})
    assert srv.get("/").text == "served"


def test_lifespan_shutdown_runs_on_stop(server_factory, tmp_path):
    marker = tmp_path / "shutdown"
    srv = server_factory(*ASGI, "asgi_basic:app", env={"NARWHAL_TEST_SHUTDOWN_FILE": str(marker)})
    assert srv.get("/echo").status_code == 200
    assert srv.terminate() == 0
    assert marker.read_text().startswith("shutdown ")


# --------------------------------------------------------------------------- process management
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_event_loop_choice(server_factory, loop):
    srv = server_factory(*ASGI, "--asgi-loop", loop, "--log-level", "debug", "asgi_basic:app")
    assert srv.get("/echo").status_code == 200
    srv.wait_for_stderr("ASGI worker event loop: %s" % loop)


def test_graceful_hup_finishes_in_flight_requests(server_factory):
    srv = server_factory(*ASGI, "asgi_basic:app")
    results = []

    def slow():
        results.append(requests.get(srv.url + "/sleep?1.5", timeout=10).text)
    threads = [threading.Thread(target=slow) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    os.kill(srv.pid, signal.SIGHUP)
    for t in threads:
        t.join()
    assert results == ["slept"] * 5


def test_max_requests_recycles_the_worker(server_factory):
    srv = server_factory(*ASGI, "--max-requests", "3", "asgi_basic:app")
    for _ in range(8):
        assert srv.get("/echo").status_code == 200
    srv.wait_for_stderr("Autorestarting worker after current request.")


def test_blocked_event_loop_hits_the_timeout(server_factory):
    srv = server_factory(*ASGI, "--timeout", "2", "asgi_basic:app")
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(srv.url + "/block?10", timeout=8)
    text = srv.wait_for_stderr("WORKER TIMEOUT", timeout=8)
    srv.wait_for_stderr("time.sleep(float(query", timeout=5)  # the loop thread's traceback
    assert "WORKER TIMEOUT" in text
    assert srv.get("/echo", timeout=10).status_code == 200  # a new worker serves


def test_access_log_line(asgi):
    asgi.post("/echo?q=1", data=b"12345", headers={"User-Agent": "asgi-test"})
    deadline = time.monotonic() + 3
    while '"POST /echo?q=1 HTTP/1.1" 200 5 "-" "asgi-test"' not in asgi.stdout_text():
        assert time.monotonic() < deadline, asgi.stdout_text()
        time.sleep(0.05)


def test_access_log_response_header_atom(server_factory):
    srv = server_factory(*ASGI, "--access-logfile", "-", "--access-logformat", "resp=%({x-one}o)s status=%(s)s",
                         "asgi_basic:app")
    assert srv.get("/headers").status_code == 201
    deadline = time.monotonic() + 3
    while "resp=1 status=201" not in srv.stdout_text():
        assert time.monotonic() < deadline, srv.stdout_text()
        time.sleep(0.05)
