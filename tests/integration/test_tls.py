"""TLS in narwhal (docs/tls.md): the SSL settings and the ssl_context hook as gunicorn documents
them, the handshake in the event loop for every worker type, hostile handshakes, client
certificates, and certificates renewed by HUP without a failed request."""
import hashlib
import http.client
import json
import os
import signal
import socket
import ssl
import threading
import time

import pytest
import trustme

from harness import wait_until

WORKERS = {
    "sync": ("-w", "1", "tls_app:app"),
    "gthread": ("-w", "1", "-k", "gthread", "--threads", "4", "tls_app:app"),
    "gevent": ("-w", "1", "-k", "gevent", "tls_app:app"),
    "asgi": ("-w", "1", "-k", "asgi", "tls_app:asgi_app"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    server.private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(root / "server.crt"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    client = ca.issue_cert("client@example.com", common_name="test client")
    client.private_key_and_cert_chain_pem.write_to_path(str(root / "client.pem"))
    other_ca = trustme.CA()  # a client certificate no one here trusts
    other_ca.issue_cert("mallory@example.com").private_key_and_cert_chain_pem.write_to_path(str(root / "stranger.pem"))
    renewed_ca = trustme.CA()  # HUP: the certificate files are replaced by these
    renewed = renewed_ca.issue_cert("localhost", "127.0.0.1")
    renewed.private_key_and_cert_chain_pem.write_to_path(str(root / "renewed.pem"))
    renewed_ca.cert_pem.write_to_path(str(root / "renewed-ca.pem"))
    return root


def client_context(pki, cert=None, ca="ca.pem", alpn=None, maximum=None):
    context = ssl.create_default_context(cafile=str(pki / ca))
    if cert:
        context.load_cert_chain(str(pki / cert))
    if alpn:
        context.set_alpn_protocols(alpn)
    if maximum:
        context.maximum_version = maximum
    return context


def https(server, context, method="GET", path="/", body=None, headers=None, timeout=10):
    connection = http.client.HTTPSConnection("localhost", server.port, context=context, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def tls_socket(server, context, timeout=10):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return context.wrap_socket(raw, server_hostname="localhost")


def read_response(sock):
    """One HTTP/1.1 response with a Content-Length from a (TLS) socket: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, "connection closed before a response head: %r" % data
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int([line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        piece = sock.recv(65536)
        assert piece
        rest += piece
    return head, rest[:length], rest[length:]


def tls_server(server_factory, pki, worker="sync", *extra):
    return server_factory(*WORKERS[worker], "--certfile", str(pki / "server.pem"), *extra)


# ---------------------------------------------------------------------------------------------
# every worker type

@pytest.mark.parametrize("worker", list(WORKERS))
def test_requests_bodies_and_keep_alive_over_tls(server_factory, pki, worker):
    server = tls_server(server_factory, pki, worker)
    context = client_context(pki)
    payload = os.urandom(3 << 20)  # 3 MiB up
    connection = http.client.HTTPSConnection("localhost", server.port, context=context, timeout=20)
    try:
        connection.request("POST", "/hash", body=payload)
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 200
        assert answer["sha256"] == hashlib.sha256(payload).hexdigest() and answer["size"] == len(payload)
        if worker != "asgi":
            assert answer.get("scheme", "https") == "https"
        # The same TLS connection serves the next request (keep-alive), 8 MiB down.
        local = connection.sock.getsockname()
        connection.request("GET", "/big?mib=8")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and len(body) == 8 << 20
        assert body == (bytes(range(256)) * 4096) * 8
        assert connection.sock.getsockname() == local
    finally:
        connection.close()


@pytest.mark.parametrize("worker", ["sync", "gthread", "gevent"])
def test_wsgi_sees_https_and_the_tls_connection(server_factory, pki, worker):
    server = tls_server(server_factory, pki, worker)
    status, body = https(server, client_context(pki, alpn=["h2", "http/1.1"]), path="/peer")
    peer = json.loads(body)
    assert status == 200
    assert peer["scheme"] == "https" and peer["server_port"] == str(server.port)
    assert peer["has_socket"] and peer["cert"] is None  # no client certificate asked
    assert peer["version"] == "TLSv1.3" and peer["cipher"][1] == "TLSv1.3" and peer["cipher"][2] >= 128
    assert peer["alpn"] == "http/1.1"  # h2 is not offered until HTTP/2 is served


def test_asgi_scope_scheme_is_https_and_websocket_wss(server_factory, pki):
    server = tls_server(server_factory, pki, "asgi")
    status, body = https(server, client_context(pki), method="POST", path="/scope", body=b"abc")
    assert status == 200
    assert json.loads(body)["scheme"] == "https"
    # A WebSocket over TLS (wss): handshake, one echo, close.
    import base64
    sock = tls_socket(server, client_context(pki))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 101")
    mask = os.urandom(4)
    text = b"over tls"
    sock.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
    frame = data.partition(b"\r\n\r\n")[2]
    while len(frame) < 2 or len(frame) < 2 + frame[1]:
        frame += sock.recv(4096)
    assert frame[0] == 0x81 and frame[2:2 + frame[1]] == b"echo:over tls"
    sock.close()


@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_file_wrapper_response_goes_through_tls(server_factory, pki, worker, tmp_path):
    # sendfile(2) cannot encrypt: the file is read and written through TLS instead.
    data = os.urandom((5 << 20) + 12345)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    server = tls_server(server_factory, pki, worker)
    status, body = https(server, client_context(pki), path="/file?path=%s" % path, timeout=20)
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()


def test_pipelined_requests_beyond_one_read_are_all_answered(server_factory, pki):
    # 300 pipelined requests (~330 KiB) in one write: decrypted bytes that the worker's read
    # buffer could not take stay inside OpenSSL, where epoll does not see them.
    server = tls_server(server_factory, pki, "sync")
    sock = tls_socket(server, client_context(pki))
    filler = "x" * 1000
    count = 300
    sock.sendall(b"".join(b"GET /n%d HTTP/1.1\r\nHost: localhost\r\nX-Filler: %s\r\n\r\n" % (i, filler.encode())
                          for i in range(count)))
    rest = b""
    seen = 0
    while seen < count:
        while b"\r\n\r\n" not in rest:
            piece = sock.recv(65536)
            assert piece, "closed after %d responses" % seen
            rest += piece
        head, _, rest = rest.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += sock.recv(65536)
        assert json.loads(rest[:length])["path"] == "/n%d" % seen
        rest = rest[length:]
        seen += 1
    sock.close()


# ---------------------------------------------------------------------------------------------
# hostile and broken clients

def test_plain_http_to_the_tls_port_gets_a_400_and_the_worker_serves_on(server_factory, pki):
    server = tls_server(server_factory, pki, "sync", "--log-level", "debug")
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    answer = b""
    while True:
        piece = raw.recv(4096)
        if not piece:
            break
        answer += piece
    assert answer.startswith(b"HTTP/1.1 400 ") and b"plain HTTP request was sent to an HTTPS port" in answer
    server.wait_for_stderr("Plain HTTP request on a TLS port")
    assert https(server, client_context(pki))[0] == 200


def test_stalled_and_broken_handshakes_hold_no_worker(server_factory, pki):
    # One sync worker: ten clients that connect and never finish a handshake, and ten that send
    # garbage, must not delay a real client; the stalled ones are closed at header_timeout.
    server = tls_server(server_factory, pki, "sync", "--header-timeout", "2", "--log-level", "debug")
    stalled = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(10)]
    half = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    partial = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    stalled.append(partial)
    for _ in range(10):
        garbage = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        garbage.sendall(os.urandom(512))
        got = b""
        try:
            while True:  # an alert at most, then the end
                piece = garbage.recv(4096)
                if not piece:
                    break
                got += piece
        except ConnectionResetError:
            pass  # closed with the garbage unread: a reset
        assert not got.startswith(b"HTTP") and len(got) < 100
        garbage.close()
    started = time.monotonic()
    assert https(server, half)[0] == 200
    assert time.monotonic() - started < 1.5
    server.wait_for_stderr("TLS handshake failed")
    # header_timeout (2 s) closes the stalled ones.
    for sock in stalled:
        sock.settimeout(6)
        assert sock.recv(4096) == b""
    server.wait_for_stderr("TLS handshake timed out")
    assert https(server, half)[0] == 200


def test_client_that_vanishes_mid_response_does_not_hurt_the_worker(server_factory, pki):
    server = tls_server(server_factory, pki, "sync")
    for _ in range(5):
        sock = tls_socket(server, client_context(pki))
        sock.sendall(b"GET /big?mib=32 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sock.recv(65536)
        sock.close()  # no close_notify, 32 MiB unread
    assert https(server, client_context(pki))[0] == 200


# ---------------------------------------------------------------------------------------------
# client certificates: ca_certs, cert_reqs

def test_required_client_certificate(server_factory, pki):
    server = tls_server(server_factory, pki, "sync", "--ca-certs", str(pki / "ca.pem"), "--cert-reqs", "2",
                        "--log-level", "debug")
    status, body = https(server, client_context(pki, cert="client.pem"), path="/peer")
    peer = json.loads(body)
    assert status == 200 and peer["cert_der_len"] > 100
    subject = dict(item for rdn in peer["cert"]["subject"] for item in rdn)
    assert subject["commonName"] == "test client"
    assert ["email", "client@example.com"] in [list(name) for name in peer["cert"]["subjectAltName"]]
    # Without a certificate, or with one from a CA not in ca_certs: the handshake fails.
    for context in (client_context(pki), client_context(pki, cert="stranger.pem")):
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            https(server, context, path="/peer")
    server.wait_for_stderr("TLS handshake failed")
    assert https(server, client_context(pki, cert="client.pem"))[0] == 200


def test_optional_client_certificate(server_factory, pki):
    server = tls_server(server_factory, pki, "sync", "--ca-certs", str(pki / "ca.pem"), "--cert-reqs", "1")
    assert json.loads(https(server, client_context(pki), path="/peer")[1])["cert"] is None
    peer = json.loads(https(server, client_context(pki, cert="client.pem"), path="/peer")[1])
    assert dict(item for rdn in peer["cert"]["subject"] for item in rdn)["commonName"] == "test client"


# ---------------------------------------------------------------------------------------------
# keyfile, ciphers, ssl_version, ssl_context, suppress_ragged_eofs, do_handshake_on_connect

def test_separate_keyfile_and_handshake_setting(server_factory, pki):
    server = server_factory(*WORKERS["sync"], "--certfile", str(pki / "server.crt"), "--keyfile",
                            str(pki / "server.key"), "--do-handshake-on-connect")
    assert https(server, client_context(pki))[0] == 200


def test_ciphers_limit_tls12_suites(server_factory, pki):
    server = tls_server(server_factory, pki, "sync", "--ciphers", "ECDHE+AESGCM:!AES128")
    tls12 = client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)
    tls12.set_ciphers("ECDHE+AES128")  # only suites the server refuses
    with pytest.raises(ssl.SSLError):
        https(server, tls12)
    tls12 = client_context(pki, maximum=ssl.TLSVersion.TLSv1_2)
    peer = json.loads(https(server, tls12, path="/peer")[1])
    assert peer["version"] == "TLSv1.2" and "AES256-GCM" in peer["cipher"][0]


def test_ssl_context_hook_customises_the_context(server_factory, pki, tmp_path):
    config = tmp_path / "tls.conf.py"
    config.write_text(
        "import ssl\n"
        "calls = []\n"
        "def ssl_context(conf, default_ssl_context_factory):\n"
        "    context = default_ssl_context_factory()\n"
        "    context.minimum_version = ssl.TLSVersion.TLSv1_3\n"
        "    calls.append(conf.certfile)\n"
        "    print('ssl_context hook called for', conf.certfile, flush=True)\n"
        "    return context\n")
    server = tls_server(server_factory, pki, "sync", "-c", str(config))
    assert https(server, client_context(pki))[0] == 200
    with pytest.raises(ssl.SSLError):
        https(server, client_context(pki, maximum=ssl.TLSVersion.TLSv1_2))
    # Called once in the master, not per connection.
    assert server.stdout_text().count("ssl_context hook called") == 1


def test_ssl_version_is_read_as_a_minimum(server_factory, pki):
    server = tls_server(server_factory, pki, "sync", "--ssl-version", "TLSv1_2")
    assert json.loads(https(server, client_context(pki, maximum=ssl.TLSVersion.TLSv1_2), path="/peer")[1])["version"] == "TLSv1.2"


def test_bad_tls_settings_stop_the_start_up(server_factory, pki, tmp_path):
    from harness import run_cli
    result = run_cli("-b", "127.0.0.1:0", "--certfile", str(tmp_path / "nope.pem"), "tls_app:app")
    assert result.returncode != 0 and "certfile" in result.stderr and "nope.pem" in result.stderr
    hook = tmp_path / "bad.conf.py"
    hook.write_text("def ssl_context(conf, factory):\n    return 42\n")
    result = run_cli("-b", "127.0.0.1:0", "-c", str(hook), "--certfile", str(pki / "server.pem"), "tls_app:app")
    assert result.returncode != 0 and "ssl.SSLContext" in result.stderr


def test_ragged_eof_in_a_body_is_a_disconnect_or_an_error(server_factory, pki, tmp_path):
    # suppress_ragged_eofs (default True): a client that drops the connection without
    # close_notify mid-body reads as a disconnect; set False (config file: gunicorn's flag can
    # only turn it on), as a TLS error. Either way wsgi.input raises.
    strict = tmp_path / "strict.conf.py"
    strict.write_text("suppress_ragged_eofs = False\n")
    for flags, expected in (((), "client disconnected before the request body was complete"),
                            (("-c", str(strict)), "error reading the request body")):
        server = tls_server(server_factory, pki, "sync", *flags)
        sock = tls_socket(server, client_context(pki))
        sock.sendall(b"POST /hash HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 100000)
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)  # a FIN without close_notify: a ragged EOF
        wait_until(lambda: expected in https(server, client_context(pki), path="/body-errors")[1].decode(),
                   message="the app saw the broken body")


# ---------------------------------------------------------------------------------------------
# HUP: renewed certificates, no failed request

def test_hup_takes_renewed_certificates_without_failed_requests(server_factory, pki, tmp_path):
    live = tmp_path / "live.pem"
    live.write_bytes((pki / "server.pem").read_bytes())
    server = server_factory("-w", "2", "tls_app:app", "--certfile", str(live))
    both = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    both.load_verify_locations(str(pki / "renewed-ca.pem"))
    failures, done, issuers = [], threading.Event(), set()

    def load():
        while not done.is_set():
            try:
                sock = tls_socket(server, both)
                issuers.add(sock.getpeercert(binary_form=True))
                sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                head, body, _ = read_response(sock)
                if not head.startswith(b"HTTP/1.1 200"):
                    failures.append(head)
                sock.close()
            except Exception as error:  # noqa: BLE001 - every failure counts
                failures.append(repr(error))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        live.write_bytes((pki / "renewed.pem").read_bytes())
        os.kill(server.pid, signal.SIGHUP)
        renewed_only = client_context(pki, ca="renewed-ca.pem")

        def renewed_served():
            try:
                return https(server, renewed_only)[0] == 200
            except ssl.SSLError:
                return False
        wait_until(renewed_served, timeout=15, message="the renewed certificate is served")
        time.sleep(0.5)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(issuers) == 2  # both certificates were served during the run
    with pytest.raises(ssl.SSLError):
        https(server, client_context(pki))  # the old CA no longer verifies what is served


# ---------------------------------------------------------------------------------------------
# PROXY protocol in front of TLS: the header comes first, in clear (docs/proxies.md)

def proxied_tls_socket(server, context, header, drip=False):
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if drip:  # a byte at a time: the header waits in the connection's stash, nothing spins
        for i in range(len(header)):
            raw.sendall(header[i:i + 1])
            time.sleep(0.01)
    else:
        raw.sendall(header)
    return context.wrap_socket(raw, server_hostname="localhost")


@pytest.mark.parametrize("drip", [False, True])
def test_proxy_protocol_v1_before_the_handshake(server_factory, pki, tmp_path, drip):
    log = tmp_path / "access.log"
    server = tls_server(server_factory, pki, "sync", "--proxy-protocol", "v1", "--proxy-allow-from", "127.0.0.1",
                        "--access-logfile", str(log))
    sock = proxied_tls_socket(server, client_context(pki), b"PROXY TCP4 203.0.113.7 192.0.2.1 40123 443\r\n", drip)
    sock.sendall(b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    head, body, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["scheme"] == "https"
    sock.close()
    wait_until(lambda: log.exists() and log.read_text().startswith("203.0.113.7 "),
               message="the PROXY client in the access log")


def test_proxy_protocol_v2_before_the_handshake_sets_the_client(server_factory, pki, tmp_path):
    log = tmp_path / "access.log"
    server = tls_server(server_factory, pki, "gthread", "--proxy-protocol", "v2", "--access-logfile", str(log))
    import struct
    addresses = socket.inet_aton("198.51.100.9") + socket.inet_aton("192.0.2.1") + struct.pack("!HH", 51000, 443)
    header = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses
    sock = proxied_tls_socket(server, client_context(pki), header)
    sock.sendall(b"GET /peer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    head, body, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["scheme"] == "https"
    sock.close()
    wait_until(lambda: log.exists() and "198.51.100.9" in log.read_text(), message="the PROXY client in the access log")
    # A TLS client without the header (v2 requires it from an allowed peer): refused with a 400
    # (over TLS: the handshake completes for the answer), never served.
    status, body = https(server, client_context(pki), path="/peer")
    assert status == 400 and b"missing PROXY protocol header" in body
