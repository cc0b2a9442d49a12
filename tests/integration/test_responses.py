"""Response framing and connection semantics, write(), file_wrapper, and the
iterable's close() (PEP 3333)."""

import email.utils
import os
import time
import uuid
from urllib.parse import quote

import pytest

from harness import APPS_DIR, wait_until
from rawhttp import build_request, read_all_until_close

WSGI_BASIC_FILE = APPS_DIR / "wsgi_basic.py"


def get(server, path, method="GET", headers=None, version="HTTP/1.1", body=b""):
    """One request with Connection: close; returns (response, closed_after)."""
    headers = list(headers or [])
    if version == "HTTP/1.1" and not any(k.lower() == "connection" for k, _ in headers):
        headers.append(("Connection", "close"))
    with server.raw() as conn:
        conn.send(build_request(method, path, headers, body, version))
        resp = conn.read_response(method)
        return resp, conn.is_closed(3)


def bytes_after_head(raw):
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, raw
    return head.decode("latin-1"), rest


# --------------------------------------------------------------------------- framing
def test_content_length_from_app(basic_server):
    resp, _ = get(basic_server, "/hello")
    assert resp.status == 200
    assert resp.framing == "length"
    assert resp.header("Content-Length") == "5"
    assert resp.header("Transfer-Encoding") is None
    assert resp.body == b"hello"


def test_content_length_with_multiple_chunks(basic_server):
    resp, _ = get(basic_server, "/sized-stream?n=7")
    expected = b"".join(b"chunk%d\n" % i for i in range(7))
    assert resp.framing == "length"
    assert resp.header("Content-Length") == str(len(expected))
    assert resp.header("Transfer-Encoding") is None
    assert resp.body == expected


def test_chunked_when_length_unknown_http11(basic_server):
    resp, _ = get(basic_server, "/stream?n=5")
    assert resp.status == 200
    assert resp.framing == "chunked"
    assert resp.header("Content-Length") is None
    assert resp.body == b"".join(b"chunk%d\n" % i for i in range(5))


def test_close_delimited_on_http10(basic_server):
    raw = read_all_until_close(basic_server.port,
                               build_request("GET", "/stream?n=5", version="HTTP/1.0",
                                             host=None))
    head, body = bytes_after_head(raw)
    assert head.split(" ")[1] == "200"
    assert "transfer-encoding" not in head.lower()
    assert "content-length" not in head.lower()
    assert body == b"".join(b"chunk%d\n" % i for i in range(5))


def test_date_and_server_headers(basic_server):
    resp, _ = get(basic_server, "/hello")
    server = resp.header("Server")
    assert server, resp.headers
    date = resp.header("Date")
    assert date, resp.headers
    assert date.endswith(" GMT")
    parsed = email.utils.parsedate_to_datetime(date)
    assert abs(parsed.timestamp() - time.time()) < 60


def test_head_keeps_content_length_and_sends_no_body(basic_server):
    raw = read_all_until_close(basic_server.port,
                               build_request("HEAD", "/hello", [("Connection", "close")]))
    head, body = bytes_after_head(raw)
    assert " 200 " in head.split("\r\n")[0]
    assert "content-length: 5" in head.lower()
    assert body == b""


def test_head_on_streamed_response_sends_no_body(basic_server):
    raw = read_all_until_close(basic_server.port,
                               build_request("HEAD", "/stream?n=3", [("Connection", "close")]))
    head, body = bytes_after_head(raw)
    assert " 200 " in head.split("\r\n")[0]
    assert body == b""  # not even a chunked terminator


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(basic_server, code):
    raw = read_all_until_close(basic_server.port,
                               build_request("GET", "/status?code=%d" % code,
                                             [("Connection", "close")]))
    head, body = bytes_after_head(raw)
    assert head.split(" ")[1] == str(code)
    assert "transfer-encoding" not in head.lower()
    assert body == b""


def test_large_body(basic_server):
    resp, _ = get(basic_server, "/big?n=5000000")
    assert resp.header("Content-Length") == "5000000"
    assert resp.body == b"x" * 5000000


# --------------------------------------------------------------------------- connection
def test_client_connection_close(basic_server):
    resp, closed = get(basic_server, "/hello", headers=[("Connection", "close")])
    assert resp.status == 200
    assert "close" in resp.connection_tokens()
    assert closed


def test_app_connection_close_closes(basic_server):
    with basic_server.raw() as conn:
        # HTTP/1.1 default is keep-alive; the app's header must win
        conn.send(build_request("GET", "/close"))
        resp = conn.read_response()
        assert resp.status == 200
        assert resp.body == b"closing"
        assert "close" in resp.connection_tokens()
        assert conn.is_closed(3)


def test_http10_without_keepalive_closes(basic_server):
    resp, closed = get(basic_server, "/hello", version="HTTP/1.0")
    assert resp.status == 200
    assert resp.body == b"hello"
    assert closed


