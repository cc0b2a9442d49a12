"""The WSGI environ the server builds (PEP 3333 + gunicorn's conventions)."""

import json
import uuid

import pytest

from rawhttp import build_request


def fetch_env(server, path="/env", method="GET", headers=None, body=b"",
              version="HTTP/1.1", host="localhost"):
    """Send one request on a raw socket; return (env, reprs, types, client_port)."""
    headers = list(headers or [])
    if not any(k.lower() == "connection" for k, _ in headers):
        headers.append(("Connection", "close"))
    with server.raw() as conn:
        client_port = conn.sock.getsockname()[1]
        conn.send(build_request(method, path, headers, body, version, host))
        resp = conn.read_response(method)
    assert resp.status == 200, resp
    data = json.loads(resp.body)
    return data["env"], data["reprs"], data["types"], client_port


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                                    "PROPFIND"])
def test_request_method(basic_server, method):
    body = b"x" if method in ("POST", "PUT", "PATCH") else b""
    env, _, _, _ = fetch_env(basic_server, method=method, body=body)
    assert env["REQUEST_METHOD"] == method


def test_script_name_empty_by_default(basic_server):
    env, _, _, _ = fetch_env(basic_server, "/env/x")
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env/x"


def test_path_info_percent_decoded_as_latin1(basic_server):
    env, _, _, _ = fetch_env(basic_server, "/env/caf%C3%A9")
    # PEP 3333: the raw bytes decoded as latin-1 ("native string")
    assert env["PATH_INFO"] == "/env/caf\u00c3\u00a9"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/env/café"
    assert env["RAW_URI"] == "/env/caf%C3%A9"


def test_encoded_slash_and_raw_uri(basic_server):
    env, _, _, _ = fetch_env(basic_server, "/env/a%2Fb%20c?x=%41&y=1+2")
    assert env["PATH_INFO"] == "/env/a/b c"
    assert env["RAW_URI"] == "/env/a%2Fb%20c?x=%41&y=1+2"
    assert env["QUERY_STRING"] == "x=%41&y=1+2"


def test_query_string_raw_and_empty(basic_server):
    env, _, _, _ = fetch_env(basic_server, "/env?a=1&b=%20x&c&d=%E2%82%AC")
    assert env["QUERY_STRING"] == "a=1&b=%20x&c&d=%E2%82%AC"
    env, _, _, _ = fetch_env(basic_server, "/env")
    assert env["QUERY_STRING"] == ""


def test_content_type_and_length(basic_server):
    env, _, _, _ = fetch_env(basic_server, method="POST", body=b"hello=1",
                             headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    # never duplicated as HTTP_ keys (PEP 3333 / CGI)
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_no_content_headers_on_plain_get(basic_server):
    env, _, _, _ = fetch_env(basic_server)
    assert env.get("CONTENT_TYPE", "") == ""
    assert env.get("CONTENT_LENGTH", "") == ""


def test_server_name_and_port(basic_server):
    """gunicorn (TCP listeners) takes SERVER_NAME/SERVER_PORT from the listening
    socket, not from the Host header (Host is only used for unix sockets)."""
    env, _, _, _ = fetch_env(basic_server, host="example.com:8080")
    assert env["HTTP_HOST"] == "example.com:8080"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(basic_server.port)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_server_protocol(basic_server, version):
    env, _, _, _ = fetch_env(basic_server, version=version)
    assert env["SERVER_PROTOCOL"] == version


def test_remote_addr_and_port(basic_server):
    env, _, _, client_port = fetch_env(basic_server)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(client_port)


def test_http_headers_mapped(basic_server):
    env, _, _, _ = fetch_env(basic_server, headers=[
        ("X-Custom-Thing", "v1"), ("User-Agent", "narwhal-tests/1"), ("accept", "*/*")])
    assert env["HTTP_X_CUSTOM_THING"] == "v1"
    assert env["HTTP_USER_AGENT"] == "narwhal-tests/1"
    assert env["HTTP_ACCEPT"] == "*/*"
    assert env["HTTP_HOST"] == "localhost"


def test_duplicate_headers_joined(basic_server):
    env, _, _, _ = fetch_env(basic_server, headers=[
        ("X-Dup", "one"), ("X-Other", "z"), ("X-Dup", "two"), ("x-dup", "three")])
    assert env["HTTP_X_DUP"] == "one, two, three"
    assert env["HTTP_X_OTHER"] == "z"


def test_headers_with_underscore_dropped(basic_server):
    # "X-Auth_User" would otherwise alias "X-Auth-User" (header spoofing)
    env, _, _, _ = fetch_env(basic_server, headers=[
        ("X-Auth_User", "mallory"), ("X-Plain", "ok")])
    assert "HTTP_X_AUTH_USER" not in env
    assert env["HTTP_X_PLAIN"] == "ok"


def test_wsgi_keys_single_worker(basic_server, worker_type):
    env, reprs, types, _ = fetch_env(basic_server)
    assert reprs["wsgi.version"] == "(1, 0)"
    assert env["wsgi.url_scheme"] == "http"
    assert reprs["wsgi.input_terminated"] == "True"
    assert reprs["wsgi.multithread"] == str(worker_type == "gthread")
    assert reprs["wsgi.multiprocess"] == "False"   # -w 1
    assert reprs["wsgi.run_once"] == "False"
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert key in types, key
    # every CGI key is a native str
    for key in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
                "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR"):
        assert types[key] == "str", key


