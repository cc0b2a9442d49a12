"""narwhal behind a real nginx (issue 14 "Edge"), with the site configuration docs/deploy.md
recommends (nginx.site_config, the one source of truth; test_deploy_doc_shows_the_tested_config
keeps the doc and the generator identical): the keep-alive pool to a TCP upstream, a unix-socket
upstream, forwarded headers and TLS terminated at nginx, a 50 MiB upload streamed through
`proxy_request_buffering off`, streamed responses with `proxy_buffering off` and what nginx's
default response buffering adds, WebSocket through nginx to the asgi worker, HUP x3 under load
and TERM with requests in flight (no 502, no failed request)."""

import asyncio
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
import websockets

from harness import REPO, narwhal_binary, timing_factor, wait_until
from loadgen import LoadGenerator
from nginx import doc_blocks, site_config, uwsgi_location

APP = "edge_app:app"
MIB = 1024 * 1024


def front(nginx_factory, server, **site):
    """nginx (listening on its own free port) in front of `server`'s TCP port."""
    site.setdefault("upstream", "127.0.0.1:%d" % server.port)
    return nginx_factory(site_config(listen="{listen}", **site))


def get_json(url, **kw):
    response = requests.get(url, timeout=10, **kw)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return response.json()


def shared_tmpdir():
    """A directory nginx's workers and narwhal's workers can both enter (0755)."""
    path = tempfile.mkdtemp(prefix="narwhal-edge-")
    os.chmod(path, 0o755)
    return Path(path)


def upstream_statuses(ngx):
    return [line.split("upstream_status=")[1].split()[0] for line in ngx.access_log()]


# --------------------------------------------------------------------------------------------
def test_deploy_doc_shows_the_tested_config():
    """docs/deploy.md shows exactly what site_config() renders."""
    doc = (REPO / "docs" / "deploy.md").read_text()
    for name, text in doc_blocks().items():
        block = "<!-- nginx-config: %s -->\n```nginx\n%s```" % (name, text)
        assert block in doc, ("docs/deploy.md lacks (or has a stale copy of) the %r block; "
                              "`python3 tests/integration/nginx.py --update-doc` rewrites it:\n%s" % (name, block))


@pytest.mark.parametrize("keepalive", [16, 0], ids=["pool", "no-pool"])
def test_tcp_upstream_keepalive_pool(server_factory, nginx_factory, keepalive):
    """With `keepalive 16` + HTTP/1.1 + no Connection header, 20 requests reach narwhal on one
    upstream connection (one REMOTE_PORT); without the pool (the control) each request opens
    a new one."""
    server = server_factory("-w", "2", "--keep-alive", "5", APP)
    ngx = front(nginx_factory, server, keepalive=keepalive)
    seen = []
    with requests.Session() as client:
        for _ in range(20):
            response = client.get(ngx.url + "/env", timeout=10)
            assert response.status_code == 200, response.text[:300]
            env = response.json()["env"]
            seen.append(env["REMOTE_PORT"])
            assert env["REMOTE_ADDR"] == "127.0.0.1"
            assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
            assert "HTTP_CONNECTION" not in env  # `Connection ""`: nothing asks narwhal to close
    if keepalive:
        assert len(set(seen)) == 1, seen
    else:
        assert len(set(seen)) == len(seen), seen
    assert set(upstream_statuses(ngx)) == {"200"}


