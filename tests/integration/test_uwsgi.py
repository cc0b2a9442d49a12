"""The uwsgi protocol (protocol = uwsgi, uwsgi_allow_ips; docs/proxies.md): packets built here
by hand, as nginx's uwsgi_pass sends them, on real sockets — the environ gunicorn 24 builds from
the variables, bodies, keep-alive, the allow list, malformed and oversized packets, limits, and
every worker type."""
import json
import struct
import time

import pytest



def packet(variables, modifier1=0, modifier2=0):
    """A uwsgi request packet: modifier1, little-endian datasize, modifier2, then each variable
    as a little-endian key size, key, value size, value."""
    block = b""
    for key, value in variables:
        key = key.encode("latin-1") if isinstance(key, str) else key
        value = value.encode("latin-1") if isinstance(value, str) else value
        block += struct.pack("<H", len(key)) + key + struct.pack("<H", len(value)) + value
    return struct.pack("<BHB", modifier1, len(block), modifier2) + block


def nginx_vars(method="GET", path="/env", query="", body=b"", extra=()):
    """What nginx's uwsgi_params (Debian's /etc/nginx/uwsgi_params) sends, plus the headers."""
    return [("QUERY_STRING", query), ("REQUEST_METHOD", method), ("CONTENT_TYPE", ""),
            ("CONTENT_LENGTH", str(len(body)) if body else ""), ("REQUEST_URI", path + ("?" + query if query else "")),
            ("PATH_INFO", path), ("DOCUMENT_ROOT", "/var/www"), ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_SCHEME", "http"), ("REMOTE_ADDR", "198.51.100.77"), ("REMOTE_PORT", "50000"),
            ("SERVER_PORT", "80"), ("SERVER_NAME", "example.com"), ("HTTP_HOST", "example.com"),
            ("HTTP_USER_AGENT", "curl/7.88")] + list(extra)


def exchange(conn, data):
    conn.send(data)
    return conn.read_response()


def environ_of(srv, variables, body=b""):
    with srv.raw(timeout=5) as conn:
        resp = exchange(conn, packet(variables) + body)
        assert resp.status == 200, resp
        return json.loads(resp.body)["env"]


def app_calls(srv):
    """wsgi_basic's request count, asked in a uwsgi packet."""
    with srv.raw(timeout=5) as conn:
        resp = exchange(conn, packet([("PATH_INFO", "/count")]))
    assert resp.status == 200, resp
    return int(resp.body)


def refused(srv, data, status, count=True):
    before = app_calls(srv) if count else None
    with srv.raw(timeout=5) as conn:
        conn.send(data)
        resp = conn.read_response()
        assert resp.status == status, resp
        assert conn.is_closed()
    if count:
        assert app_calls(srv) == before + 1  # this /count only


@pytest.fixture(scope="module")
def uwsgi(module_server_factory):
    return module_server_factory("-w", "1", "--protocol", "uwsgi", "--limit-request-fields", "20",
                                 "--limit-request-body", "100000", "--access-logfile", "-", "wsgi_basic:app")


def test_get_builds_the_environ_from_the_variables(uwsgi):
    env = environ_of(uwsgi, nginx_vars(path="/env/a b", query="x=1&y=%20"))
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/env/a b"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"  # gunicorn: uwsgi requests are HTTP/1.1
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_HOST"] == "example.com"
    assert env["HTTP_USER_AGENT"] == "curl/7.88"
    # gunicorn: REMOTE_ADDR is the socket's peer (nginx), not the packet's REMOTE_ADDR.
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(uwsgi.port)
    # Variables that are neither request data nor HTTP_* do not reach the environ.
    assert "DOCUMENT_ROOT" not in env and "REQUEST_SCHEME" not in env
    assert env["CONTENT_TYPE"] == "" and env["CONTENT_LENGTH"] == ""  # nginx sends them empty


def test_defaults_for_missing_variables(uwsgi):
    # gunicorn: REQUEST_METHOD defaults to GET, QUERY_STRING to "" (PATH_INFO to "/").
    env = environ_of(uwsgi, [("PATH_INFO", "/env")])
    assert env["REQUEST_METHOD"] == "GET" and env["QUERY_STRING"] == ""
    assert "HTTP_HOST" not in env
    with uwsgi.raw(timeout=5) as conn:
        resp = exchange(conn, packet([]))
        assert resp.status in (200, 404)  # "/" reached the app


def test_path_info_is_taken_as_sent(uwsgi):
    # PATH_INFO arrives decoded: a '?', '#' or '%' in it is part of the path, never re-decoded.
    env = environ_of(uwsgi, nginx_vars(path="/env/100%25?#é", query="q=1"))
    assert env["PATH_INFO"] == "/env/100%25?#\xe9"  # the variable's bytes, latin-1
    assert env["QUERY_STRING"] == "q=1"


