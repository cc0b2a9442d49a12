"""HTTP/2 (docs/http2.md): over TLS with ALPN h2 and in cleartext with prior knowledge, for the
worker types that serve connections concurrently (gthread, gevent, asgi), with the same
certificates as the TLS tests; concurrency on one connection, bodies both ways, the client's
abuse (rapid reset, a window it never opens), graceful stop, and the settings."""
import asyncio
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import httpx
import pytest
import trustme

from harness import run_cli, wait_until

WORKERS = {
    "gthread": ("-w", "1", "-k", "gthread", "--threads", "4", "tls_app:app"),
    "gevent": ("-w", "1", "-k", "gevent", "tls_app:app"),
    "asgi": ("-w", "1", "-k", "asgi", "tls_app:asgi_app"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("pki-h2")
    ca = trustme.CA()
    ca.issue_cert("localhost", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(root / "server.pem"))
    ca.cert_pem.write_to_path(str(root / "ca.pem"))
    return root


def h2_server(server_factory, pki, worker, *extra):
    return server_factory(*WORKERS[worker], "--certfile", str(pki / "server.pem"), "--http-protocols", "h2,h1", *extra)


def client(pki, **kw):
    return httpx.Client(http2=True, verify=str(pki / "ca.pem"), timeout=30, **kw)


@pytest.mark.parametrize("worker", list(WORKERS))
def test_alpn_h2_requests_and_bodies(server_factory, pki, worker):
    server = h2_server(server_factory, pki, worker)
    base = "https://localhost:%d" % server.port
    payload = os.urandom((2 << 20) + 7)
    with client(pki) as http:
        response = http.post(base + "/hash", content=payload)
        assert response.http_version == "HTTP/2" and response.status_code == 200
        assert response.json()["sha256"] == hashlib.sha256(payload).hexdigest()
        response = http.get(base + "/big?mib=8")
        assert response.http_version == "HTTP/2" and len(response.content) == 8 << 20
        assert response.content == (bytes(range(256)) * 4096) * 8
        if worker != "asgi":
            peer = http.get(base + "/peer").json()
            assert peer["scheme"] == "https"
            streamed = http.get(base + "/stream?n=4")  # a chunked HTTP/1.1 response, unframed for h2
            assert streamed.text == "chunk0\nchunk1\nchunk2\nchunk3\n"
            assert "transfer-encoding" not in streamed.headers and "connection" not in streamed.headers


@pytest.mark.parametrize("worker", list(WORKERS))
def test_concurrent_streams_share_one_connection(server_factory, pki, worker):
    server = h2_server(server_factory, pki, worker)
    base = "https://localhost:%d" % server.port

    async def run():
        async with httpx.AsyncClient(http2=True, verify=str(pki / "ca.pem"), timeout=30) as http:
            bodies = [os.urandom(50000 + i) for i in range(24)]
            responses = await asyncio.gather(*(http.post(base + "/hash", content=body) for body in bodies))
            assert all(r.http_version == "HTTP/2" and r.status_code == 200 for r in responses)
            assert [r.json()["sha256"] for r in responses] == [hashlib.sha256(b).hexdigest() for b in bodies]
            return len(http._transport._pool.connections)
    assert asyncio.run(run()) == 1


def test_http11_clients_still_served_on_the_h2_port(server_factory, pki):
    server = h2_server(server_factory, pki, "gthread")
    with httpx.Client(http2=False, verify=str(pki / "ca.pem")) as http:
        response = http.get("https://localhost:%d/peer" % server.port)
    assert response.http_version == "HTTP/1.1" and response.json()["alpn"] == "http/1.1"


def test_h2c_prior_knowledge_from_a_trusted_peer(server_factory, pki):
    server = server_factory(*WORKERS["gthread"], "--http-protocols", "h2,h1", "--http2-cleartext", "prior-knowledge")
    result = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-w", "\\n%{http_version}",
                             "http://127.0.0.1:%d/peer" % server.port], capture_output=True, text=True, timeout=20)
    body, _, version = result.stdout.rpartition("\n")
    assert version == "2" and json.loads(body)["scheme"] == "http"
    # HTTP/1.1 still works on the same port.
    result = subprocess.run(["curl", "-sS", "http://127.0.0.1:%d/x" % server.port], capture_output=True, text=True, timeout=20)
    assert json.loads(result.stdout)["path"] == "/x"