def test_unix_socket_upstream(server_factory, nginx_factory):
    directory = shared_tmpdir()
    sock = directory / "narwhal.sock"
    try:
        # also bound to TCP (the harness waits for that port); nginx only knows the socket
        server = server_factory("-w", "1", "-b", "unix:%s" % sock, APP)
        ngx = front(nginx_factory, server, upstream="unix:%s" % sock)
        with requests.Session() as client:
            for _ in range(3):
                env = client.get(ngx.url + "/env", headers={"Host": "app.example.com"}, timeout=10).json()["env"]
                assert env["HTTP_HOST"] == "app.example.com"
                assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
                assert env["REMOTE_ADDR"] == "" and "REMOTE_PORT" not in env  # a unix-socket peer
        assert all("upstream=unix:%s upstream_status=200" % sock in line for line in ngx.access_log()), ngx.access_log()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_forwarded_headers_reach_environ(server_factory, nginx_factory):
    """X-Forwarded-For gets the client's address appended (a client's own value is kept in
    front, so the app must trust only the last hop nginx added); a client's forged
    X-Forwarded-Proto is replaced by nginx's $scheme; REMOTE_ADDR stays nginx's address, as in
    gunicorn; Host reaches the app as the client sent it."""
    server = server_factory("-w", "1", APP)
    ngx = front(nginx_factory, server)
    connection = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=10, source_address=("127.0.0.2", 0))
    connection.request("GET", "/env?x=1", headers={"Host": "app.example.com:8443", "X-Forwarded-For": "203.0.113.9",
                                                   "X-Forwarded-Proto": "https"})
    response = connection.getresponse()
    assert response.status == 200
    env = json.loads(response.read())["env"]
    connection.close()
    assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 127.0.0.2"
    assert env["HTTP_X_FORWARDED_PROTO"] == "http"
    assert env["wsgi.url_scheme"] == "http"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_HOST"] == "app.example.com:8443"
    assert env["QUERY_STRING"] == "x=1"
    # HTTP/1.0 without Host: nginx sends its server_name (an HTTP/1.1 request without Host
    # would get narwhal's 400)
    with socket.create_connection(("127.0.0.1", ngx.port), timeout=10) as sock:
        sock.sendall(b"GET /env HTTP/1.0\r\n\r\n")
        answer = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert json.loads(body)["env"]["HTTP_HOST"] == "example.com"


@pytest.fixture(scope="module")
def certificate():
    directory = Path(tempfile.mkdtemp(prefix="narwhal-edge-tls-"))
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    os.chmod(directory, 0o755)
    os.chmod(key, 0o644)
    yield str(cert), str(key)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_tls_terminated_at_nginx(server_factory, nginx_factory, certificate, trusted):
    """HTTPS (and HTTP/2) at nginx, plain HTTP/1.1 to narwhal: wsgi.url_scheme is "https" when
    nginx's address is in forwarded_allow_ips (the default 127.0.0.1), "http" when it is not."""
    allow = () if trusted else ("--forwarded-allow-ips", "10.9.9.9")
    server = server_factory("-w", "1", *allow, APP)
    ngx = front(nginx_factory, server, tls=certificate)
    https_url = "https://127.0.0.1:%d" % ngx.port
    env = get_json(https_url + "/env", verify=certificate[0])["env"]
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"
    assert env["wsgi.url_scheme"] == ("https" if trusted else "http")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    if trusted:  # the client speaks HTTP/2 to nginx; narwhal still gets HTTP/1.1
        out = subprocess.run(["curl", "-sS", "--http2", "--cacert", certificate[0], "-o", "/dev/null",
                              "-w", "%{http_version} %{http_code}", https_url + "/hello"],
                             capture_output=True, text=True, timeout=20)
        assert out.stdout == "2 200", (out.stdout, out.stderr)


