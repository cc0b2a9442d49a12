"""The PROXY protocol (proxy_protocol, proxy_allow_ips; docs/proxies.md): real servers, real
headers written byte for byte on real sockets — v1 (TCP4, TCP6, UNKNOWN), v2 (PROXY/LOCAL;
TCP4, TCP6, UNIX, UNSPEC; TLVs), auto, disallowed peers, malformed and missing headers,
slow-drip and split headers, keep-alive and pipelining after the header, the header_timeout,
unix and IPv6 listeners, the access log, and every worker type (asgi: the scope's client)."""
import base64
import json
import os
import socket
import struct
import tempfile
import time
from pathlib import Path

import pytest

from harness import free_port, wait_until
from rawhttp import RawConnection, build_request

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(source="192.0.2.1", destination="198.51.100.2", source_port=56324, destination_port=443,
       protocol="TCP4"):
    return ("PROXY %s %s %s %d %d\r\n" % (protocol, source, destination, source_port,
                                          destination_port)).encode()


def tlv(kind, value):
    return struct.pack("!BH", kind, len(value)) + value


def v2(command=1, family=0x11, block=b""):
    return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family, len(block)) + block


def v2_tcp4(source="203.0.113.7", destination="198.51.100.2", source_port=40001,
            destination_port=8443, tlvs=b""):
    block = socket.inet_pton(socket.AF_INET, source) + socket.inet_pton(socket.AF_INET, destination)
    return v2(1, 0x11, block + struct.pack("!HH", source_port, destination_port) + tlvs)


def v2_tcp6(source="2001:db8::7", destination="2001:db8::1", source_port=40002, destination_port=443):
    block = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination)
    return v2(1, 0x21, block + struct.pack("!HH", source_port, destination_port))


def v2_unix(source=b"/run/client.sock", destination=b"/run/server.sock"):
    return v2(1, 0x31, source.ljust(108, b"\0") + destination.ljust(108, b"\0"))


GET_ENV = build_request("GET", "/env")


def environ(conn):
    resp = conn.read_response()
    assert resp.status == 200, resp
    return json.loads(resp.body)["env"]


def environ_after(srv, header, request=GET_ENV):
    with srv.raw(timeout=5) as conn:
        conn.send(header + request)
        return environ(conn)


def app_calls(srv):
    """wsgi_basic's request count, asked through a header the server accepts (LOCAL / UNKNOWN)."""
    header = v2(0, 0x00) if "v2" in srv.args else b"PROXY UNKNOWN\r\n"
    with srv.raw(timeout=5) as conn:
        conn.send(header + b"GET /count HTTP/1.0\r\n\r\n")
        resp = conn.read_response()
    assert resp.status == 200, resp
    return int(resp.body)


def refused(srv, data, status, count=True):
    """The header is answered `status` and the connection closed; the app is never called."""
    before = app_calls(srv) if count else None
    with srv.raw(timeout=5) as conn:
        conn.send(data)
        resp = conn.read_response()
        assert resp.status == status, resp
        assert conn.is_closed()
    if count:
        assert app_calls(srv) == before + 1  # this /count only


@pytest.fixture(scope="module")
def v1_server(module_server_factory):
    return module_server_factory("-w", "1", "--proxy-protocol", "v1", "wsgi_basic:app")


@pytest.fixture(scope="module")
def v2_server(module_server_factory):
    return module_server_factory("-w", "1", "--proxy-protocol", "v2", "wsgi_basic:app")


@pytest.fixture(scope="module")
def auto_server(module_server_factory):
    # The bare flag means auto (gunicorn 24.1).
    return module_server_factory("-w", "1", "--proxy-protocol", "--access-logfile", "-",
                                 "--access-logformat", "h=%(h)s r=%(r)s", "wsgi_basic:app")


# --------------------------------------------------------------------------- v1
def test_v1_tcp4_gives_remote_addr_and_port(v1_server):
    env = environ_after(v1_server, v1())
    assert env["REMOTE_ADDR"] == "192.0.2.1"
    assert env["REMOTE_PORT"] == "56324"
    # gunicorn's proxy_environ: the header's protocol and destination.
    assert env["PROXY_PROTOCOL"] == "TCP4"
    assert env["PROXY_ADDR"] == "198.51.100.2"
    assert env["PROXY_PORT"] == "443"
    assert env["SERVER_PORT"] == str(v1_server.port)  # the listener's, as without the header