def test_h2c_prior_knowledge_only_for_forwarded_allow_ips(server_factory):
    server = server_factory(*WORKERS["gthread"], "--http-protocols", "h2,h1", "--http2-cleartext", "prior-knowledge",
                            "--forwarded-allow-ips", "10.9.9.9")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 505")  # an untrusted peer is spoken to in HTTP/1.1


def test_h2_with_the_sync_worker_is_refused(pki):
    result = run_cli("-b", "127.0.0.1:0", "--certfile", str(pki / "server.pem"), "--http-protocols", "h2,h1",
                     "tls_app:app")
    assert result.returncode != 0 and "http_protocols" in result.stderr and "sync" in result.stderr


def raw_h2(server, pki):
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.set_alpn_protocols(["h2"])
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10), server_hostname="localhost")
    assert sock.selected_alpn_protocol() == "h2"
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    return sock, connection


def read_events(sock, connection, until, timeout=10):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            return seen, True
        events = connection.receive_data(data)
        seen.extend(events)
        sock.sendall(connection.data_to_send())
        if until(seen):
            return seen, False
    raise AssertionError("no expected event within %ss: %r" % (timeout, seen[-5:]))


def test_rapid_reset_is_cut_off_and_the_worker_serves_on(server_factory, pki):
    server = h2_server(server_factory, pki, "gthread")
    sock, connection = raw_h2(server, pki)
    headers = [(":method", "GET"), (":path", "/"), (":scheme", "https"), (":authority", "localhost")]
    for i in range(4000):  # CVE-2023-44487: open and cancel, as fast as the socket takes it
        stream = connection.get_next_available_stream_id()
        connection.send_headers(stream, headers, end_stream=True)
        connection.reset_stream(stream)
        if i % 100 == 99:
            try:
                sock.sendall(connection.data_to_send())
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
    try:
        sock.sendall(connection.data_to_send())
        events, closed = read_events(sock, connection, lambda seen: any(isinstance(e, h2.events.ConnectionTerminated) for e in seen))
        terminated = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
        assert closed or terminated[0].error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass  # closed on us: also cut off
    sock.close()
    with client(pki) as http:
        assert http.get("https://localhost:%d/x" % server.port).status_code == 200


def test_graceful_stop_finishes_streams_in_flight(server_factory, pki, tmp_path):
    # TERM while a 64 MiB response streams: GOAWAY names the stream as processed and it
    # completes (curl honours a graceful GOAWAY; httpcore treats any GOAWAY as fatal).
    server = h2_server(server_factory, pki, "gthread", "--graceful-timeout", "20")
    curl = subprocess.Popen(["curl", "-sS", "--http2", "--cacert", str(pki / "ca.pem"), "--limit-rate", "20M",
                             "-o", str(tmp_path / "big"), "-w", "%{http_code} %{http_version} %{size_download}",
                             "https://localhost:%d/big?mib=64" % server.port], stdout=subprocess.PIPE, text=True)
    wait_until(lambda: (tmp_path / "big").exists() and (tmp_path / "big").stat().st_size > 0, timeout=10,
               message="the download started")
    os.kill(server.pid, signal.SIGTERM)
    out, _ = curl.communicate(timeout=40)
    assert out.split() == ["200", "2", str(64 << 20)]
    assert server.proc.wait(timeout=20) == 0


def test_a_window_the_client_never_opens_is_reset_after_write_timeout(server_factory, pki):
    server = h2_server(server_factory, pki, "gthread", "--write-timeout", "2")
    sock, connection = raw_h2(server, pki)
    connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    stream = connection.get_next_available_stream_id()
    connection.send_headers(stream, [(":method", "GET"), (":path", "/big?mib=1"), (":scheme", "https"),
                                     (":authority", "localhost")], end_stream=True)
    sock.sendall(connection.data_to_send())
    started = time.monotonic()
    # Meanwhile the worker serves others.
    with client(pki) as http:
        assert http.get("https://localhost:%d/x" % server.port).status_code == 200
    events, _ = read_events(sock, connection, lambda seen: any(isinstance(e, h2.events.StreamReset) for e in seen),
                            timeout=15)
    reset = [e for e in events if isinstance(e, h2.events.StreamReset)][0]
    assert reset.stream_id == stream and reset.error_code == h2.errors.ErrorCodes.CANCEL
    assert 2 <= time.monotonic() - started < 8
    sock.close()