# --------------------------------------------------------------------------------------------
# request bodies
def send_upload(port, path, data, first, between):
    """POSTs `data` to nginx: the head and `first` bytes, then between(), then the rest.
    Returns the JSON answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest("POST", path)
    connection.putheader("Content-Length", str(len(data)))
    connection.putheader("Content-Type", "application/octet-stream")
    connection.endheaders()
    connection.send(data[:first])
    between()
    view = memoryview(data)
    for offset in range(first, len(data), MIB):
        connection.send(view[offset:offset + MIB])
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 200, (response.status, body[:300])
    return json.loads(body)


@pytest.mark.parametrize("location", ["/upload/", "/plain/upload/"], ids=["request-buffering-off", "default"])
def test_50mib_upload(server_factory, nginx_factory, location):
    """Under `proxy_request_buffering off` the app reads the first bytes while the client still
    holds back the rest of its 50 MiB; with nginx's default (the control) the app is not called
    before the whole body has reached nginx. Both arrive intact (SHA-256)."""
    directory = shared_tmpdir()
    marker = directory / "first-piece"
    server = server_factory("-w", "1", APP)
    ngx = front(nginx_factory, server)
    data = os.urandom(50 * MIB)
    first = MIB
    seen_before_rest = []

    def between():
        if location == "/upload/":
            wait_until(marker.exists, timeout=5 * timing_factor(), message="the app to read the first bytes")
        else:
            time.sleep(1.0)
        seen_before_rest.append(marker.exists())

    try:
        answer = send_upload(ngx.port, location + "hash?marker=%s" % marker, data, first, between)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert answer["len"] == len(data)
    assert answer["sha256"] == hashlib.sha256(data).hexdigest()
    assert seen_before_rest == [location == "/upload/"]
    assert upstream_statuses(ngx) == ["200"]


# --------------------------------------------------------------------------------------------
# responses
@pytest.mark.parametrize("location", ["/stream/", "/plain/stream/"], ids=["buffering-off", "default"])
def test_streamed_response_arrives_incrementally(server_factory, nginx_factory, location):
    """The client reads chunk 1 before the app produces chunk 2 (the app waits for a file the
    test creates only after it has chunk 1). nginx forwards what it has read to a client that
    keeps up in both modes (measured: the default passes too); the difference is in the next
    test."""
    directory = shared_tmpdir()
    gate = directory / "gate"
    server = server_factory("-w", "2", APP)
    ngx = front(nginx_factory, server)
    connection = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=5 * timing_factor())
    try:
        connection.request("GET", location + "gated?gate=%s" % gate)
        response = connection.getresponse()
        assert response.status == 200
        assert response.readline() == b"chunk-1\n"
        assert not gate.exists()
        gate.touch()
        assert response.read() == b"chunk-2 gate-seen\n"
    finally:
        connection.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("location", ["/stream/", "/plain/stream/"], ids=["buffering-off", "default"])
def test_client_that_does_not_read(server_factory, nginx_factory, location):
    """A 32 MiB generated response to a client that reads nothing for a while: nginx's default
    buffering takes all of it from narwhal (spooling to its temp files), so the app's generator
    finishes and the worker is free; with `proxy_buffering off` nginx reads no further than the
    client, the back-pressure reaches narwhal and the generator waits. Both arrive intact."""
    directory = shared_tmpdir()
    marker = directory / "done"
    server = server_factory("-w", "1", APP)
    ngx = front(nginx_factory, server)
    chunks = 512  # x 64 KiB
    sock = socket.create_connection(("127.0.0.1", ngx.port), timeout=10)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET %sbig?n=%d&marker=%s HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n"
                     % (location.encode(), chunks, str(marker).encode()))
        if location == "/plain/stream/":
            wait_until(marker.exists, timeout=10 * timing_factor(), message="the app to finish its generator")
        else:
            time.sleep(1.5)
            assert not marker.exists(), "nginx took the whole response from the app"
        received = bytearray()
        while True:
            piece = sock.recv(1 << 20)
            if not piece:
                break
            received += piece
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(bytes(range(256)) * 256 * chunks).hexdigest()


def dechunk(data):
    out, position = bytearray(), 0
    while True:
        end = data.index(b"\r\n", position)
        size = int(data[position:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2:end + 2 + size]
        position = end + 2 + size + 2


# --------------------------------------------------------------------------------------------
def test_websocket_through_nginx(server_factory, nginx_factory):
    """The upgrade goes through the same location as plain requests (the map sets
    `Connection: upgrade` only for it); echo round trips under -k asgi."""
    server = server_factory("-k", "asgi", "-w", "1", "asgi_basic:app")
    ngx = front(nginx_factory, server)
    ws_url = "ws://127.0.0.1:%d" % ngx.port

    async def exchange():
        async with websockets.connect(ws_url + "/ws/scope") as ws:
            scope = json.loads(await ws.recv())
        async with websockets.connect(ws_url + "/ws/echo") as ws:
            echoes = []
            for message in ("hello", b"\x00\x01binary", "x" * 100000):
                await ws.send(message)
                echoes.append(await asyncio.wait_for(ws.recv(), 10))
        return scope, echoes

    scope, echoes = asyncio.new_event_loop().run_until_complete(exchange())
    assert echoes == ["hello", b"\x00\x01binary", "x" * 100000]
    headers = {name["bytes"]: value["bytes"] for name, value in scope["headers"]}
    assert scope["type"] == "websocket"
    assert headers.get("connection", "").lower() == "upgrade" and headers.get("upgrade", "").lower() == "websocket"
    assert headers.get("x-forwarded-for") == "127.0.0.1"
    # plain requests on the same location still use the pool: no Connection header reaches narwhal
    response = requests.get(ngx.url + "/scope", timeout=10)
    assert response.status_code == 200
    assert "connection" not in {name["bytes"] for name, _ in response.json()["headers"]}


# --------------------------------------------------------------------------------------------
# process management behind nginx
WORKER_KIND = {"sync": (), "gthread": ("-k", "gthread", "--threads", "4")}


@pytest.mark.parametrize("worker,keepalive", [("sync", 0), ("sync", 16), ("gthread", 16)],
                         ids=["sync-no-pool", "sync-pool", "gthread-pool"])
def test_hup_x3_under_load_through_nginx(server_factory, nginx_factory, worker, keepalive):
    """Three HUPs while 6 clients (3 keep-alive, 3 new connection per request) hammer nginx:
    no failed request, no 502, no upstream error in nginx's log — old workers finish what they
    hold on nginx's pooled connections and answer the next request on each with
    `Connection: close`."""
    server = server_factory("-w", "2", *WORKER_KIND[worker], "--keep-alive", "5", "--graceful-timeout", "10", APP)
    ngx = front(nginx_factory, server, keepalive=keepalive)
    load = LoadGenerator(ngx.port, keepalive=3, close=3).start()
    try:
        time.sleep(1.0)
        for _ in range(3):
            os.kill(server.pid, signal.SIGHUP)
            time.sleep(1.0)
        time.sleep(1.0)
    finally:
        load.stop()
    failures = load.stats.failures
    assert not failures, failures[:5]
    assert load.stats.ok > 300, load.stats.ok
    statuses = upstream_statuses(ngx)
    assert statuses and set(statuses) == {"200"}, sorted(set(statuses))
    log = server.stderr_text()
    assert log.count("Handling signal: hup") == 3 and log.count("Booting worker") >= 8, log[-3000:]
    errors = [line for line in ngx.error_log().splitlines() if "[error]" in line or "[warn]" in line]
    assert not errors, errors[:5]


@pytest.mark.parametrize("worker,keepalive", [("sync", 0), ("gthread", 16)], ids=["sync-no-pool", "gthread-pool"])
def test_fast_requests_do_not_wait_behind_slow_ones(server_factory, nginx_factory, worker, keepalive):
    """The pairing docs/deploy.md recommends: `sync` without the keep-alive pool, `gthread` with
    it. One client keeps a worker busy with 1 s requests; another client's quick requests
    never wait for it. (sync *with* the pool: when one worker has accepted both upstream
    connections, every quick request waits behind the slow one — in about half the runs,
    depending on which worker accepted what; docs/deploy.md.)"""
    slow_seconds = 2.0 if timing_factor() > 1 else 1.0  # the ASan build gets twice the time
    server = server_factory("-w", "2", *WORKER_KIND[worker], "--keep-alive", "5", APP)
    ngx = front(nginx_factory, server, keepalive=keepalive)
    stop = time.monotonic() + 2 * slow_seconds + 0.5
    latencies = []

    def slow():
        with requests.Session() as client:
            while time.monotonic() < stop:
                assert client.get(ngx.url + "/sleep?s=%s" % slow_seconds, timeout=20).status_code == 200

    slow_thread = threading.Thread(target=slow)
    slow_thread.start()
    try:
        time.sleep(0.1)
        with requests.Session() as client:
            while time.monotonic() < stop:
                began = time.monotonic()
                assert client.get(ngx.url + "/hello", timeout=20).text == "hello"
                latencies.append(time.monotonic() - began)
                time.sleep(0.02)
    finally:
        slow_thread.join(30)
    waited = [round(latency, 3) for latency in latencies if latency > slow_seconds / 2]
    assert len(latencies) > 20 and not waited, (len(latencies), waited)


def test_term_finishes_in_flight_requests(server_factory, nginx_factory):
    """TERM to narwhal while nginx holds pooled connections and 4 requests are in flight or
    queued (2 sync workers, 1 s each): every one of them is answered 200, none gets a 502; the
    idle pooled connections end when nginx's keepalive_timeout (4 s) closes them, so the
    workers exit on their own, well before graceful_timeout (no SIGKILL)."""
    server = server_factory("-w", "2", "--keep-alive", "5", "--graceful-timeout", "15", APP)
    ngx = front(nginx_factory, server)
    results = []

    def slow():
        try:
            response = requests.get(ngx.url + "/sleep?s=1", timeout=20)
            results.append((response.status_code, response.text))
        except Exception as error:  # counted below
            results.append((None, repr(error)))

    # fill the pool: 6 connections, 2 of them still idle in it when the TERM comes
    warm = [threading.Thread(target=requests.get, args=(ngx.url + "/sleep?s=0.2",), kwargs={"timeout": 10})
            for _ in range(6)]
    for thread in warm:
        thread.start()
    for thread in warm:
        thread.join(10)
    threads = [threading.Thread(target=slow) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3 * timing_factor())  # all 4 sent: 2 running, 2 waiting for a worker
    stopped_at = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(20)
    assert results == [(200, "slept")] * 4, results
    assert server.proc.wait(20) == 0
    assert time.monotonic() - stopped_at < 12, "the workers waited for graceful_timeout"
    assert "SIGKILL" not in server.stderr_text(), server.stderr_text()[-2000:]
    statuses = upstream_statuses(ngx)
    assert "502" not in statuses and statuses.count("200") == 10, ngx.access_log()


# --------------------------------------------------------------------------------------------
def test_readiness_probe_of_deploy_doc(server_factory):
    """docs/deploy.md's readiness probe: `narwhalc -s SOCKET -c "show stats" -j` exits 0 with
    workers_current == workers_target while narwhal serves, and fails once the master is gone."""
    directory = shared_tmpdir()
    control = directory / "narwhal.ctl"
    script = Path(narwhal_binary()).with_name("narwhalc")
    narwhalc = [str(script)] if script.exists() else [sys.executable, "-m", "narwhal.ctl"]

    def probe():
        return subprocess.run(narwhalc + ["-s", str(control), "-c", "show stats", "-j"],
                              capture_output=True, text=True, timeout=20)

    try:
        server = server_factory("-w", "2", "--control-socket", str(control), APP)
        wait_until(lambda: probe().returncode == 0 and json.loads(probe().stdout)["workers_current"] == 2,
                   timeout=10 * timing_factor(), message="the probe to pass")
        stats = json.loads(probe().stdout)
        assert stats["workers_current"] == stats["workers_target"] == 2
        assert server.terminate() == 0
        failed = probe()
        assert failed.returncode == 1 and "Error" in failed.stderr, failed
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_uwsgi_pass(server_factory, nginx_factory, worker):
    """nginx's uwsgi_pass to narwhal --protocol uwsgi on a unix socket (the docs/deploy.md block):
    headers and the query reach environ, a 20 MiB body streams through, keep-alive is not needed."""
    directory = shared_tmpdir()
    sock = directory / "narwhal-uwsgi.sock"
    try:
        extra = ("--threads", "4", "-k", "gthread") if worker == "gthread" else ()
        server = server_factory("-w", "1", *extra, "--protocol", "uwsgi", "-b", "unix:%s" % sock, APP)
        ngx = front(nginx_factory, server, upstream="unix:%s" % sock,
                    extra_locations=[uwsgi_location(path="/uwsgi/", upstream="unix:%s" % sock)])
        env = get_json(ngx.url + "/uwsgi/env?a=1&b=two", headers={"Host": "app.example.com", "X-Custom": "yes"})["env"]
        assert env["PATH_INFO"] == "/env" and env["QUERY_STRING"] == "a=1&b=two"
        assert env["HTTP_HOST"] == "app.example.com" and env["HTTP_X_CUSTOM"] == "yes"
        assert env["REQUEST_METHOD"] == "GET" and env["wsgi.url_scheme"] == "http"
        assert env["REMOTE_ADDR"] == ""  # the socket's peer (nginx on a unix socket), as gunicorn 24
        body = os.urandom(20 * MIB)
        response = requests.post(ngx.url + "/uwsgi/upload/hash", data=body, timeout=30)
        assert response.status_code == 200
        assert response.json()["sha256"] == hashlib.sha256(body).hexdigest() and response.json()["len"] == len(body)
        assert all("upstream_status=200" in line for line in ngx.access_log()), ngx.access_log()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
