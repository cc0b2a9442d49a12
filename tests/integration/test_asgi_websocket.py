"""WebSockets under the asgi worker (RFC 6455, ASGI WebSocket spec 2.4): the handshake, messages
of every kind and size, fragmentation, pings, the close handshake, protocol violations with their
close codes (frames built by hand), denial, abrupt clients, many connections on one worker and
graceful stops. python3-websockets is the well-behaved client; raw sockets are the hostile one."""

import asyncio
import base64
import json
import os
import signal
import socket
import struct
import time

import pytest
import websockets

from conftest import running_under_asan
from harness import worker_rss_kib

ASGI = ("-k", "asgi", "-w", "1")
KEY = base64.b64encode(b"0123456789abcdef").decode()


@pytest.fixture(scope="module")
def ws_server(module_server_factory):
    return module_server_factory(*ASGI, "--websocket-max-message-size", "4194304", "asgi_basic:app")


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def url(server, path):
    return "ws://127.0.0.1:%d%s" % (server.port, path)


# --------------------------------------------------------------------------- raw frames
def frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    size = len(payload)
    mask_bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWebSocket:
    def __init__(self, server, path="/ws/echo", extra=b""):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (path.encode(), KEY.encode(), extra))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        self.head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buffer) < n:
            piece = self.sock.recv(65536)
            if not piece:
                raise EOFError
            self.buffer += piece

    def read_frame(self):
        self._need(2)
        opcode = self.buffer[0] & 0x0F
        size = self.buffer[1] & 0x7F
        offset = 2
        if size == 126:
            self._need(4)
            size = struct.unpack("!H", self.buffer[2:4])[0]
            offset = 4
        elif size == 127:
            self._need(10)
            size = struct.unpack("!Q", self.buffer[2:10])[0]
            offset = 10
        self._need(offset + size)
        payload = self.buffer[offset:offset + size]
        self.buffer = self.buffer[offset + size:]
        return opcode, payload

    def read_close(self):
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------- handshake
def test_handshake_accept_subprotocol_and_headers(ws_server):
    ws = RawWebSocket(ws_server, extra=b"Sec-WebSocket-Protocol: chat, superchat\r\n")
    head = ws.head.decode().lower()
    assert head.startswith("http/1.1 101 switching protocols")
    assert "sec-websocket-accept: %s" % base64.b64encode(
        __import__("hashlib").sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode().lower() in head
    assert "sec-websocket-protocol: superchat" in head
    assert "x-ws: yes" in head
    ws.close()


@pytest.mark.parametrize("headers, status", [
    (b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: %s\r\n" % KEY.encode(), 426),
    (b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n", 400),
    (b"Sec-WebSocket-Version: 13\r\n", 400),
])
def test_bad_handshakes_never_reach_the_app(ws_server, headers, status):
    with ws_server.raw() as conn:
        conn.send(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + headers + b"\r\n")
        response = conn.read_response()
    assert response.status == status
    if status == 426:
        assert response.header("sec-websocket-version") == "13"


def test_websocket_scope(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/ws/scope?x=1"), subprotocols=["p1", "p2"]) as ws:
            return json.loads(await ws.recv())
    scope = run(go())
    assert scope["type"] == "websocket" and scope["scheme"] == "ws"
    assert scope["path"] == "/ws/scope" and scope["query_string"] == {"bytes": "x=1"}
    assert scope["subprotocols"] == ["p1", "p2"]
    assert scope["http_version"] == "1.1"
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert "method" not in scope


def test_close_before_accept_is_403(ws_server):
    with ws_server.raw() as conn:
        conn.send(b"GET /ws/deny HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % KEY.encode())
        assert conn.read_response().status == 403


def test_denial_response_extension(ws_server):
    with ws_server.raw() as conn:
        conn.send(b"GET /ws/http HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % KEY.encode())
        response = conn.read_response()
    assert response.status == 401 and response.body == b"no entry" and response.header("x-denied") == "yes"


def test_app_that_never_accepts_gets_500(ws_server):
    with ws_server.raw() as conn:
        conn.send(b"GET /ws/noaccept HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % KEY.encode())
        assert conn.read_response().status == 500
    ws_server.wait_for_stderr("ASGI callable returned without sending handshake.")


# --------------------------------------------------------------------------- messages
def test_echo_text_binary_and_3mib(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/ws/echo"), max_size=None) as ws:
            await ws.send("héllo")
            text = await ws.recv()
            await ws.send(b"\x00\x01\xff")
            binary = await ws.recv()
            big = os.urandom(3 * 1024 * 1024)
            await ws.send(big)
            echoed = await ws.recv()
            return text, binary, echoed == big
    assert run(go()) == ("héllo", b"\x00\x01\xff", True)


def test_echo_without_compression(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/ws/echo"), compression=None) as ws:
            await ws.send("plain")
            return await ws.recv()
    assert run(go()) == "plain"


def test_fragmented_message_with_ping_between(ws_server):
    ws = RawWebSocket(ws_server)
    ws.send(frame(0x1, b"frag", fin=False) + frame(0x9, b"are you there") + frame(0x0, b"men", fin=False) +
            frame(0x0, b"ted", fin=True))
    got = [ws.read_frame(), ws.read_frame()]
    assert (0xA, b"are you there") in got  # the pong, from C++
    assert (0x1, b"fragmented") in got
    ws.close()


@pytest.mark.parametrize("data, code", [
    (frame(0x1, b"unmasked", mask=False), 1002),           # RFC 6455 §5.1
    (frame(0x1, b"\xff\xfe invalid utf-8"), 1007),         # §8.1
    (frame(0x2, b"x" * (4 * 1024 * 1024 + 1))[:64], 1009),  # over websocket_max_message_size (the header says so)
    (frame(0x9, b"p" * 126), 1002),                          # control frame > 125 bytes (§5.5)
    (frame(0x1, b"x", rsv=0x20), 1002),                      # RSV2 without an extension
], ids=["unmasked", "invalid-utf8", "too-big", "long-control", "rsv2"])
def test_protocol_violations_close_with_the_rfc_code(ws_server, data, code):
    ws = RawWebSocket(ws_server)
    ws.send(data)
    assert ws.read_close() == code
    ws.close()
    assert ws_server.get("/echo").status_code == 200  # the worker is fine


def test_client_close_handshake_reaches_the_app(ws_server):
    async def go():
        ws = await websockets.connect(url(ws_server, "/ws/echo"))
        await ws.close(code=4321, reason="client done")
        return ws.close_code
    assert run(go()) == 4321
    deadline = time.monotonic() + 3
    while "ws:4321" not in ws_server.get("/disconnects").json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_abrupt_client_disconnect_is_1006(ws_server):
    ws = RawWebSocket(ws_server)
    ws.send(frame(0x1, b"hi"))
    assert ws.read_frame() == (0x1, b"hi")
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.close()  # reset, no close frame
    deadline = time.monotonic() + 3
    while "ws:1006" not in ws_server.get("/disconnects").json():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_server_close_with_code_and_reason(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/ws/server-close")) as ws:
            first = await ws.recv()
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return first, ws.close_code, ws.close_reason
    assert run(go()) == ("bye soon", 4000, "server says bye")


def test_app_exception_closes_with_1011(ws_server):
    async def go():
        async with websockets.connect(url(ws_server, "/ws/error")) as ws:
            await ws.recv()
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return ws.close_code
    assert run(go()) == 1011
    ws_server.wait_for_stderr("websocket app failed")


def test_flood_to_a_slow_reader_is_flow_controlled(ws_server):
    # 20 MiB of messages while the app does not receive: the worker stops reading (TCP pushes
    # back on the client) instead of buffering them all, and loses none.
    async def go():
        async with websockets.connect(url(ws_server, "/ws/slow-reader"), compression=None, max_queue=None) as ws:
            payload = "m" * 1024
            for _ in range(20000):
                await ws.send(payload)
            await ws.send("end")
            return await asyncio.wait_for(ws.recv(), 30)
    rss_before = worker_rss_kib(ws_server)
    assert run(go()) == "20000"
    if not running_under_asan():  # ASan's quarantine keeps freed memory resident
        assert worker_rss_kib(ws_server) - rss_before < 15 * 1024



# --------------------------------------------------------------------------- scale and lifecycle
def test_1000_concurrent_websockets_on_one_worker(server_factory):
    srv = server_factory(*ASGI, "--worker-connections", "2000", "asgi_basic:app")

    async def go():
        sockets = await asyncio.gather(*[websockets.connect(url(srv, "/ws/echo"), compression=None) for _ in range(1000)])
        for i, ws in enumerate(sockets):
            await ws.send("n%d" % i)
        answers = await asyncio.gather(*[ws.recv() for ws in sockets])
        await asyncio.gather(*[ws.close() for ws in sockets])
        return answers
    assert run(go()) == ["n%d" % i for i in range(1000)]


def test_graceful_stop_closes_websockets_with_1001(server_factory):
    srv = server_factory(*ASGI, "--asgi-disconnect-grace-period", "1", "asgi_basic:app")

    async def go():
        async with websockets.connect(url(srv, "/ws/echo")) as ws:
            await ws.send("before")
            await ws.recv()
            os.kill(srv.pid, signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code
    assert run(go()) == 1001
    assert srv.proc.wait(15) == 0


def test_silent_peer_is_closed_after_the_ping_interval(server_factory):
    srv = server_factory(*ASGI, "--websocket-ping-interval", "1", "asgi_basic:app")
    ws = RawWebSocket(srv)
    opcode, _ = ws.read_frame()
    assert opcode == 0x9  # the server's ping, after ~1 s of silence; we never answer
    assert ws.read_close() == 1011
    ws.close()