def test_v1_tcp6(v1_server):
    env = environ_after(v1_server, v1("2001:DB8::5", "::1", 1234, 80, protocol="TCP6"))
    assert env["REMOTE_ADDR"] == "2001:db8::5"  # canonical text
    assert env["REMOTE_PORT"] == "1234"
    assert env["PROXY_PROTOCOL"] == "TCP6"


def test_v1_unknown_keeps_the_connection_address(v1_server):
    env = environ_after(v1_server, b"PROXY UNKNOWN\r\n")
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["PROXY_PROTOCOL"] == "UNKNOWN"
    assert "PROXY_ADDR" not in env


def test_v1_mode_requires_the_header_from_an_allowed_peer(v1_server):
    refused(v1_server, GET_ENV, 400)
    refused(v1_server, v2_tcp4() + GET_ENV, 400)  # a v2 header is not a v1 one
    v1_server.wait_for_stderr("Missing PROXY protocol header from 127.0.0.1")


@pytest.mark.parametrize("header", [
    b"PROXY TCP4 192.168.0.1 192.16...\r\n",
    b"PROXY TCP4 192.168.0.1 192.168.0.11 65iii 100000\r\n",
    b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n",
    b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",
    b"PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",
    b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
    b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
], ids=["truncated-address", "bad-ports", "not-an-ip", "bare-lf", "double-space", "udp", "too-long"])
def test_v1_malformed_headers_are_refused(v1_server, header):
    refused(v1_server, header + GET_ENV, 400)
    v1_server.wait_for_stderr("Invalid PROXY protocol header from 127.0.0.1")


# --------------------------------------------------------------------------- v2
def test_v2_tcp4_with_tlvs(v2_server):
    tlvs = tlv(0x01, b"h2") + tlv(0x02, b"example.com") + tlv(0x20, b"\x07\0\0\0\0") + tlv(0xEE, b"x" * 300)
    env = environ_after(v2_server, v2_tcp4(tlvs=tlvs))
    assert env["REMOTE_ADDR"] == "203.0.113.7"
    assert env["REMOTE_PORT"] == "40001"
    assert (env["PROXY_PROTOCOL"], env["PROXY_ADDR"], env["PROXY_PORT"]) == ("TCP4", "198.51.100.2", "8443")


def test_v2_tcp6(v2_server):
    env = environ_after(v2_server, v2_tcp6())
    assert env["REMOTE_ADDR"] == "2001:db8::7"
    assert env["REMOTE_PORT"] == "40002"
    assert env["PROXY_PROTOCOL"] == "TCP6"


def test_v2_unix_source(v2_server):
    env = environ_after(v2_server, v2_unix())
    assert env["REMOTE_ADDR"] == "/run/client.sock"
    assert "REMOTE_PORT" not in env
    assert env["PROXY_PROTOCOL"] == "UNIX"


@pytest.mark.parametrize("header,protocol", [
    (v2(0, 0x00), "LOCAL"),
    (v2(0, 0x11, b"\1\2\3\4\5\6\7\x08\0\1\0\2"), "LOCAL"),  # LOCAL ignores the addresses
    (v2(1, 0x00, b"ignored"), "UNSPEC"),
], ids=["local", "local-with-addresses", "unspec"])
def test_v2_local_and_unspec_keep_the_connection_address(v2_server, header, protocol):
    env = environ_after(v2_server, header)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["PROXY_PROTOCOL"] == protocol


@pytest.mark.parametrize("header", [
    V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\0" * 12,     # version 1
    V2_SIGNATURE + b"\x22\x11\x00\x0c" + b"\0" * 12,     # command 2
    v2(1, 0x12, b"\0" * 12),                            # UDP
    v2(1, 0x11, b"\0" * 11),                            # short address block
    v2(1, 0x11, b"\0" * 12 + b"\x01\x00\x09ab"),        # TLV past the end
    V2_SIGNATURE + b"\x21\x11\xff\xff",                 # 65535 bytes announced: over the cap
], ids=["version", "command", "dgram", "short-block", "tlv-overrun", "oversize"])
def test_v2_malformed_headers_are_refused(v2_server, header):
    refused(v2_server, header + GET_ENV, 400)


def test_v2_mode_requires_the_header(v2_server):
    refused(v2_server, GET_ENV, 400)
    refused(v2_server, v1() + GET_ENV, 400)


