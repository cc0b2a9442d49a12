"""Real ASGI frameworks under the asgi worker: Starlette, FastAPI, Django (get_asgi_application)
and Quart, with python3-httpx as the HTTP client."""

import json
import os
import time

import httpx
import pytest

ASGI = ("-k", "asgi", "-w", "1")


@pytest.fixture(scope="module")
def starlette(module_server_factory):
    return module_server_factory(*ASGI, "starlette_app:app")


@pytest.fixture(scope="module")
def fastapi(module_server_factory):
    return module_server_factory(*ASGI, "fastapi_app:app")


def client(server):
    return httpx.Client(base_url=server.url, timeout=10)


# --------------------------------------------------------------------------- Starlette
def test_starlette_lifespan_state_reaches_requests(starlette):
    with client(starlette) as c:
        r = c.get("/")
    assert r.status_code == 200 and r.text == "starlette hello from lifespan"


def test_starlette_path_and_query_params(starlette):
    with client(starlette) as c:
        assert c.get("/items/42", params={"q": "x y"}).json() == {"id": 42, "q": "x y"}
        assert c.get("/items/notanint").status_code == 404


def test_starlette_streamed_upload(starlette):
    def body():
        for _ in range(64):
            yield os.urandom(64 * 1024)
    with client(starlette) as c:
        r = c.post("/upload", content=body())
    assert r.json()["size"] == 64 * 64 * 1024
    assert r.json()["chunks"] > 1


def test_starlette_streaming_response(starlette):
    with client(starlette) as c, c.stream("GET", "/stream") as r:
        assert r.headers["transfer-encoding"] == "chunked"
        lines = [line.rstrip("\n") for line in r.iter_lines()]
    assert lines == ["line %d" % i for i in range(5)]


def test_starlette_file_response(starlette):
    expected = open(os.path.join(os.path.dirname(__file__), "apps", "data", "sample.txt"), "rb").read()
    with client(starlette) as c:
        r = c.get("/file")
    assert r.content == expected
    assert r.headers["content-length"] == str(len(expected))


def test_starlette_background_task_runs_after_response(starlette):
    with client(starlette) as c:
        assert c.get("/background").text == "queued"
        deadline = time.monotonic() + 3
        while "background ran" not in c.get("/events").json():
            assert time.monotonic() < deadline
            time.sleep(0.05)


# --------------------------------------------------------------------------- FastAPI
def test_fastapi_startup_event_and_json(fastapi):
    with client(fastapi) as c:
        assert c.get("/").json() == {"framework": "fastapi", "started": True}


def test_fastapi_params_and_validation(fastapi):
    with client(fastapi) as c:
        assert c.get("/items/7", params={"q": "v"}).json() == {"item_id": 7, "q": "v"}
        assert c.get("/items/seven").status_code == 422
        r = c.post("/items", json={"name": "pen", "price": 1.5, "tags": ["a"]})
        assert r.json() == {"name": "pen", "total": 3.0, "tags": ["a"]}
        assert c.post("/items", json={"name": "pen"}).status_code == 422


def test_fastapi_chunked_upload(fastapi):
    def body():
        for _ in range(10):
            yield b"x" * 100000
    with client(fastapi) as c:
        assert c.post("/raw", content=body()).json() == {"size": 1000000}


def test_fastapi_streaming_sync_route_and_background(fastapi):
    with client(fastapi) as c:
        assert c.get("/stream").text == "chunk 0\nchunk 1\nchunk 2\n"
        assert c.get("/sync-route").json() == {"sync": True}
        assert c.post("/background").json() == {"queued": True}
        deadline = time.monotonic() + 3
        while c.get("/background").json() != {"background": ["done"]}:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_fastapi_openapi_schema(fastapi):
    with client(fastapi) as c:
        schema = c.get("/openapi.json").json()
    assert "/items/{item_id}" in schema["paths"]


# --------------------------------------------------------------------------- Django
def test_django_asgi_application(server_factory):
    srv = server_factory(*ASGI, "djproject.asgi:application")
    with client(srv) as c:
        r = c.get("/hello/", params={"q": "1"})
        assert r.json() == {"framework": "django", "path": "/hello/", "q": "1", "method": "GET"}
        r = c.post("/echo/", json={"a": [1, 2]})
        assert r.json() == {"received": {"a": [1, 2]}, "method": "POST"}
        assert c.post("/protected/", data={"x": "1"}).status_code == 403  # CSRF still enforced
    # Django does not support lifespan: auto mode carries on.
    srv.wait_for_stderr("ASGI 'lifespan' protocol appears unsupported.")


# --------------------------------------------------------------------------- Quart
def test_quart(server_factory):
    srv = server_factory(*ASGI, "quart_app:app")
    with client(srv) as c:
        assert c.get("/").text == "quart says hi"
        assert c.post("/echo", content=b"q" * 70000).json() == {"size": 70000, "method": "POST"}


# --------------------------------------------------------------------------- WebSockets
def ws_run(coro):
    import asyncio
    return asyncio.new_event_loop().run_until_complete(coro)


def test_starlette_websocket_echo(starlette):
    import websockets

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/ws" % starlette.port, max_size=None) as ws:
            await ws.send("text")
            text = await ws.recv()
            await ws.send(b"\x01" * 200000)
            data = await ws.recv()
            return text, len(data)
    assert ws_run(go()) == ("text", 200000)


def test_fastapi_websocket_echo_and_broadcast(fastapi):
    import asyncio

    import websockets

    async def go():
        base = "ws://127.0.0.1:%d" % fastapi.port
        async with websockets.connect(base + "/ws") as ws:
            await ws.send("hi")
            echo = await ws.recv()
        peers = [await websockets.connect(base + "/broadcast") for _ in range(5)]
        await asyncio.sleep(0.2)  # all joined
        await peers[0].send("to everyone")
        got = await asyncio.gather(*[asyncio.wait_for(p.recv(), 5) for p in peers])
        for p in peers:
            await p.close()
        return echo, got
    echo, got = ws_run(go())
    assert echo == "echo: hi"
    assert got == ["to everyone"] * 5


def test_quart_websocket(server_factory):
    import websockets
    srv = server_factory(*ASGI, "quart_app:app")

    async def go():
        async with websockets.connect("ws://127.0.0.1:%d/ws" % srv.port) as ws:
            await ws.send("ping")
            return await ws.recv()
    assert ws_run(go()) == "quart: ping"