def test_headers_become_http_keys(uwsgi):
    env = environ_of(uwsgi, nginx_vars(extra=[("HTTP_X_CUSTOM_HEADER", "v1"), ("HTTP_ACCEPT_ENCODING", "gzip"),
                                              ("HTTP_X_DUP", "a"), ("HTTP_X_DUP", "b")]))
    assert env["HTTP_X_CUSTOM_HEADER"] == "v1"
    assert env["HTTP_ACCEPT_ENCODING"] == "gzip"
    assert env["HTTP_X_DUP"] == "a, b"  # joined like repeated HTTP fields


@pytest.mark.parametrize("variables,scheme", [
    ([("HTTPS", "on")], "https"), ([("HTTPS", "1")], "https"), ([("HTTPS", "TRUE")], "https"),
    ([("HTTPS", "off")], "http"), ([("wsgi.url_scheme", "https")], "https"), ([("UWSGI_SCHEME", "https")], "https"),
    ([], "http"),
], ids=["on", "1", "true", "off", "wsgi.url_scheme", "UWSGI_SCHEME", "none"])
def test_scheme(uwsgi, variables, scheme):
    env = environ_of(uwsgi, nginx_vars(extra=variables))
    assert env["wsgi.url_scheme"] == scheme


def test_secure_scheme_headers_do_not_apply(uwsgi):
    # gunicorn: a uwsgi request's scheme comes from the packet, not X-Forwarded-Proto.
    env = environ_of(uwsgi, nginx_vars(extra=[("HTTP_X_FORWARDED_PROTO", "https")]))
    assert env["wsgi.url_scheme"] == "http"


def test_post_with_body_and_keep_alive(uwsgi):
    body = b"hello uwsgi body" * 100
    with uwsgi.raw(timeout=5) as conn:
        resp = exchange(conn, packet(nginx_vars("POST", "/echo", body=body)) + body)
        assert resp.status == 200
        assert json.loads(resp.body)["len"] == len(body)
        # gunicorn keeps the connection unless HTTP_CONNECTION says close
        resp = exchange(conn, packet(nginx_vars()))
        assert resp.status == 200 and json.loads(resp.body)["env"]["PATH_INFO"] == "/env"
        resp = exchange(conn, packet(nginx_vars(extra=[("HTTP_CONNECTION", "close")])))
        assert resp.status == 200
        assert conn.is_closed()


def test_pipelined_packets_and_split_packets(uwsgi):
    body = b"0123456789"
    data = packet(nginx_vars("POST", "/echo", body=body)) + body + packet(nginx_vars(path="/env/2"))
    with uwsgi.raw(timeout=5) as conn:
        conn.send(data)
        assert json.loads(conn.read_response().body)["len"] == 10
        assert json.loads(conn.read_response().body)["env"]["PATH_INFO"] == "/env/2"
        # the same bytes a few at a time
        for i in range(0, len(data), 7):
            conn.send(data[i:i + 7])
            time.sleep(0.005)
        assert json.loads(conn.read_response().body)["len"] == 10
        assert json.loads(conn.read_response().body)["env"]["PATH_INFO"] == "/env/2"


def test_large_body_streams(uwsgi):
    body = b"x" * 90000
    with uwsgi.raw(timeout=10) as conn:
        resp = exchange(conn, packet(nginx_vars("POST", "/echo", body=body)) + body)
        assert json.loads(resp.body)["len"] == 90000


def test_access_log(uwsgi):
    environ_of(uwsgi, nginx_vars(path="/env/logged", query="a=1"))
    deadline = time.monotonic() + 5
    while "GET /env/logged?a=1 HTTP/1.1\" 200" not in uwsgi.stdout_text():
        assert time.monotonic() < deadline, uwsgi.stdout_text()
        time.sleep(0.05)


@pytest.mark.parametrize("data,status", [
    (packet(nginx_vars(), modifier1=5), 501),  # gunicorn: UnsupportedModifier
    (struct.pack("<BHB", 0, 5, 0) + b"\x03\x00ab\x00", 400),  # key longer than the block
    (struct.pack("<BHB", 0, 3, 0) + b"\x01\x00a", 400),  # value size missing
    (packet(nginx_vars(extra=[("CONTENT_LENGTH", "12x")])), 400),
    (packet(nginx_vars(extra=[("CONTENT_LENGTH", "-1")])), 400),
    (packet(nginx_vars(extra=[("REQUEST_METHOD", "GE T")])), 400),
    (packet(nginx_vars(extra=[("HTTP_X_BAD", "a\r\nb")])), 400),
    (packet(nginx_vars(extra=[("HTTP_X_%d" % i, "v") for i in range(20)])), 431),  # limit_request_fields 20
    (packet(nginx_vars(extra=[("HTTP_X_BIG", "v" * 9000)])), 431),  # limit_request_field_size
    (packet(nginx_vars(path="/" + "p" * 5000)), 414),  # limit_request_line
    (packet(nginx_vars("POST", "/echo", body=b"x" * 100001)), 413),  # limit_request_body
    (packet([("K%d" % i, "") for i in range(1001)]), 431),  # more than 1000 variables
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 501),  # HTTP sent to a uwsgi listener
], ids=["modifier1", "truncated-key", "truncated-value-size", "bad-content-length", "negative-length",
        "bad-method", "control-in-value", "too-many-headers", "field-too-long", "target-too-long",
        "body-too-large", "too-many-variables", "http"])
