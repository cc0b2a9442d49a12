"""HTTP/1.1 hardening: every parsing rule of docs/http.md, checked over a real socket.

Each rejected request is followed, in the same write, by a second well-formed request (the
"smuggled" one). The server must answer the first with the documented status and close: the
smuggled request must never reach the application. The app's own call counter (/count, which
counts itself) proves it: across one rejected request it moves by exactly one (the /count
call), or by two when the error is in the body and the app was legitimately called.
"""

import base64
import json
import socket
import time
from pathlib import Path

import pytest

from harness import SMUGGLED, app_calls
from rawhttp import IncompleteResponse, RawConnection, build_request, chunked, raw_request as req

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "gunicorn-requests" / "cases"

H = b"Host: localhost"


# --------------------------------------------------------------------------- helpers
def send_and_read(server, data, method="GET", timeout=5):
    """Send raw bytes; return (response or None, closed_after)."""
    with server.raw(timeout=timeout) as conn:
        conn.send(data)
        try:
            resp = conn.read_response(method)
        except IncompleteResponse as e:
            assert "timed out" not in str(e), "server neither answered nor closed: %r" % e.partial
            assert e.partial == b"", "partial response: %r" % e.partial
            return None, True
        return resp, conn.is_closed(3.0)


def assert_rejected(server, data, status, app_called=False):
    """`data` must get `status` (or, for status=None, any 4xx/5xx or a bare close) followed by
    a close, and the request smuggled behind it must never reach the app."""
    before = app_calls(server)
    resp, closed = send_and_read(server, data + SMUGGLED)
    if status is None:
        assert resp is None or 400 <= resp.status < 600, resp
    else:
        assert resp is not None, "connection closed without the %d response" % status
        assert resp.status == status, (resp, data[:200])
        assert "close" in resp.connection_tokens()
    assert closed, "connection left open after an error"
    after = app_calls(server)
    expected = before + 1 + (1 if app_called else 0)
    assert after == expected, "the app saw %d extra request(s)" % (after - expected)
    return resp


def assert_served(server, data, status=200, method="GET"):
    with server.raw(timeout=5) as conn:
        conn.send(data)
        resp = conn.read_response(method)
    assert resp.status == status, (resp, data[:200])
    return resp


def environ_of(server, data):
    resp = assert_served(server, data)
    return json.loads(resp.body)["env"]


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("-w", "1", "wsgi_basic:app")


# --------------------------------------------------------------------------- request line
@pytest.mark.parametrize("method", ["PURGE", "PROPFIND", "M-SEARCH", "ABCDEFGHIJKLMNOPQRST"])
def test_unknown_uppercase_token_method_is_served(server, method):
    env = environ_of(server, req("%s /env HTTP/1.1" % method, H))
    assert env["REQUEST_METHOD"] == method


@pytest.mark.parametrize("line", [
    b"get /count HTTP/1.1",             # lower case (gunicorn policy)
    b"Get /count HTTP/1.1",
    b"GE /count HTTP/1.1",              # shorter than 3
    b"ABCDEFGHIJKLMNOPQRSTU /count HTTP/1.1",  # longer than 20
    b"GET# /count HTTP/1.1",
    b"G:ET /count HTTP/1.1",            # not a token
    b"G\x00ET /count HTTP/1.1",
    b"G\xc3\x89T /count HTTP/1.1",
    b"GET  /count HTTP/1.1",            # two spaces
    b"GET\t/count HTTP/1.1",
    b" GET /count HTTP/1.1",
    b"GET /count HTTP/1.1 ",
    b"GET /count",                      # no version
])
def test_bad_method_or_request_line_is_400(server, line):
    assert_rejected(server, req(line, H), 400)


def test_request_line_bare_lf_is_400(server):
    assert_rejected(server, b"GET /count HTTP/1.1\nHost: x\r\n\r\n", 400)


@pytest.fixture(scope="module")
def unconventional_server(module_server_factory):
    return module_server_factory("-w", "1", "--permit-unconventional-http-method", "wsgi_basic:app")


