"""A raw ASGI 3 application for the asgi worker's tests: every route exercises one part of the
protocol (scope, body streaming, responses, errors, disconnects, lifespan state)."""
import asyncio
import json
import os
import threading

DISCONNECTS = []  # what /wait-disconnect saw, reported by /disconnects


def scope_json(scope):
    def plain(value):
        if isinstance(value, bytes):
            return {"bytes": value.decode("latin-1")}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    shown = {k: plain(v) for k, v in scope.items() if k not in ("state",)}
    shown["types"] = {k: type(v).__name__ for k, v in scope.items()}
    shown["header_types"] = sorted({type(p).__name__ + "/" + type(p[0]).__name__ for p in scope["headers"]})
    shown["state_keys"] = sorted(scope.get("state", {}))
    return shown


async def read_body(receive):
    body = b""
    events = 0
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        body += message.get("body", b"")
        events += 1
        if not message.get("more_body", False):
            return body, events


async def respond(send, status, body, headers=((b"content-type", b"text/plain"),), **start_extra):
    await send({"type": "http.response.start", "status": status, "headers": list(headers), **start_extra})
    await send({"type": "http.response.body", "body": body})


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope["state"]["started_by"] = os.getpid()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            path = os.environ.get("NARWHAL_TEST_SHUTDOWN_FILE")
            if path:
                with open(path, "a") as f:
                    f.write("shutdown %d\n" % os.getpid())
            await send({"type": "lifespan.shutdown.complete"})
            return


async def websocket(scope, receive, send):
    path = scope["path"]
    message = await receive()
    assert message["type"] == "websocket.connect", message
    if path == "/ws/deny":
        return await send({"type": "websocket.close"})
    if path == "/ws/http":
        await send({"type": "websocket.http.response.start", "status": 401, "headers": [(b"x-denied", b"yes")]})
        return await send({"type": "websocket.http.response.body", "body": b"no entry"})
    if path == "/ws/noaccept":
        return None
    subprotocols = scope["subprotocols"]
    accept = {"type": "websocket.accept", "headers": [(b"x-ws", b"yes")]}
    if subprotocols:
        accept["subprotocol"] = subprotocols[-1]
    await send(accept)
    if path == "/ws/scope":
        return await send({"type": "websocket.send", "text": json.dumps(scope_json(scope))})
    if path == "/ws/server-close":
        await send({"type": "websocket.send", "text": "bye soon"})
        return await send({"type": "websocket.close", "code": 4000, "reason": "server says bye"})
    if path == "/ws/slow-reader":  # takes its time, then counts what arrived
        await asyncio.sleep(1.5)
        count = 0
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return None
            if message.get("text") == "end":
                return await send({"type": "websocket.send", "text": str(count)})
            count += 1
    if path == "/ws/error":
        await send({"type": "websocket.send", "text": "about to fail"})
        raise RuntimeError("websocket app failed")
    while True:  # /ws/echo
        message = await receive()
        if message["type"] == "websocket.disconnect":
            DISCONNECTS.append("ws:%s" % message["code"])
            return None
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    assert scope["type"] == "http"
    path = scope["path"]
    query = scope["query_string"].decode()
    if path == "/scope" or path.startswith("/scope/"):
        return await respond(send, 200, json.dumps(scope_json(scope)).encode(), [(b"content-type", b"application/json")])
    if path == "/echo":
        body, events = await read_body(receive)
        return await respond(send, 200, body, [(b"x-events", str(events).encode())])
    if path == "/count":  # reads the body as it arrives; answers its size and the number of events
        body, events = await read_body(receive)
        return await respond(send, 200, json.dumps({"size": len(body), "events": events}).encode())
    if path == "/noread":
        return await respond(send, 200, b"not read")
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"part %d\n" % i, "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if path == "/big":  # many MiB: send() must wait for the socket (backpressure)
        size = int(query or "0")
        chunk = b"x" * 65536
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size).encode())]})
        sent = 0
        while sent < size:
            piece = chunk[: min(len(chunk), size - sent)]
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            sent += len(piece)
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/sleep":
        await asyncio.sleep(float(query or "1"))
        return await respond(send, 200, b"slept")
    if path == "/block":  # blocks the event loop (the watchdog's case)
        import time
        time.sleep(float(query or "1"))
        return await respond(send, 200, b"blocked")
    if path == "/headers":
        return await respond(send, 201, b"", [(b"x-one", b"1"), (b"x-two", b"a"), (b"x-two", b"b"), (b"set-cookie", b"c=1")])
    if path == "/head-length":
        return await respond(send, 200, b"12345")
    if path == "/error-before":
        raise RuntimeError("boom before the response")
    if path == "/error-after":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after the response started")
    if path == "/no-response":
        return None
    if path == "/start-only":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        return None
    if path == "/double-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        return None
    if path == "/bad-header":
        return await respond(send, 200, b"x", [(b"x-bad", b"a\r\nInjected: 1")])
    if path == "/str-header":
        return await respond(send, 200, b"x", [("x-str", "v")])
    if path == "/bad-status":
        return await respond(send, 99, b"x")
    if path == "/unknown-message":
        await send({"type": "http.response.nonsense"})
        return None
    if path == "/too-long":  # more bytes than its Content-Length
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
        await send({"type": "http.response.body", "body": b"abcdef"})
        return None
    if path == "/wait-disconnect":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting\n", "more_body": True})
        message = await receive()
        if message["type"] == "http.request":
            message = await receive()
        DISCONNECTS.append(message["type"])
        return None
    if path == "/disconnects":
        return await respond(send, 200, json.dumps(DISCONNECTS).encode())
    if path == "/after-response":  # receive() after the response is complete
        await respond(send, 200, b"done")
        message = await receive()
        DISCONNECTS.append("after:" + message["type"])
        return None
    if path == "/keep-refs":  # the app keeps receive/send past its request
        app.kept = (receive, send)
        return await respond(send, 200, b"kept")
    if path == "/use-kept":
        receive_old, send_old = app.kept
        message = await receive_old()
        try:
            await send_old({"type": "http.response.start", "status": 200, "headers": []})
            outcome = "send worked"
        except RuntimeError as error:
            outcome = "send raised: %s" % error
        return await respond(send, 200, json.dumps({"receive": message, "send": outcome}).encode())
    if path == "/from-thread":  # send() from another thread: refused, the worker survives
        result = {}

        def worker():
            try:
                coro = send({"type": "http.response.start", "status": 200, "headers": []})
                coro.send(None)
                result["outcome"] = "ran"
            except BaseException as error:  # noqa: BLE001
                result["outcome"] = type(error).__name__
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        return await respond(send, 200, json.dumps(result).encode())
    if path == "/concurrent-receive":
        await read_body(receive)
        first = asyncio.ensure_future(receive())  # waits for the client to leave
        await asyncio.sleep(0)
        try:
            await receive()
            outcome = "second receive worked"
        except RuntimeError as error:
            outcome = str(error)
        first.cancel()
        return await respond(send, 200, outcome.encode())
    return await respond(send, 404, b"no such route " + path.encode())
