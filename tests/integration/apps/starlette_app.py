"""A Starlette application (Debian python3-starlette) for the asgi worker's tests."""
import asyncio
import contextlib
import os

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

DATA = os.path.join(os.path.dirname(__file__), "data")
EVENTS = []


@contextlib.asynccontextmanager
async def lifespan(app):
    yield {"greeting": "hello from lifespan"}


async def home(request):
    return PlainTextResponse("starlette " + request.state.greeting)


async def item(request):
    return JSONResponse({"id": request.path_params["item_id"], "q": request.query_params.get("q")})


async def upload(request):
    size = 0
    chunks = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks += 1
    return JSONResponse({"size": size, "chunks": chunks})


async def stream(request):
    async def numbers():
        for i in range(5):
            yield "line %d\n" % i
            await asyncio.sleep(0.02)
    return StreamingResponse(numbers(), media_type="text/plain")


async def file(request):
    return FileResponse(os.path.join(DATA, os.listdir(DATA)[0]))


async def background(request):
    def record():
        EVENTS.append("background ran")
    return PlainTextResponse("queued", background=BackgroundTask(record))


async def events(request):
    return JSONResponse(EVENTS)


async def ws_echo(websocket):
    await websocket.accept()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except Exception:
        return


app = Starlette(routes=[
    Route("/", home),
    Route("/items/{item_id:int}", item),
    Route("/upload", upload, methods=["POST"]),
    Route("/stream", stream),
    Route("/file", file),
    Route("/background", background),
    Route("/events", events),
    WebSocketRoute("/ws", ws_echo),
], lifespan=lifespan)
