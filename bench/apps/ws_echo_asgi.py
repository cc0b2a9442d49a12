"""A raw ASGI WebSocket echo (and hello_asgi's HTTP answer), for narwhal -k asgi and uvicorn."""
from hello_asgi import app as hello


async def app(scope, receive, send):
    if scope["type"] != "websocket":
        return await hello(scope, receive, send)
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
