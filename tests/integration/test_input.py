"""wsgi.input: every read API, Content-Length and chunked request bodies,
Expect: 100-continue."""

import hashlib
import json
import os

import pytest

from rawhttp import build_request, chunked

BODY = b"line one\nline two\n\nthird line is a bit longer\nno newline at end"
LINES = BODY.splitlines(keepends=True)


def expected_pieces(mode, n):
    if mode == "read":
        return [BODY]
    if mode == "readn":
        return [BODY[i:i + n] for i in range(0, len(BODY), n)]
    if mode in ("readline", "readlines", "iter"):
        return LINES
    if mode == "readlinen":
        out = []
        for line in LINES:
            out.extend(line[i:i + n] for i in range(0, len(line), n))
        return out
    raise AssertionError(mode)


def post_echo(server, mode, framing, body=BODY, n=4, split=(5, 13, 30)):
    path = "/echo?mode=%s&n=%d" % (mode, n)
    if framing == "length":
        data = build_request("POST", path, [("Connection", "close")], body)
    else:
        cuts = [0] + [c for c in split if c < len(body)] + [len(body)]
        parts = [body[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]
        data = build_request("POST", path, [("Transfer-Encoding", "chunked"),
                                            ("Connection", "close")]) + chunked(*parts)
    with server.raw() as conn:
        conn.send(data)
        resp = conn.read_response()
    assert resp.status == 200, resp
    return json.loads(resp.body)


MODES = ["read", "readn", "readline", "readlinen", "readlines", "iter"]


@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("mode", MODES)
def test_input_read_apis(basic_server, mode, framing):
    out = post_echo(basic_server, mode, framing)
    assert out["body"].encode("latin-1") == BODY
    assert [p.encode("latin-1") for p in out["pieces"]] == expected_pieces(mode, 4)
    assert out["after"] == ""  # reading past the end yields b""


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_input_large_body(basic_server, framing):
    body = os.urandom(1024 * 1024 + 3)
    path = "/echo?mode=readn&n=65536"
    if framing == "length":
        data = build_request("POST", path, [("Connection", "close")], body)
    else:
        parts = [body[i:i + 100000] for i in range(0, len(body), 100000)]
        data = build_request("POST", path, [("Transfer-Encoding", "chunked"),
                                            ("Connection", "close")]) + chunked(*parts)
    with basic_server.raw(timeout=20) as conn:
        conn.send(data)
        resp = conn.read_response()
    assert resp.status == 200
    out = json.loads(resp.body)
    assert out["len"] == len(body)
    got = out["body"].encode("latin-1")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()


def test_chunked_upload_environ(basic_server):
    data = build_request("POST", "/env", [("Transfer-Encoding", "chunked"),
                                          ("Connection", "close")]) + chunked(b"abc", b"def")
    with basic_server.raw() as conn:
        conn.send(data)
        resp = conn.read_response()
    assert resp.status == 200
    env = json.loads(resp.body)
    assert env["env"].get("CONTENT_LENGTH", "") == ""
    assert env["env"]["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert env["reprs"]["wsgi.input_terminated"] == "True"


def test_chunked_upload_with_extensions_and_trailers(basic_server):
    body = (b"3;name=value\r\nabc\r\n"
            b"4\r\ndefg\r\n"
            b"0\r\nX-Trailer: t\r\n\r\n")
    data = build_request("POST", "/echo?mode=read", [("Transfer-Encoding", "chunked"),
                                                      ("Connection", "close")]) + body
    with basic_server.raw() as conn:
        conn.send(data)
        resp = conn.read_response()
    assert resp.status == 200
    assert json.loads(resp.body)["body"] == "abcdefg"


def test_body_sent_in_slow_pieces(basic_server):
    """The body trickles in over several writes: read() must block for all of it."""
    import time
    with basic_server.raw() as conn:
        conn.send(build_request("POST", "/echo?mode=read",
                                [("Content-Length", str(len(BODY))), ("Connection", "close")]))
        for i in range(0, len(BODY), 20):
            time.sleep(0.05)
            conn.send(BODY[i:i + 20])
        resp = conn.read_response()
    assert resp.status == 200
    assert json.loads(resp.body)["body"].encode("latin-1") == BODY


def test_expect_100_continue_handshake(basic_server):
    with basic_server.raw() as conn:
        conn.send(build_request("POST", "/echo?mode=read",
                                [("Content-Length", str(len(BODY))),
                                 ("Expect", "100-continue"), ("Connection", "close")]))
        interim = conn.read_response()
        assert interim.status == 100
        assert interim.raw.startswith(b"HTTP/1.1 100 Continue\r\n")
        conn.send(BODY)
        final = conn.read_response()
    assert final.status == 200
    assert json.loads(final.body)["body"].encode("latin-1") == BODY


def test_expect_100_continue_chunked(basic_server):
    with basic_server.raw() as conn:
        conn.send(build_request("POST", "/echo?mode=read",
                                [("Transfer-Encoding", "chunked"),
                                 ("Expect", "100-continue"), ("Connection", "close")]))
        interim = conn.read_response()
        assert interim.status == 100
        conn.send(chunked(b"hello ", b"world"))
        final = conn.read_response()
    assert final.status == 200
    assert json.loads(final.body)["body"] == "hello world"


@pytest.mark.sync_only("gthread sends 100 Continue at once (as gunicorn does) and buffers the body "
                      "before a thread runs the app")
def test_no_100_continue_when_app_does_not_read_body(basic_server):
    """100 Continue is sent only once the app reads wsgi.input; an app that
    answers without reading must get its final response out first."""
    with basic_server.raw() as conn:
        conn.send(build_request("POST", "/noread",
                                [("Content-Length", "1000"), ("Expect", "100-continue"),
                                 ("Connection", "close")]))
        first = conn.read_response()
    assert first.status == 200, "got %s before the final response" % first.status
    assert first.body == b"noread"