# --------------------------------------------------------------------------- auto
@pytest.mark.parametrize("header,address", [
    (v1(), "192.0.2.1"), (v2_tcp4(), "203.0.113.7"), (v2_tcp6(), "2001:db8::7"), (b"", "127.0.0.1"),
], ids=["v1", "v2-tcp4", "v2-tcp6", "plain-http"])
def test_auto_detects_each_form(auto_server, header, address):
    # auto: the header is optional (gunicorn); plain HTTP is served with the socket's peer.
    env = environ_after(auto_server, header)
    assert env["REMOTE_ADDR"] == address
    assert ("PROXY_PROTOCOL" in env) == bool(header)


def test_auto_still_refuses_a_malformed_header(auto_server):
    refused(auto_server, b"PROXY TCP4 not-an-ip 192.168.0.11 56324 443\r\n" + GET_ENV, 400)


def test_access_log_h_is_the_header_client(auto_server):
    environ_after(auto_server, v1("192.0.2.99"), build_request("GET", "/env/logged"))
    wait_until(lambda: "h=192.0.2.99 r=GET /env/logged HTTP/1.1" in auto_server.stdout_text(),
               message="access log line with the PROXY client")


# --------------------------------------------------------------------------- peers
def test_disallowed_peer_header_is_forbidden_plain_http_is_served(server_factory):
    srv = server_factory("-w", "1", "--proxy-protocol", "v1", "--proxy-allow-from", "10.0.0.1,192.168.0.0/16",
                         "wsgi_basic:app")
    refused(srv, v1() + GET_ENV, 403, count=False)  # gunicorn: ForbiddenProxyRequest → 403
    srv.wait_for_stderr("PROXY protocol header from 127.0.0.1, which proxy_allow_ips does not list")
    # A peer that may not send the header is served as itself (gunicorn).
    with srv.raw(timeout=5) as conn:
        conn.send(GET_ENV)
        env = environ(conn)
    assert env["REMOTE_ADDR"] == "127.0.0.1" and "PROXY_PROTOCOL" not in env


@pytest.mark.parametrize("allow", ["127.0.0.0/8", "*", "10.0.0.1,127.0.0.1"])
def test_allowed_peers_by_network_and_wildcard(server_factory, allow):
    srv = server_factory("-w", "1", "--proxy-protocol", "v1", "--proxy-allow-from", allow, "wsgi_basic:app")
    assert environ_after(srv, v1())["REMOTE_ADDR"] == "192.0.2.1"


def test_forwarded_allow_ips_is_decided_on_the_proxy_not_the_header_client(server_factory):
    # gunicorn checks forwarded_allow_ips against the socket's peer: the proxy on 127.0.0.1 is
    # trusted (the default), so X-Forwarded-Proto counts although the client is 192.0.2.1 …
    srv = server_factory("-w", "1", "--proxy-protocol", "v1", "wsgi_basic:app")
    request = build_request("GET", "/env", headers=[("X-Forwarded-Proto", "https")])
    with srv.raw(timeout=5) as conn:
        conn.send(v1() + request)
        resp = conn.read_response()
    body = json.loads(resp.body)
    assert body["env"]["wsgi.url_scheme"] == "https"
    # … and listing only the client's address does not trust it.
    srv2 = server_factory("-w", "1", "--proxy-protocol", "v1", "--forwarded-allow-ips", "192.0.2.1",
                          "wsgi_basic:app")
    with srv2.raw(timeout=5) as conn:
        conn.send(v1() + request)
        assert json.loads(conn.read_response().body)["env"]["wsgi.url_scheme"] == "http"


# --------------------------------------------------------------------------- bytes on the wire
def test_slow_drip_header_then_request(v1_server):
    header = v1()
    with v1_server.raw(timeout=10) as conn:
        for i in range(len(header)):
            conn.send(header[i:i + 1])
            time.sleep(0.01)
        conn.send(GET_ENV)
        assert environ(conn)["REMOTE_ADDR"] == "192.0.2.1"


@pytest.mark.parametrize("split", [1, 5, 12, 13, 15, 16, 20])
def test_v2_header_split_across_reads(v2_server, split):
    data = v2_tcp4() + GET_ENV
    with v2_server.raw(timeout=5) as conn:
        conn.send(data[:split])
        time.sleep(0.15)
        conn.send(data[split:])
        assert environ(conn)["REMOTE_ADDR"] == "203.0.113.7"