def test_malformed_and_oversized_packets(uwsgi, data, status):
    refused(uwsgi, data, status)


def test_largest_packet_is_served(uwsgi):
    # datasize is 16 bits: 64 KiB of variables at most, the largest possible packet parses.
    variables = nginx_vars() + [("PAD%d" % i, "p" * 6000) for i in range(10)]
    data = packet(variables)
    assert len(data) > 60000
    assert environ_of(uwsgi, variables)["PATH_INFO"] == "/env"


def test_truncated_packet_then_close(uwsgi):
    data = packet(nginx_vars())
    with uwsgi.raw(timeout=5) as conn:
        conn.send(data[:len(data) // 2])
        conn.shutdown_write()
        assert conn.is_closed()


def test_disallowed_peer(server_factory):
    srv = server_factory("-w", "1", "--protocol", "uwsgi", "--uwsgi-allow-from", "10.0.0.1", "wsgi_basic:app")
    refused(srv, packet(nginx_vars()), 403, count=False)  # gunicorn: ForbiddenUWSGIRequest
    srv.wait_for_stderr("uwsgi request from 127.0.0.1, which uwsgi_allow_ips does not list")


@pytest.mark.parametrize("allow", ["127.0.0.0/8", "*"])
def test_allowed_by_network_and_wildcard(server_factory, allow):
    srv = server_factory("-w", "1", "--protocol", "uwsgi", "--uwsgi-allow-from", allow, "wsgi_basic:app")
    assert environ_of(srv, nginx_vars())["PATH_INFO"] == "/env"


WORKERS = {"sync": (), "gthread": ("-k", "gthread", "--threads", "4"), "gevent": ("-k", "gevent")}


@pytest.mark.parametrize("worker", sorted(WORKERS))
def test_every_wsgi_worker_type(server_factory, worker):
    srv = server_factory("-w", "1", *WORKERS[worker], "--protocol", "uwsgi", "wsgi_basic:app")
    body = b"y" * 200000  # beyond body_buffer_size: streamed (sync) or spooled (gthread)
    with srv.raw(timeout=10) as conn:
        resp = exchange(conn, packet(nginx_vars("POST", "/echo", body=body)) + body)
        assert resp.status == 200 and json.loads(resp.body)["len"] == len(body)
        env = json.loads(exchange(conn, packet(nginx_vars(extra=[("HTTPS", "on")]))).body)["env"]
        assert env["wsgi.url_scheme"] == "https" and env["REQUEST_METHOD"] == "GET"


def test_asgi_worker(server_factory):
    srv = server_factory("-w", "1", "-k", "asgi", "--protocol", "uwsgi", "asgi_basic:app")
    with srv.raw(timeout=5) as conn:
        resp = exchange(conn, packet(nginx_vars(path="/scope/x y", query="a=1", extra=[("HTTPS", "on")])))
        assert resp.status == 200, resp
        scope = json.loads(resp.body)
        assert scope["path"] == "/scope/x y" and scope["query_string"] == {"bytes": "a=1"}
        assert scope["scheme"] == "https" and scope["http_version"] == "1.1"
        resp = exchange(conn, packet(nginx_vars("POST", "/echo", body=b"abc")) + b"abc")
        assert resp.body == b"abc"


def test_with_proxy_protocol(server_factory):
    # A PROXY header before the first packet (HAProxy in front of a uwsgi listener).
    srv = server_factory("-w", "1", "--protocol", "uwsgi", "--proxy-protocol", "v1", "wsgi_basic:app")
    with srv.raw(timeout=5) as conn:
        resp = exchange(conn, b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" + packet(nginx_vars()))
        assert json.loads(resp.body)["env"]["REMOTE_ADDR"] == "192.0.2.1"


@pytest.mark.parametrize("args,expected", [((), "http"), (("--protocol", "uwsgi"), "uwsgi"),
                                           (("--protocol", "UWSGI"), "uwsgi")])
def test_protocol_setting(cli, args, expected):
    out = cli(*args, "--uwsgi-allow-from", "10.0.0.0/8,::1", "--print-config", "wsgi_basic:app")
    assert out.returncode == 0, out.stderr
    values = {line.split("=")[0].strip(): line.split("=", 1)[1].strip() for line in out.stdout.splitlines() if "=" in line}
    assert values["protocol"] == expected
    assert values["uwsgi_allow_ips"] == "['10.0.0.0/8', '::1']"


@pytest.mark.parametrize("args", [("--protocol", "fastcgi"), ("--uwsgi-allow-from", "nginx.local")])
def test_invalid_values_stop_the_start(cli, args):
    out = cli(*args, "wsgi_basic:app")
    assert out.returncode != 0
    assert "Invalid value for" in out.stderr, out.stderr
