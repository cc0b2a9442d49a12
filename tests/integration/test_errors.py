"""Application errors and malformed requests."""

import uuid

import pytest

from harness import wait_until
from rawhttp import IncompleteResponse, build_request


def app_calls(server):
    r = server.get("/count", timeout=5)
    assert r.status_code == 200
    return int(r.text)


def pid(server):
    return int(server.get("/pid", timeout=5).text)


# --------------------------------------------------------------------------- app errors
def test_app_exception_gives_generic_500(basic_server):
    marker = "narwhal-boom-%s" % uuid.uuid4().hex
    r = basic_server.get("/error?marker=" + marker)
    assert r.status_code == 500
    assert marker not in r.text           # no exception details leak to the client
    assert "Traceback" not in r.text
    log = basic_server.wait_for_stderr(marker)
    assert "Traceback" in log
    assert "RuntimeError" in log
    # the next request (new connection) works
    r = basic_server.get("/hello")
    assert r.status_code == 200 and r.text == "hello"


def test_bad_header_from_app_gives_500(basic_server):
    before = len(basic_server.stderr_text())
    with basic_server.raw() as conn:
        conn.send(build_request("GET", "/badheader", [("Connection", "close")]))
        resp = conn.read_response()
    assert resp.status == 500
    assert resp.header("Injected") is None
    assert resp.header("X-Bad") is None
    assert b"should not be sent" not in resp.body

    def logged():
        return "header" in basic_server.stderr_text()[before:].lower()
    wait_until(logged, 5, message="error-log line about the bad header")
    assert basic_server.get("/hello").status_code == 200


def test_exception_after_headers_sent_closes_connection(basic_server):
    worker = pid(basic_server)
    marker = "narwhal-late-%s" % uuid.uuid4().hex
    with basic_server.raw() as conn:
        conn.send(build_request("GET", "/error-after-headers?marker=" + marker))
        with pytest.raises(IncompleteResponse) as info:
            conn.read_response()   # chunked body must NOT be terminated cleanly
        assert info.value.partial.startswith(b"HTTP/1.1 200")
        assert b"first-chunk" in info.value.partial
        assert b"\r\n0\r\n\r\n" not in info.value.partial
    basic_server.wait_for_stderr(marker)
    assert pid(basic_server) == worker   # the worker survived


def test_exception_after_headers_is_access_logged_with_what_was_sent(server_factory, tmp_path):
    """As gunicorn's access log (resp.status, resp.sent): the status the app gave and the body
    bytes that went out before the error, not 0 / 0."""
    log = tmp_path / "access.log"
    srv = server_factory("-w", "1", "--access-logfile", str(log), "--access-logformat", "%(U)s %(s)s %(B)s",
                         "wsgi_basic:app")
    with srv.raw() as conn:
        conn.send(build_request("GET", "/error-after-headers?marker=access-" + uuid.uuid4().hex))
        with pytest.raises(IncompleteResponse):
            conn.read_response()
    lines = wait_until(lambda: [line for line in log.read_text().splitlines()
                                if line.startswith("/error-after-headers ")] if log.exists() else None,
                       5, message="the access line")
    assert lines == ["/error-after-headers 200 %d" % len(b"first-chunk\n")], lines


def test_exception_after_headers_with_content_length_closes(basic_server):
    """A Content-Length body cut short by an app error must end in a close
    (the client sees a truncated body), never a hang or a padded body."""
    token = "cl-" + uuid.uuid4().hex
    with basic_server.raw(timeout=5) as conn:
        conn.send(build_request("GET", "/closecount?fail=1&cl=100&token=" + token))
        with pytest.raises(IncompleteResponse) as info:
            conn.read_response()
    assert info.value.partial.startswith(b"HTTP/1.1 200")
    assert "timed out" not in str(info.value), "server neither finished nor closed"
    assert info.value.partial.endswith(b"part0\n")
    assert basic_server.get("/closed?token=" + token).json()["count"] == 1
    assert basic_server.get("/hello").status_code == 200


# --------------------------------------------------------------------------- malformed requests
MANY_HEADERS = "".join("X-H%d: v\r\n" % i for i in range(150))

MALFORMED = [
    ("space_in_header_name", b"GET /count HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", {400}),
    ("obs_fold", b"GET /count HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n  b\r\n\r\n", {400}),
    ("missing_host_http11", b"GET /count HTTP/1.1\r\nUser-Agent: t\r\n\r\n", {400}),
    ("request_line_too_long",
     b"GET /count?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", {414}),
    ("too_many_headers",
     b"GET /count HTTP/1.1\r\nHost: x\r\n" + MANY_HEADERS.encode() + b"\r\n", {431}),
    ("header_field_too_large",
     b"GET /count HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", {400, 431}),
    ("invalid_method", b"G(T /count HTTP/1.1\r\nHost: x\r\n\r\n", {400}),
    ("invalid_version", b"GET /count HTTP/1.x\r\nHost: x\r\n\r\n", {400}),
    ("unsupported_version", b"GET /count HTTP/2.7\r\nHost: x\r\n\r\n", {400, 505}),
    ("content_length_and_chunked",
     b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", {400}),
    ("invalid_content_length",
     b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", {400}),
    ("conflicting_content_lengths",
     b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
     {400}),
    ("nul_in_header_value", b"GET /count HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", {400}),
    ("unknown_transfer_coding",
     b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", {400, 501}),
]


@pytest.mark.parametrize("name,data,statuses", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_request_rejected_before_app(basic_server, name, data, statuses):
    before = app_calls(basic_server)
    with basic_server.raw(timeout=5) as conn:
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server may reject early and close while we still write
        resp = conn.read_response()
        assert resp.status in statuses, resp
        assert conn.is_closed(3), "connection must be closed after a malformed request"
    after = app_calls(basic_server)
    assert after == before + 1, "the app was called for a malformed request (%s)" % name