def test_http10_keepalive_stays_open(basic_server):
    with basic_server.raw() as conn:
        conn.send(build_request("GET", "/hello", [("Connection", "keep-alive")],
                                version="HTTP/1.0", host=None))
        first = conn.read_response()
        assert first.status == 200 and first.body == b"hello"
        assert "keep-alive" in first.connection_tokens()
        assert conn.is_open(0.5)
        conn.send(build_request("GET", "/hello", version="HTTP/1.0", host=None))
        second = conn.read_response()
        assert second.status == 200 and second.body == b"hello"
        assert conn.is_closed(3)  # second request did not ask for keep-alive


# --------------------------------------------------------------------------- write(), exc_info
def test_write_callable(basic_server):
    resp, _ = get(basic_server, "/write")
    assert resp.status == 200
    assert resp.header("Content-Length") == "24"
    assert resp.body == b"written-1;written-2;ret;"


def test_exc_info_replaces_unsent_headers(basic_server):
    resp, _ = get(basic_server, "/exc_info")
    assert resp.status == 500
    assert resp.header("X-Recovered") == "1"
    assert resp.body == b"recovered"


# --------------------------------------------------------------------------- file_wrapper
def test_file_wrapper_real_file(basic_server):
    resp, _ = get(basic_server, "/filewrapper")
    expected = WSGI_BASIC_FILE.read_bytes()
    assert resp.status == 200
    assert resp.header("Content-Length") == str(len(expected))
    assert resp.body == expected


def test_file_wrapper_large_real_file(basic_server, tmp_path):
    data = os.urandom(4 * 1024 * 1024 + 5)
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    resp, _ = get(basic_server, "/filewrapper?path=%s" % quote(str(f)))
    assert resp.header("Content-Length") == str(len(data))
    assert resp.body == data


def test_file_wrapper_without_length_gets_file_size(basic_server, tmp_path):
    # sendfile path: the server knows the regular file's size, so it frames with Content-Length
    data = os.urandom(200000)
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    resp, _ = get(basic_server, "/filewrapper?nolength=1&path=%s" % quote(str(f)))
    assert resp.header("Content-Length") == str(len(data))
    assert resp.body == data


def test_file_wrapper_without_length_no_sendfile_is_chunked(server_factory, tmp_path):
    srv = server_factory("-w", "1", "--no-sendfile", "wsgi_basic:app")
    data = os.urandom(200000)
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    resp, _ = get(srv, "/filewrapper?nolength=1&path=%s" % quote(str(f)))
    assert resp.framing == "chunked"
    assert resp.body == data


def test_file_wrapper_bytesio(basic_server):
    resp, _ = get(basic_server, "/bytesio")
    expected = bytes(range(256)) * 4096
    assert resp.header("Content-Length") == str(len(expected))
    assert resp.body == expected


# --------------------------------------------------------------------------- close()
def closed_count(server, token):
    return server.get("/closed?token=" + token, timeout=5).json()["count"]


def test_iterable_close_called(basic_server):
    token = uuid.uuid4().hex
    resp, _ = get(basic_server, "/closecount?token=" + token)
    assert resp.body == b"part0\npart1\npart2\n"
    assert wait_until(lambda: closed_count(basic_server, token) == 1, 5, message="close()")


def test_list_subclass_close_called(basic_server):
    token = uuid.uuid4().hex
    resp, _ = get(basic_server, "/closecount?kind=list&token=" + token)
    assert resp.body == b"part0\npart1\n"
    assert wait_until(lambda: closed_count(basic_server, token) == 1, 5, message="close()")


def test_failing_close_lookup_is_logged(basic_server):
    resp, _ = get(basic_server, "/closecount?kind=badclose&token=x")
    assert resp.status == 200 and resp.body == b"part0\npart1\n"
    basic_server.wait_for_stderr("narwhal-test-close-lookup-failure")
    assert basic_server.get("/hello", timeout=5).text == "hello"


def test_iterable_close_called_on_head(basic_server):
    token = uuid.uuid4().hex
    raw = read_all_until_close(basic_server.port,
                               build_request("HEAD", "/closecount?token=" + token,
                                             [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.1 200")
    assert wait_until(lambda: closed_count(basic_server, token) == 1, 5, message="close()")


def test_iterable_close_called_on_exception(basic_server):
    token = uuid.uuid4().hex
    raw = read_all_until_close(basic_server.port,
                               build_request("GET", "/closecount?fail=1&token=" + token,
                                             [("Connection", "close")]))
    assert raw.startswith(b"HTTP/1.")
    assert wait_until(lambda: closed_count(basic_server, token) == 1, 5, message="close()")
    basic_server.wait_for_stderr("narwhal-test-iter-failure")


def test_iterable_close_called_on_client_disconnect(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    token = uuid.uuid4().hex
    # ~60 s of slow output: only an abort on disconnect lets the worker answer again soon
    conn = srv.raw()
    conn.send(build_request("GET", "/closecount?n=3000&delay=0.02&token=" + token))
    first = conn.read_some(timeout=5)
    assert first and first.startswith(b"HTTP/1.1 200"), first
    conn.close()
    assert wait_until(lambda: closed_count(srv, token) == 1, 8, message="close() after disconnect")
    # and the worker is still serving
    assert srv.get("/hello", timeout=5).text == "hello"