def test_forwarded_proto_from_trusted_ip(basic_server):
    # forwarded_allow_ips defaults to 127.0.0.1, which is us
    env, _, _, _ = fetch_env(basic_server, headers=[("X-Forwarded-Proto", "https")])
    assert env["wsgi.url_scheme"] == "https"


def test_forwarded_proto_from_untrusted_ip(server_factory):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "10.255.255.1", "wsgi_basic:app")
    env, _, _, _ = fetch_env(srv, headers=[("X-Forwarded-Proto", "https")])
    assert env["wsgi.url_scheme"] == "http"


def test_multiprocess_true_with_two_workers(server_factory, worker_type):
    srv = server_factory("-w", "2", "wsgi_basic:app")
    _, reprs, _, _ = fetch_env(srv)
    assert reprs["wsgi.multiprocess"] == "True"
    assert reprs["wsgi.multithread"] == str(worker_type == "gthread")


def test_script_name_from_raw_env(server_factory):
    srv = server_factory("-w", "1", "-e", "SCRIPT_NAME=/prefix", "wsgi_basic:app")
    env, _, _, _ = fetch_env(srv, "/prefix/env/sub?q=1")
    assert env["SCRIPT_NAME"] == "/prefix"
    assert env["PATH_INFO"] == "/env/sub"
    assert env["RAW_URI"] == "/prefix/env/sub?q=1"
    assert env["QUERY_STRING"] == "q=1"


def test_wsgi_errors_reach_error_log(basic_server):
    marker = "narwhal-errors-%s" % uuid.uuid4().hex
    r = basic_server.get("/errors?marker=" + marker)
    assert r.status_code == 200
    basic_server.wait_for_stderr(marker)


def _unix_env(path, host_header, target="/env"):
    """GET /env over the unix socket at `path`, with `host_header` (None: no Host, HTTP/1.0)."""
    import socket as socket_module
    from harness import wait_until
    if host_header is None:
        request = b"GET /env HTTP/1.0\r\n\r\n"
    else:
        request = (b"GET " + target.encode() + b" HTTP/1.1\r\nHost: " + host_header.encode() +
                   b"\r\nConnection: close\r\n\r\n")
    with socket_module.socket(socket_module.AF_UNIX) as client:
        wait_until(lambda: client.connect_ex(str(path)) == 0, 10, message="the unix socket")
        client.settimeout(5)
        client.sendall(request)
        data = b""
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), data[:200]
    return json.loads(body)["env"]


def test_server_name_and_port_from_host_behind_a_unix_socket(server_factory, tmp_path):
    """gunicorn: a unix socket has no address for SERVER_NAME/SERVER_PORT, so they come from
    Host (port defaulting to the scheme's); Django's get_port()/build_absolute_uri() need it."""
    path = tmp_path / "narwhal.sock"
    srv = server_factory("-w", "1", "-b", "unix:%s" % path, "wsgi_basic:app", bind=False, start=False)
    srv._spawn()
    try:
        env = _unix_env(path, "example.com:8080")
        assert (env["SERVER_NAME"], env["SERVER_PORT"], env["HTTP_HOST"]) == ("example.com", "8080", "example.com:8080")
        env = _unix_env(path, "example.com")
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.com", "80")
        env = _unix_env(path, "[::1]:9000")
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("[::1]", "9000")
        env = _unix_env(path, "ignored.example", target="http://target.example:81/env")
        assert (env["SERVER_NAME"], env["SERVER_PORT"], env["HTTP_HOST"]) == ("target.example", "81", "target.example:81")
        env = _unix_env(path, None)  # no Host: the socket path and no port
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == (str(path), "")
    finally:
        srv.stop()


def test_absolute_form_target_replaces_host(basic_server):
    """RFC 9112 §3.2.2: with an absolute-form target the server ignores Host and uses the
    target's authority (HTTP_HOST, SERVER_NAME, SERVER_PORT); PATH_INFO and QUERY_STRING come from
    the target's path."""
    with basic_server.raw() as conn:
        conn.send(b"GET http://example.org:8080/env?x=1 HTTP/1.1\r\nHost: other.example\r\n"
                  b"Connection: close\r\n\r\n")
        resp = conn.read_response()
    assert resp.status == 200, resp
    env = json.loads(resp.body)["env"]
    assert env["HTTP_HOST"] == "example.org:8080"
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("example.org", "8080")
    assert env["PATH_INFO"] == "/env" and env["QUERY_STRING"] == "x=1"
    assert env["RAW_URI"] == "http://example.org:8080/env?x=1"


def test_server_software_names_the_version(basic_server):
    """gunicorn: SERVER_SOFTWARE is "gunicorn/<version>"; narwhal: "narwhal/<version>"."""
    import narwhal
    env, _, _, _ = fetch_env(basic_server)
    assert env["SERVER_SOFTWARE"] == "narwhal/" + narwhal.__version__
