"""gunicorn's HTTP parser relaxations (docs/http.md "Relaxations"), against the real server.

For each setting: by default the request is refused (4xx/505) and never reaches the
application; with the flag the application sees the relaxed result. Every relaxation that lets
through a request another parser could frame differently must also close the connection after
the response, so a request smuggled behind it never reaches the application: the app's own
call counter (/count, which counts itself) proves it.
"""

import json

import pytest

from harness import SMUGGLED, app_calls
from rawhttp import IncompleteResponse, chunked, raw_request as req

H = b"Host: localhost"


# --------------------------------------------------------------------------- helpers
def exchange(server, data):
    """Send `data` (a request, possibly with a smuggled one behind it); return the first
    response, whether the server closed the connection after it, and how many times the app
    was called meanwhile (not counting the /count calls of this helper)."""
    before = app_calls(server)
    with server.raw(timeout=5) as conn:
        conn.send(data)
        try:
            resp = conn.read_response()
        except IncompleteResponse as e:
            raise AssertionError("no response: %r" % e.partial)
        closed = conn.is_closed(3.0)
    return resp, closed, app_calls(server) - before - 1


def assert_refused(server, data, status):
    resp, closed, calls = exchange(server, data + SMUGGLED)
    assert resp.status == status, resp
    assert "close" in resp.connection_tokens()
    assert closed, "connection left open after an error"
    assert calls == 0, "the app saw %d request(s)" % calls


def assert_served_then_closed(server, data):
    """`data` is served (the app sees it once), the response says close, the connection is
    closed, and the request smuggled behind it never reaches the app."""
    resp, closed, calls = exchange(server, data + SMUGGLED)
    assert resp.status == 200, resp
    assert "close" in resp.connection_tokens(), resp.headers
    assert closed, "connection kept open after a relaxed request"
    assert calls == 1, "the app saw %d request(s), expected only the first" % calls
    return resp


@pytest.fixture(scope="module")
def strict(module_server_factory):
    return module_server_factory("-w", "1", "wsgi_basic:app")


@pytest.fixture(scope="module")
def folding(module_server_factory):
    return module_server_factory("-w", "1", "--permit-obsolete-folding", "wsgi_basic:app")


@pytest.fixture(scope="module")
def stripping(module_server_factory):
    return module_server_factory("-w", "1", "--strip-header-spaces", "wsgi_basic:app")


@pytest.fixture(scope="module")
def versions(module_server_factory):
    return module_server_factory("-w", "1", "--permit-unconventional-http-version",
                                 "wsgi_basic:app")


@pytest.fixture(scope="module")
def framing(module_server_factory):
    return module_server_factory("-w", "1", "--tolerate-dangerous-framing", "wsgi_basic:app")


# --------------------------------------------------------------------------- permit_obsolete_folding
FOLDED = req("GET /env HTTP/1.1", H, "X-Long: one  ", "   two", "\tthree", "X-After: ok")


def test_obs_fold_refused_by_default(strict):
    assert_refused(strict, FOLDED, 400)


def test_obs_fold_unfolded_with_setting(folding):
    resp = assert_served_then_closed(folding, FOLDED)
    env = json.loads(resp.body)["env"]
    assert env["HTTP_X_LONG"] == "one two three"
    assert env["HTTP_X_AFTER"] == "ok"


@pytest.mark.parametrize("fields", [
    ("Content-Length: 1", " 0"),
    ("Transfer-Encoding:", " chunked"),
])
def test_folded_framing_field_still_refused(folding, fields):
    assert_refused(folding, req("POST /count HTTP/1.1", H, *fields, body=b"0\r\n\r\n"), 400)


def test_fold_before_first_field_still_refused(folding):
    assert_refused(folding, req("GET /count HTTP/1.1", " X: y", H), 400)


def test_folded_field_limit_counts_every_line(module_server_factory):
    srv = module_server_factory("-w", "1", "--permit-obsolete-folding",
                                "--limit-request-field_size", "20", "wsgi_basic:app")
    # "X-A: 0123456789\r\n" is 17 bytes; with " abc\r\n" the folded field is 23 > 20
    assert_refused(srv, req("GET /count HTTP/1.0", "X-A: 0123456789", " abc"), 431)


# --------------------------------------------------------------------------- strip_header_spaces
SPACED = req("GET /env HTTP/1.1", H, "X-Test \t : v")


def test_space_before_colon_refused_by_default(strict):
    assert_refused(strict, SPACED, 400)


def test_space_before_colon_stripped_with_setting(stripping):
    resp = assert_served_then_closed(stripping, SPACED)
    assert json.loads(resp.body)["env"]["HTTP_X_TEST"] == "v"


@pytest.mark.parametrize("field", ["Content-Length : 3", "Transfer-Encoding\t: chunked"])
def test_space_before_colon_of_framing_field_still_refused(stripping, field):
    assert_refused(stripping, req("POST /count HTTP/1.1", H, field, body=b"abc"), 400)


