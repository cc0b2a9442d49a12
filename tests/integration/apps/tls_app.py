"""WSGI and ASGI apps for the TLS tests: what the connection looks like from the app (scheme,
client certificate, cipher), bodies in and out, and a file sent through the file wrapper."""
import hashlib
import json
import os

BODY_ERRORS = []


def _json(start_response, value, status="200 OK"):
    body = json.dumps(value).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    if path == "/peer":
        sock = environ.get("gunicorn.socket")
        return _json(start_response, {
            "scheme": environ["wsgi.url_scheme"],
            "server_port": environ["SERVER_PORT"],
            "has_socket": sock is not None,
            "cert": sock.getpeercert() if sock else None,
            "cert_der_len": len(sock.getpeercert(binary_form=True) or b"") if sock else 0,
            "cipher": list(sock.cipher()) if sock else None,
            "version": sock.version() if sock else None,
            "alpn": sock.selected_alpn_protocol() if sock else None,
        })
    if path == "/hash":  # the request body's digest, read in pieces
        digest = hashlib.sha256()
        size = 0
        try:
            while True:
                piece = environ["wsgi.input"].read(65536)
                if not piece:
                    break
                digest.update(piece)
                size += len(piece)
        except Exception as error:  # a body the client broke off
            BODY_ERRORS.append(str(error))
            raise
        return _json(start_response, {"sha256": digest.hexdigest(), "size": size})
    if path == "/body-errors":
        return _json(start_response, BODY_ERRORS)
    if path == "/big":  # n MiB of a known pattern
        size = int(query.get("mib", "1")) << 20
        block = bytes(range(256)) * 4096  # 1 MiB
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return (block for _ in range(size >> 20))
    if path == "/file":
        name = query["path"]
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.path.getsize(name)))])
        return environ["wsgi.file_wrapper"](open(name, "rb"), 8192)
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"chunk%d\n" % i for i in range(int(query.get("n", "5"))))
    return _json(start_response, {"path": path, "pid": os.getpid()})


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "echo:" + (message.get("text") or "")})
    digest = hashlib.sha256()
    size = 0
    while True:
        message = await receive()
        digest.update(message.get("body", b""))
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    if scope["path"] == "/big":
        query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        block = bytes(range(256)) * 4096
        mib = int(query.get("mib", "1"))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(mib << 20).encode())]})
        for i in range(mib):
            await send({"type": "http.response.body", "body": block, "more_body": i + 1 < mib})
        return
    body = json.dumps({"scheme": scope["scheme"], "path": scope["path"], "sha256": digest.hexdigest(),
                       "size": size}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