def test_keep_alive_and_pipelining_after_the_header(v2_server):
    with v2_server.raw(timeout=5) as conn:
        # header + two pipelined requests in one write
        conn.send(v2_tcp4() + GET_ENV + build_request("GET", "/env/second"))
        first, second = environ(conn), environ(conn)
        assert first["REMOTE_ADDR"] == second["REMOTE_ADDR"] == "203.0.113.7"
        assert second["PATH_INFO"] == "/env/second"
        # a later request on the same connection keeps the header's client
        conn.send(build_request("GET", "/env/third"))
        third = environ(conn)
        assert third["REMOTE_ADDR"] == "203.0.113.7" and third["REMOTE_PORT"] == "40001"
        # a second header on the connection is not a header any more: a bad request line
        conn.send(v2_tcp4() + GET_ENV)
        assert conn.read_response().status == 400


def test_header_timeout_covers_the_header(server_factory):
    srv = server_factory("-w", "1", "--proxy-protocol", "v1", "--header-timeout", "1", "wsgi_basic:app")
    with srv.raw(timeout=6) as conn:
        conn.send(b"PROXY TCP4 192.0.2.1 ")
        started = time.monotonic()
        resp = conn.read_response()
        assert resp.status == 408
        assert time.monotonic() - started < 4
        assert conn.is_closed()


def test_peer_closing_inside_the_header(v1_server):
    with v1_server.raw(timeout=5) as conn:
        conn.send(b"PROXY TCP4 192.0")
        conn.shutdown_write()
        assert conn.is_closed()
    assert environ_after(v1_server, v1())["REMOTE_ADDR"] == "192.0.2.1"  # the worker is fine


# --------------------------------------------------------------------------- listeners
def unix_roundtrip(path, data):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(data)
        chunks = b""
        while b"\r\n\r\n" not in chunks or len(chunks.split(b"\r\n\r\n", 1)[1]) < int(
                chunks.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]):
            piece = sock.recv(65536)
            if not piece:
                break
            chunks += piece
        return chunks


def test_unix_listener_peers_are_always_allowed(server_factory):
    directory = tempfile.mkdtemp(prefix="narwhal-pp-")
    path = os.path.join(directory, "s.sock")
    srv = server_factory("-w", "1", "-b", "unix:" + path, "--proxy-protocol", "v2",
                         "--proxy-allow-from", "10.0.0.1", "wsgi_basic:app")
    wait_until(lambda: os.path.exists(path), message="unix socket")
    raw = unix_roundtrip(path, v2_tcp4() + build_request("GET", "/env", headers=[("Host", "example.com")]))
    env = json.loads(raw.split(b"\r\n\r\n", 1)[1])["env"]
    # A TCP client behind a unix socket: its address and port.
    assert env["REMOTE_ADDR"] == "203.0.113.7" and env["REMOTE_PORT"] == "40001"
    assert env["SERVER_NAME"] == "example.com"  # still a unix listener: from Host
    assert srv.proc.poll() is None


def test_ipv6_listener(server_factory):
    port = free_port()
    srv = server_factory("-w", "1", "-b", "[::1]:%d" % port, "--proxy-protocol", "auto", "wsgi_basic:app",
                         port=port)  # and 127.0.0.1:port, which the harness waits for
    with socket.create_connection(("::1", port), timeout=5) as sock:
        sock.sendall(v1("192.0.2.44") + GET_ENV)
        data = b""
        while b"}}" not in data:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    env = json.loads(data.split(b"\r\n\r\n", 1)[1])["env"]
    assert env["REMOTE_ADDR"] == "192.0.2.44"  # ::1 is in the default proxy_allow_ips
    assert srv.proc.poll() is None


# --------------------------------------------------------------------------- every worker type
WORKERS = {"sync": (), "gthread": ("-k", "gthread", "--threads", "4"), "gevent": ("-k", "gevent")}


@pytest.mark.parametrize("worker", sorted(WORKERS))
def test_every_wsgi_worker_type(server_factory, worker):
    srv = server_factory("-w", "1", *WORKERS[worker], "--proxy-protocol", "auto", "wsgi_basic:app")
    with srv.raw(timeout=5) as conn:
        conn.send(v2_tcp6() + build_request("POST", "/echo", body=b"x" * 1000))
        resp = conn.read_response()
        assert resp.status == 200 and json.loads(resp.body)["len"] == 1000
        conn.send(GET_ENV)
        env = environ(conn)
        assert env["REMOTE_ADDR"] == "2001:db8::7" and env["REMOTE_PORT"] == "40002"
    with srv.raw(timeout=5) as conn:
        conn.send(v1("192.0.2.8", source_port=9) + GET_ENV)
        assert environ(conn)["REMOTE_ADDR"] == "192.0.2.8"