def test_stripping_setting_keeps_ordinary_connections_alive(stripping):
    with stripping.raw(timeout=5) as conn:
        for _ in range(2):
            conn.send(req("GET /env HTTP/1.1", H, "X-Test: v"))
            resp = conn.read_response()
            assert resp.status == 200 and "close" not in resp.connection_tokens()


# --------------------------------------------------------------------------- permit_unconventional_http_version
def test_http12_refused_by_default(strict):
    assert_refused(strict, req("GET /count HTTP/1.2", H), 505)


def test_http12_served_as_http11_with_setting(versions):
    with versions.raw(timeout=5) as conn:
        # HTTP/1.1 semantics: persistent, so a second request on the connection is served too
        for version in (b"1.2", b"1.9"):
            conn.send(req(b"GET /env HTTP/" + version, H))
            resp = conn.read_response()
            assert resp.status == 200, resp
            assert resp.version == "HTTP/1.1"
            assert "close" not in resp.connection_tokens()
            assert json.loads(resp.body)["env"]["SERVER_PROTOCOL"] == "HTTP/1.1"


@pytest.mark.parametrize("version", [b"HTTP/0.9", b"HTTP/2.0", b"HTTP/3.0"])
def test_other_major_versions_still_505_with_setting(versions, version):
    assert_refused(versions, req(b"GET /count " + version, H), 505)


def test_http12_still_needs_host(versions):
    assert_refused(versions, req("GET /count HTTP/1.2"), 400)


# --------------------------------------------------------------------------- tolerate_dangerous_framing
def cl_te(path, content_length=b"4", body=chunked("abc")):
    return req("POST %s HTTP/1.1" % path, H, b"Content-Length: " + content_length,
               "Transfer-Encoding: chunked", "Connection: keep-alive", body=body)


def test_cl_and_te_refused_by_default(strict):
    assert_refused(strict, cl_te("/count"), 400)


def test_te_in_http10_refused_by_default(strict):
    assert_refused(strict, req("POST /count HTTP/1.0", "Transfer-Encoding: chunked",
                               body=chunked("abc")), 400)


def test_cl_and_te_chunked_wins_with_setting(framing):
    resp = assert_served_then_closed(framing, cl_te("/echo?mode=read"))
    assert json.loads(resp.body)["body"] == "abc"


def test_cl_and_te_content_length_not_passed_to_app(framing):
    resp = assert_served_then_closed(framing, cl_te("/env"))
    env = json.loads(resp.body)["env"]
    assert "CONTENT_LENGTH" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_TRANSFER_ENCODING"] == "chunked"


def test_cl_te_smuggling_attempt_never_reaches_app(framing):
    # CL.TE desync: a front end framing by Content-Length forwards the whole thing as one
    # request; by chunked, the body ends after "0\r\n\r\n" and a GET /count follows.
    smuggle = SMUGGLED
    body = b"0\r\n\r\n" + smuggle
    data = req("POST /echo?mode=read HTTP/1.1", H, b"Content-Length: %d" % len(body),
               "Transfer-Encoding: chunked", body=body)
    resp, closed, calls = exchange(framing, data)
    assert resp.status == 200 and json.loads(resp.body)["body"] == ""
    assert closed and "close" in resp.connection_tokens()
    assert calls == 1, "the smuggled request reached the app"


def test_te_in_http10_chunked_with_setting(framing):
    resp = assert_served_then_closed(
        framing, req("POST /echo?mode=read HTTP/1.0", "Transfer-Encoding: chunked",
                     "Connection: keep-alive", body=chunked("ab", "c")))
    assert json.loads(resp.body)["body"] == "abc"


@pytest.mark.parametrize("fields,status", [
    (("Content-Length: 4", "Transfer-Encoding: chunked, gzip"), 400),   # chunked not final
    (("Content-Length: 4", "Transfer-Encoding: gzip, chunked"), 501),   # coding not implemented
    (("Content-Length: x", "Transfer-Encoding: chunked"), 400),         # invalid Content-Length
])
def test_other_framing_errors_unchanged_with_setting(framing, fields, status):
    assert_refused(framing, req("POST /count HTTP/1.1", H, *fields, body=chunked("abc")), status)


def test_framing_setting_keeps_ordinary_connections_alive(framing):
    with framing.raw(timeout=5) as conn:
        conn.send(req("POST /echo?mode=read HTTP/1.1", H, "Content-Length: 3", body=b"xyz"))
        resp = conn.read_response()
        assert resp.status == 200 and "close" not in resp.connection_tokens()
        conn.send(req("POST /echo?mode=read HTTP/1.1", H, "Transfer-Encoding: chunked",
                      body=chunked("abc")))
        resp = conn.read_response()
        assert resp.status == 200 and json.loads(resp.body)["body"] == "abc"
        assert conn.is_open()