@pytest.mark.parametrize("method", ["get", "Get", "GE", "X", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "-BLARGH"])
def test_permit_unconventional_http_method(unconventional_server, method):
    env = environ_of(unconventional_server, req("%s /env HTTP/1.1" % method, H))
    assert env["REQUEST_METHOD"] == method


@pytest.mark.parametrize("line", [b"G:ET /count HTTP/1.1", b"G\x00T /count HTTP/1.1",
                                  b"GET@ /count HTTP/1.1"])
def test_unconventional_methods_still_need_a_token(unconventional_server, line):
    assert_rejected(unconventional_server, req(line, H), 400)


def test_casefold_http_method(server_factory):
    srv = server_factory("-w", "1", "--casefold-http-method",
                         "--permit-unconventional-http-method", "wsgi_basic:app")
    assert environ_of(srv, req("get /env HTTP/1.1", H))["REQUEST_METHOD"] == "GET"


def test_absolute_form_target(server):
    env = environ_of(server, req("GET http://example.com:8080/env/x?a=1 HTTP/1.1", "Host: other"))
    assert env["PATH_INFO"] == "/env/x"
    assert env["QUERY_STRING"] == "a=1"


@pytest.mark.parametrize("target", [b"http:///env", b"http://user@example.com/env",
                                    b"http://exa mple.com/env", b"http://example.com:8x/env",
                                    b"http://ex\"ample.com/env"])
def test_bad_absolute_form_is_400(server, target):
    assert_rejected(server, req(b"GET " + target + b" HTTP/1.1", H), 400)


def test_asterisk_form_only_with_options(server):
    resp = assert_served(server, req("OPTIONS * HTTP/1.1", H), status=404)
    assert resp.body.startswith(b"not found")   # reached the app
    assert_rejected(server, req("GET * HTTP/1.1", H), 400)
    assert_rejected(server, req("POST * HTTP/1.1", H, "Content-Length: 0"), 400)