def test_asgi_scope_client_from_the_header(server_factory):
    srv = server_factory("-w", "1", "-k", "asgi", "--proxy-protocol", "v2", "asgi_basic:app")
    with srv.raw(timeout=5) as conn:
        conn.send(v2_tcp4() + build_request("GET", "/scope"))
        resp = conn.read_response()
        assert resp.status == 200, resp
        assert json.loads(resp.body)["client"] == ["203.0.113.7", 40001]
        conn.send(build_request("GET", "/scope"))
        assert json.loads(conn.read_response().body)["client"] == ["203.0.113.7", 40001]
    with srv.raw(timeout=5) as conn:
        conn.send(v2(0, 0x00) + build_request("GET", "/scope"))
        assert json.loads(conn.read_response().body)["client"][0] == "127.0.0.1"
    refused_asgi = srv.raw(timeout=5)
    with refused_asgi as conn:
        conn.send(build_request("GET", "/scope"))
        assert conn.read_response().status == 400


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize("args,expected", [
    ((), "off"), (("--proxy-protocol",), "auto"), (("--proxy-protocol", "v1"), "v1"),
    (("--proxy-protocol", "V2"), "v2"), (("--proxy-protocol=auto",), "auto"), (("--proxy-protocol", "off"), "off"),
])
def test_proxy_protocol_setting_values(cli, args, expected):
    out = cli(*args, "--print-config", "wsgi_basic:app")
    assert out.returncode == 0, out.stderr
    values = {line.split("=")[0].strip(): line.split("=", 1)[1].strip()
              for line in out.stdout.splitlines() if "=" in line}
    assert values["proxy_protocol"] == expected, out.stdout


@pytest.mark.parametrize("value,expected", [("True", "auto"), ("False", "off"), ("'v2'", "v2"), ("None", "off")])
def test_proxy_protocol_from_a_config_file(cli, tmp_path, value, expected):
    config = tmp_path / "conf.py"
    config.write_text("proxy_protocol = %s\nproxy_allow_ips = '10.0.0.0/8, 127.0.0.1'\n" % value)
    out = cli("-c", str(config), "--print-config", "wsgi_basic:app")
    assert out.returncode == 0, out.stderr
    values = {line.split("=")[0].strip(): line.split("=", 1)[1].strip()
              for line in out.stdout.splitlines() if "=" in line}
    assert values["proxy_protocol"] == expected
    assert values["proxy_allow_ips"] == "['10.0.0.0/8', '127.0.0.1']"


@pytest.mark.parametrize("args", [("--proxy-protocol", "v3"), ("--proxy-allow-from", "localhost")])
def test_invalid_values_stop_the_start(cli, args):
    out = cli(*args, "wsgi_basic:app")
    assert out.returncode != 0
    assert "Invalid value for proxy_" in out.stderr, out.stderr


# --------------------------------------------------------------------------- gunicorn's corpus
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "gunicorn-requests" / "cases"


@pytest.mark.parametrize("name", ["pp_01", "pp_02", "pp_03", "pp_04", "pp_05"])
def test_gunicorn_corpus_valid_proxy_cases(auto_server, name):
    # proxy_protocol = auto (the cases' setting): every request the case expects reaches the app.
    case = json.loads((CORPUS / "valid" / (name + ".json")).read_text())
    before = app_calls(auto_server)
    if any(note["kind"] == "rfc-stricter" for note in case.get("rfc_notes", [])):
        # pp_02: HTTP/1.1 without Host, which narwhal refuses (RFC 9112 §3.2; docs/http.md).
        refused(auto_server, base64.b64decode(case["raw_b64"]), 400)
        return
    with auto_server.raw(timeout=5) as conn:
        conn.send(base64.b64decode(case["raw_b64"]))
        for expected in case["expect"]:
            resp = conn.read_response(expected["method"])
            assert resp.status in (200, 404), resp  # wsgi_basic answers 404 for unknown paths
    assert app_calls(auto_server) == before + 1 + len(case["expect"])
