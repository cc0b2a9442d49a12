"""hello.py's response as an ASGI app, for uvicorn (same body and headers)."""

BODY = b"Hello, World!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":  # lifespan: nothing to set up
        while (await receive())["type"] != "lifespan.shutdown":
            pass
        return
    await send(START)
    await send(END)