def test_settings_are_advertised_and_enforced(server_factory, pki):
    server = h2_server(server_factory, pki, "gthread", "--http2-max-concurrent-streams", "3",
                       "--http2-initial-window-size", "100000", "--http2-max-frame-size", "32768",
                       "--http2-max-header-list-size", "4096")
    sock, connection = raw_h2(server, pki)
    read_events(sock, connection, lambda seen: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in seen))
    settings = connection.remote_settings
    assert settings.max_concurrent_streams == 3
    assert settings.initial_window_size == 100000
    assert settings.max_frame_size == 32768
    assert settings.max_header_list_size == 4096
    # A header list past 4096 bytes: 431, the HTTP/1 answer, on that stream only.
    stream = connection.get_next_available_stream_id()
    connection.send_headers(stream, [(":method", "GET"), (":path", "/"), (":scheme", "https"),
                                     (":authority", "localhost"), ("x-big", "v" * 5000)], end_stream=True)
    sock.sendall(connection.data_to_send())
    events, _ = read_events(sock, connection, lambda seen: any(
        isinstance(e, (h2.events.ResponseReceived, h2.events.StreamReset)) and e.stream_id == stream for e in seen))
    answer = [e for e in events if getattr(e, "stream_id", None) == stream][0]
    assert isinstance(answer, h2.events.ResponseReceived) and dict(answer.headers)[b":status"] == b"431"
    sock.close()
    # More than 3 streams at once (sent before our SETTINGS reached the client): the extra ones
    # are refused (the client may retry them), the first three answered.
    sock, connection = raw_h2(server, pki)
    streams = []
    for _ in range(5):
        stream = connection.get_next_available_stream_id()
        connection.send_headers(stream, [(":method", "GET"), (":path", "/x"), (":scheme", "https"),
                                         (":authority", "localhost")], end_stream=True)
        streams.append(stream)
    sock.sendall(connection.data_to_send())
    events, _ = read_events(sock, connection, lambda seen: sum(
        isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) for e in seen) >= 5)
    ended = {e.stream_id for e in events if isinstance(e, h2.events.StreamEnded)}
    refused = {e.stream_id for e in events if isinstance(e, h2.events.StreamReset)
               and e.error_code == h2.errors.ErrorCodes.REFUSED_STREAM}
    assert len(ended) >= 3 and ended | refused == set(streams)
    sock.close()


@pytest.mark.parametrize("worker", ["gthread", "asgi"])
def test_h2load_streams_all_succeed(server_factory, pki, worker):
    # nghttp2's own client: 3 connections x 10 concurrent streams, 600 requests.
    server = h2_server(server_factory, pki, worker)
    result = subprocess.run(["h2load", "-n", "600", "-c", "3", "-m", "10", "https://127.0.0.1:%d/x" % server.port],
                            capture_output=True, text=True, timeout=60)
    assert "600 succeeded, 0 failed, 0 errored" in result.stdout, result.stdout
    assert "Application protocol: h2" in result.stdout


@pytest.mark.parametrize("worker", list(WORKERS))
def test_client_leaving_with_streams_in_flight_does_not_hurt_the_worker(server_factory, pki, worker):
    # h2load -D ends with streams in flight; a client that resets its TCP connection mid-response
    # must leave the worker serving (a stream's pair may still have events queued in the batch).
    server = h2_server(server_factory, pki, worker)
    for _ in range(5):
        sock, connection = raw_h2(server, pki)
        for _ in range(20):
            stream = connection.get_next_available_stream_id()
            connection.send_headers(stream, [(":method", "GET"), (":path", "/big?mib=1"), (":scheme", "https"),
                                             (":authority", "localhost")], end_stream=True)
        sock.sendall(connection.data_to_send())
        sock.recv(65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # reset, with 20 streams answering
    result = subprocess.run(["h2load", "-c", "4", "-m", "10", "-D", "2", "https://127.0.0.1:%d/x" % server.port],
                            capture_output=True, text=True, timeout=60)
    assert " 0 failed, 0 errored" in result.stdout, result.stdout
    time.sleep(0.5)
    with client(pki) as http:
        assert http.get("https://localhost:%d/x" % server.port).status_code == 200
    assert "was sent" not in server.stderr_text(), server.stderr_text()  # no SIGSEGV, no restart


def test_h2c_preface_dripped_across_reads(server_factory):
    server = server_factory(*WORKERS["gthread"], "--http-protocols", "h2,h1", "--http2-cleartext", "prior-knowledge")
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    for piece in (preface[:7], preface[7:15], preface[15:]):  # parts wait in the stash
        sock.sendall(piece)
        time.sleep(0.2)
    frame = sock.recv(100)
    assert frame[3] == 0x4  # the server's SETTINGS: an HTTP/2 connection
    sock.close()
