"""ASGI apps with lifespan outcomes, chosen by NARWHAL_TEST_LIFESPAN."""
import os

MODE = os.environ.get("NARWHAL_TEST_LIFESPAN", "fail")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        message = await receive()
        if MODE == "fail":
            await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
            return
        if MODE == "raise":
            raise RuntimeError("lifespan exploded")
        raise AssertionError(message)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served"})


async def no_lifespan(scope, receive, send):
    """An app that does not support lifespan (raises on the scope, as Django does)."""
    if scope["type"] != "http":
        raise ValueError("only http")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served without lifespan"})