def test_authority_form_only_with_connect(server):
    before = app_calls(server)
    with server.raw(timeout=5) as conn:
        conn.send(req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"))
        resp = conn.read_response()
    assert resp.status != 400               # the parser accepts it; the app answers
    assert app_calls(server) == before + 2
    assert_rejected(server, req("GET example.com:443 HTTP/1.1", H), 400)
    assert_rejected(server, req("CONNECT /path HTTP/1.1", H), 400)
    assert_rejected(server, req("CONNECT user@example.com:443 HTTP/1.1", H), 400)
    assert_rejected(server, req("GET foo/bar HTTP/1.1", H), 400)


@pytest.mark.parametrize("target", [b"/a\x00b", b"/a\x01b", b"/a\x1fb", b"/a\x7fb", b"/a\tb",
                                    b"/a\x0bb", b"/a\xc3\xa9", b"/a b", b"/a#frag", b'/a"b'])
def test_bad_target_bytes_are_400(server, target):
    assert_rejected(server, req(b"GET " + target + b" HTTP/1.1", H), 400)


def test_lenient_target_characters_are_served(server):
    env = environ_of(server, req("GET /env/<a>{b}|c^d`e\\ HTTP/1.1", H))
    assert env["PATH_INFO"] == "/env/<a>{b}|c^d`e\\"


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_supported_versions(server, version):
    resp = assert_served(server, req("GET /env HTTP/%s" % version[5:], H))
    assert json.loads(resp.body)["env"]["SERVER_PROTOCOL"] == version


@pytest.mark.parametrize("version,status", [
    (b"HTTP/1.2", 505), (b"HTTP/2.0", 505), (b"HTTP/0.9", 505), (b"HTTP/3.0", 505),
    (b"HTTP/1.10", 400), (b"http/1.1", 400), (b"HTTP/111", 400), (b"FTP/1.1", 400),
    (b"HTTP/1", 400), (b"HTTP/1.1.1", 400), (b"HTTP/ 1.1", 400),
])
def test_version_status(server, version, status):
    assert_rejected(server, req(b"GET /count " + version, H), status)


def test_http2_preface_gets_505_and_close(server):
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    settings_frame = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    started = time.monotonic()
    resp = assert_rejected(server, preface + settings_frame, 505)
    assert resp.status == 505
    assert time.monotonic() - started < 5
    # the preface alone, without anything after it, must not hang either
    resp, closed = send_and_read(server, preface)
    assert resp is not None and resp.status == 505 and closed


def test_tls_client_hello_on_plain_port_is_refused_at_once(server):
    hello = bytes.fromhex("16030100c4010000c00303") + b"\x00" * 40
    resp, closed = send_and_read(server, hello)
    assert closed and (resp is None or resp.status == 400)


# --------------------------------------------------------------------------- header fields
@pytest.mark.parametrize("field", [
    b"X(y): 1", b"X@: 1", b"X Y: 1", b"X\x00Y: 1", b"X\xc3\x9f: 1", b"X\"y: 1", b"X/y: 1",
    b": empty-name", b"X-Test : before-colon", b"X-Test\t: before-colon", b"no-colon-here",
])
def test_bad_field_name_is_400(server, field):
    assert_rejected(server, req("GET /count HTTP/1.1", H, field), 400)


def test_obs_fold_is_400(server):
    assert_rejected(server, req("GET /count HTTP/1.1", H, "X-Long: one", " two"), 400)
    assert_rejected(server, req("GET /count HTTP/1.1", H, "X-Long: one", "\ttwo"), 400)


@pytest.mark.parametrize("value", [b"a\rb", b"a\x00b", b"a\x01b", b"a\x1bb", b"a\x7fb",
                                   b"a\x0bb", b"a\x0cb"])
def test_bad_field_value_bytes_are_400(server, value):
    assert_rejected(server, req("GET /count HTTP/1.1", H, b"X-Test: " + value), 400)


def test_field_line_bare_lf_is_400(server):
    assert_rejected(server, b"GET /count HTTP/1.1\r\nHost: x\nX-Test: 1\r\n\r\n", 400)
    assert_rejected(server, b"GET /count HTTP/1.1\r\nHost: x\r\n\n", 400)


def test_ows_trimmed_inner_whitespace_kept(server):
    env = environ_of(server, req("GET /env HTTP/1.1", H, "X-Test: \t  a  b\tc \t ",
                                 "X-Empty:", "X-Spaces:    "))
    assert env["HTTP_X_TEST"] == "a  b\tc"
    assert env["HTTP_X_EMPTY"] == ""
    assert env["HTTP_X_SPACES"] == ""


def test_obs_text_in_value_is_accepted_as_latin1(server):
    env = environ_of(server, req("GET /env HTTP/1.1", H, b"X-Test: caf\xc3\xa9\xff"))
    assert env["HTTP_X_TEST"] == "caf\u00c3\u00a9\u00ff"


def test_host_rules(server):
    assert_rejected(server, req("GET /count HTTP/1.1"), 400)                        # missing
    assert_rejected(server, req("GET /count HTTP/1.1", H, "Host: evil"), 400)       # twice
    assert_rejected(server, req("GET /count HTTP/1.0", "Host: a", "Host: b"), 400)  # 1.0 too
    assert_rejected(server, req("GET /count HTTP/1.1", "Host: a b"), 400)           # invalid
    assert_rejected(server, req("GET /count HTTP/1.1", "Host: a@b"), 400)
    # HTTP/1.0 may omit Host; an empty Host is allowed (RFC 9110 §7.2)
    assert assert_served(server, req("GET /hello HTTP/1.0")).body == b"hello"
    assert assert_served(server, req("GET /hello HTTP/1.1", "Host:")).body == b"hello"


def test_duplicate_content_type_is_400(server):
    assert_rejected(server, req("GET /count HTTP/1.1", H, "Content-Type: a/b", "Content-Type: c/d"), 400)


# --------------------------------------------------------------------------- framing
@pytest.mark.parametrize("value", [b"abc", b"+5", b"-1", b"5 5", b"5,5", b"5, 5", b"0x5", b"5.0",
                                   b"99999999999999999999999"])
def test_bad_content_length_is_400(server, value):
    assert_rejected(server, req("POST /echo HTTP/1.1", H, b"Content-Length: " + value, body=b"hello"), 400)


def test_content_length_ows_is_trimmed(server):
    resp = assert_served(server, req("POST /echo HTTP/1.1", H, "Content-Length:  5 ", body=b"hello"))
    assert json.loads(resp.body)["body"] == "hello"


@pytest.mark.parametrize("fields", [
    ("Content-Length: 5", "Content-Length: 6"),
    ("Content-Length: 5", "Content-Length: 5"),     # even identical values
    ("Content-Length: 5", "Transfer-Encoding: chunked"),
    ("Transfer-Encoding: chunked", "Content-Length: 5"),
    ("Transfer-Encoding: chunked, gzip",),
    ("Transfer-Encoding: gzip",),
    ("Transfer-Encoding: identity",),
    ("Transfer-Encoding: chunked, chunked",),
    ("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
    ("Transfer-Encoding: \"chunked\"",),
    ("Transfer-Encoding: xchunked",),
])
def test_ambiguous_framing_is_400(server, fields):
    assert_rejected(server, req("POST /echo HTTP/1.1", H, *fields, body=b"5\r\nhello\r\n0\r\n\r\n"), 400)


@pytest.mark.parametrize("te", ["gzip, chunked", "deflate, chunked", "identity, chunked", "br,chunked",
                                "x-custom, chunked"])
def test_unknown_transfer_coding_is_501(server, te):
    assert_rejected(server, req("POST /echo HTTP/1.1", H, "Transfer-Encoding: " + te,
                                body=b"5\r\nhello\r\n0\r\n\r\n"), 501)


def test_transfer_encoding_on_http10_is_400(server):
    assert_rejected(server, req("POST /echo HTTP/1.0", "Transfer-Encoding: chunked",
                                body=b"5\r\nhello\r\n0\r\n\r\n"), 400)


@pytest.mark.parametrize("te", ["chunked,", ", chunked", "chunked , ,"])
def test_empty_list_elements_in_transfer_encoding_are_ignored(server, te):
    """RFC 9110 §5.6.1: a recipient MUST accept (and ignore) empty list elements."""
    resp = assert_served(server, req("POST /echo HTTP/1.1", H, "Transfer-Encoding: " + te,
                                     body=b"5\r\nhello\r\n0\r\n\r\n"))
    assert json.loads(resp.body)["body"] == "hello"


def test_chunked_case_insensitive_and_ows(server):
    resp = assert_served(server, req("POST /echo HTTP/1.1", H, "Transfer-Encoding:  ChUnKeD ",
                                     body=b"5\r\nhello\r\n0\r\n\r\n"))
    assert json.loads(resp.body)["body"] == "hello"


def chunked_post(body, path="/echo?mode=read"):
    return req("POST %s HTTP/1.1" % path, H, "Transfer-Encoding: chunked", body=body)


@pytest.mark.parametrize("body", [
    b"zz\r\nhello\r\n0\r\n\r\n",                 # not hex
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"+5\r\nhello\r\n0\r\n\r\n",
    b"0x5\r\nhello\r\n0\r\n\r\n",
    b" 5\r\nhello\r\n0\r\n\r\n",
    b"5 \r\nhello\r\n0\r\n\r\n",                 # trailing whitespace without extension
    b"5_0\r\nhello\r\n0\r\n\r\n",
    b"\r\nhello\r\n0\r\n\r\n",                   # empty size
    b";ext\r\nhello\r\n0\r\n\r\n",               # extension without size
    b"10000000000000000\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n",   # 2^64: overflow
    b"fffffffffffffffff\r\nx\r\n0\r\n\r\n",
    b"5;" + b"e" * 9000 + b"\r\nhello\r\n0\r\n\r\n",              # oversize extension line
    b"5;a=\"b\rc\"\r\nhello\r\n0\r\n\r\n",                     # bare CR in extension
    b"5;a b\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n",                    # no CRLF after chunk data
    b"5\r\nhello\n0\r\n\r\n",                    # bare LF after chunk data
    b"5\nhello\r\n0\r\n\r\n",                    # bare LF after size
    b"5\r\nhello\r\n0\r\n",                      # last chunk without the final CRLF (EOF)
    b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n",        # forbidden trailer
    b"5\r\nhello\r\n0\r\nHost: evil\r\n\r\n",
    b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"5\r\nhello\r\n0\r\nX Bad: 1\r\n\r\n",      # bad trailer syntax
    b"5\r\nhello\r\n0\r\nX-T: a\x00b\r\n\r\n",
    b"5\r\nhello\r\n0\r\n folded\r\n\r\n",
], ids=lambda b: repr(b[:40]))
def test_bad_chunked_body_is_400_and_closes(server, body):
    before = app_calls(server)
    data = chunked_post(body)
    if not body.endswith(b"0\r\n"):
        data += SMUGGLED
    with server.raw(timeout=5) as conn:
        conn.send(data)
        if body.endswith(b"0\r\n"):
            conn.shutdown_write()
        try:
            resp = conn.read_response()
        except IncompleteResponse as e:
            assert "timed out" not in str(e), e.partial
            resp = None
        assert resp is not None and resp.status == 400, resp
        assert conn.is_closed(3.0)
    # the app never sees the request: the loop reads a small body before calling it, and
    # answers the malformed one itself (only the app_calls() request counts)
    assert app_calls(server) == before + 1


def test_valid_chunk_extensions_and_trailers(server):
    body = (b"5;name=value\r\nhello\r\n6 ; a = \"q\\\"s\" ; b\r\n world\r\n"
            b"0\r\nX-Checksum: abc\r\nContent-Type: text/plain\r\n\r\n")
    with server.raw(timeout=5) as conn:
        conn.send(chunked_post(body))
        resp = conn.read_response()
        assert json.loads(resp.body)["body"] == "hello world"
        assert conn.request("GET", "/hello").body == b"hello"   # connection still usable


def test_chunk_size_with_leading_zeros_and_upper_hex(server):
    resp = assert_served(server, chunked_post(b"000A\r\n0123456789\r\n00\r\n\r\n"))
    assert json.loads(resp.body)["body"] == "0123456789"


# --------------------------------------------------------------------------- limits
def test_request_line_over_default_limit_is_414(server):
    line = b"GET /" + b"a" * 4090 + b" HTTP/1.1"     # 4099 > 4094
    assert_rejected(server, req(line, H), 414)
    ok = b"GET /count?" + b"a" * (4094 - len(b"GET /count? HTTP/1.1")) + b" HTTP/1.1"
    assert len(ok) == 4094
    assert assert_served(server, req(ok, H)).status == 200


def test_request_line_limit_refused_before_line_ends(server):
    """An over-long line is refused as soon as it passes the limit, not at its CRLF."""
    with server.raw(timeout=5) as conn:
        conn.send(b"GET /" + b"a" * 5000)
        resp = conn.read_response()
        assert resp.status == 414
        assert conn.is_closed(3.0)


@pytest.fixture(scope="module")
def small_limits_server(module_server_factory):
    return module_server_factory("-w", "1", "--limit-request-line", "100", "--limit-request-fields", "5",
                                 "--limit-request-field_size", "60", "--limit-request-body", "1000",
                                 "wsgi_basic:app")


def test_small_request_line_limit(small_limits_server):
    assert_rejected(small_limits_server, req(b"GET /" + b"a" * 100 + b" HTTP/1.1", H), 414)
    assert assert_served(small_limits_server, req(b"GET /count?" + b"a" * 80 + b" HTTP/1.1", H)).status == 200


def test_too_many_fields_is_431(small_limits_server):
    fields = ["X-F%d: v" % i for i in range(5)]
    assert_rejected(small_limits_server, req("GET /count HTTP/1.1", H, *fields), 431)
    assert assert_served(small_limits_server, req("GET /count HTTP/1.1", H, *fields[:4])).status == 200


def test_too_large_field_is_431(small_limits_server):
    assert_rejected(small_limits_server, req("GET /count HTTP/1.1", H, "X-Big: " + "v" * 60), 431)
    assert assert_served(small_limits_server, req("GET /count HTTP/1.1", H, "X-Big: " + "v" * 40)).status == 200


def test_default_field_limits_are_431(server):
    fields = ["X-F%d: v" % i for i in range(100)]
    assert_rejected(server, req("GET /count HTTP/1.1", H, *fields), 431)
    assert_rejected(server, req("GET /count HTTP/1.1", H, "X-Big: " + "v" * 8190), 431)


def test_content_length_over_body_limit_is_413_before_the_body(small_limits_server):
    before = app_calls(small_limits_server)
    with small_limits_server.raw(timeout=5) as conn:
        # The client announces a body and waits: the answer must come without it.
        conn.send(req("POST /echo HTTP/1.1", H, "Content-Length: 1001"))
        resp = conn.read_response()
        assert resp.status == 413
        assert conn.is_closed(3.0)
    with small_limits_server.raw(timeout=5) as conn:
        conn.send(req("POST /echo HTTP/1.1", H, "Content-Length: 1000000000000", "Expect: 100-continue"))
        resp = conn.read_response()
        assert resp.status == 413                       # never 100 Continue
        assert conn.is_closed(3.0)
    assert app_calls(small_limits_server) == before + 1
    resp = assert_served(small_limits_server, req("POST /echo HTTP/1.1", H, "Content-Length: 1000",
                                                  body=b"b" * 1000))
    assert json.loads(resp.body)["len"] == 1000


def test_chunked_body_over_limit_is_413(small_limits_server):
    before = app_calls(small_limits_server)
    body = chunked(b"a" * 600, b"b" * 600)
    resp, closed = send_and_read(small_limits_server,
                                 req("POST /echo HTTP/1.1", H, "Transfer-Encoding: chunked", body=body) + SMUGGLED)
    assert resp is not None and resp.status == 413, resp
    assert closed
    assert app_calls(small_limits_server) == before + 1  # refused before the app is called
    # exactly at the limit is fine
    resp = assert_served(small_limits_server, req("POST /echo HTTP/1.1", H, "Transfer-Encoding: chunked",
                                                  body=chunked(b"a" * 500, b"b" * 500)))
    assert json.loads(resp.body)["len"] == 1000


def test_zero_limits_mean_the_safety_caps(server_factory):
    srv = server_factory("-w", "1", "--limit-request-line", "0", "--limit-request-fields", "0",
                         "--limit-request-field_size", "0", "wsgi_basic:app")
    # request line: 0 → 8190
    assert assert_served(srv, req(b"GET /count?" + b"a" * 8000 + b" HTTP/1.1", H)).status == 200
    assert_rejected(srv, req(b"GET /count?" + b"a" * 8200 + b" HTTP/1.1", H), 414)
    # fields: 0 → 32768 (many more than the default 100 are fine)
    many = ["X-F%d: v" % i for i in range(500)]
    assert assert_served(srv, req("GET /count HTTP/1.1", H, *many)).status == 200
    # field size: 0 → 8190 bytes including CRLF
    assert assert_served(srv, req("GET /count HTTP/1.1", H, "X-Big: " + "v" * 8000)).status == 200
    assert_rejected(srv, req("GET /count HTTP/1.1", H, "X-Big: " + "v" * 8190), 431)


def test_limit_request_line_over_cap_is_clamped(server_factory):
    srv = server_factory("-w", "1", "--limit-request-line", "100000", "wsgi_basic:app")
    assert_rejected(srv, req(b"GET /count?" + b"a" * 8200 + b" HTTP/1.1", H), 414)


# --------------------------------------------------------------------------- header_map
@pytest.mark.parametrize("mode", ["drop", "refuse", "dangerous", None])
def test_header_map(server_factory, mode):
    args = ["-w", "1"] + (["--header-map", mode] if mode else []) + ["wsgi_basic:app"]
    srv = server_factory(*args)
    data = req("GET /env HTTP/1.1", H, "X_Under: u", "X-Dash: d", "Content_Length: 99")
    if mode == "refuse":
        assert_rejected(srv, data, 400)
        return
    env = environ_of(srv, data)
    assert env["HTTP_X_DASH"] == "d"
    if mode == "dangerous":
        assert env["HTTP_X_UNDER"] == "u"
    else:  # drop is the default
        assert "HTTP_X_UNDER" not in env
        assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] in ("", "0")


def test_underscore_content_length_never_frames_the_body(server_factory):
    srv = server_factory("-w", "1", "--header-map", "dangerous", "wsgi_basic:app")
    with srv.raw(timeout=5) as conn:
        conn.send(req("POST /echo HTTP/1.1", H, "Content_Length: 5", body=b""))
        resp = conn.read_response()
        assert json.loads(resp.body)["len"] == 0


# --------------------------------------------------------------------------- HEAD
@pytest.mark.parametrize("path,length", [("/hello", "5"), ("/big?n=100000", "100000"),
                                         ("/sized-stream?n=3", "21"), ("/stream?n=3", None),
                                         ("/bytesio", str(256 * 4096)), ("/filewrapper", None)])
def test_head_never_carries_a_body(server, path, length):
    with server.raw(timeout=5) as conn:
        conn.send(build_request("HEAD", path) + build_request("GET", "/hello"))
        head = conn.read_response("HEAD")
        assert head.status == 200
        if length is not None:
            assert head.header("Content-Length") == length
        if path == "/stream?n=3":
            assert head.header("Content-Length") is None
        # the next bytes on the wire are the next response, not a body
        nxt = conn.read_response()
        assert nxt.status == 200 and nxt.body == b"hello", nxt


# --------------------------------------------------------------------------- the corpus
def corpus_cases(phase):
    out = []
    for path in sorted((CORPUS / "invalid").glob("*.json")):
        case = json.loads(path.read_text())
        if case["error_phase"] in phase:
            out.append(case)
    return out


FLAG_OF = {
    "header_map": "--header-map",
    "limit_request_field_size": "--limit-request-field_size",
    "limit_request_fields": "--limit-request-fields",
    "limit_request_line": "--limit-request-line",
    "forwarded_allow_ips": "--forwarded-allow-ips",
    # off | v1 | v2 | auto (gunicorn 24.1): given with its value, since the bare flag would
    # take the APP_MODULE after it as the value (argparse nargs="?").
    "proxy_protocol": "--proxy-protocol",
}
BOOLEAN_FLAG_OF = {
    "permit_obsolete_folding": "--permit-obsolete-folding",
}


def settings_args(settings):
    args = []
    for name, value in sorted(settings.items()):
        if name in BOOLEAN_FLAG_OF:
            if value:
                args.append(BOOLEAN_FLAG_OF[name])
        else:
            args += [FLAG_OF[name], str(value)]
    return tuple(args)


@pytest.fixture(scope="module")
def corpus_servers(module_server_factory):
    servers = {}

    def get(settings):
        key = settings_args(settings)
        if key not in servers:
            servers[key] = module_server_factory("-w", "1", *key, "wsgi_basic:app")
        return servers[key]
    return get


@pytest.mark.parametrize("case", corpus_cases(("head", "eof")), ids=lambda c: c["id"])
def test_corpus_invalid_head_never_reaches_the_app(corpus_servers, case):
    srv = corpus_servers(case["settings"])
    raw = base64.b64decode(case["raw_b64"])
    before = app_calls(srv)
    with srv.raw(timeout=5) as conn:
        conn.send(raw)
        if case["error_phase"] == "eof":
            conn.shutdown_write()
        try:
            resp = conn.read_response()
        except IncompleteResponse as e:
            assert "timed out" not in str(e), "no answer and no close: %r" % e.partial
            resp = None
        if case["error_phase"] == "head":
            assert resp is not None, "closed without a status"
            assert 400 <= resp.status < 600, resp
            # (the server runs with default settings: obs-fold is refused with 400 even where the
            # corpus case was written for permit_obsolete_folding; test_http_relaxations.py covers it)
            if case["expect_status"] == 431 and "permit_obsolete_folding" not in case["settings"]:
                assert resp.status == 431
            assert conn.is_closed(3.0)
        else:
            assert resp is None or 400 <= resp.status < 600
    assert app_calls(srv) == before + 1


@pytest.mark.parametrize("case", corpus_cases(("body",)), ids=lambda c: c["id"])
def test_corpus_invalid_body_closes_and_nothing_is_smuggled(corpus_servers, case):
    srv = corpus_servers(case["settings"])
    raw = base64.b64decode(case["raw_b64"])
    before = app_calls(srv)
    with srv.raw(timeout=5) as conn:
        conn.send(raw)
        conn.shutdown_write()
        out = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = conn.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    assert out.count(b"HTTP/1.1 ") <= 1, out          # one answer at most, then the close
    calls = app_calls(srv) - before - 1
    assert calls <= 1
