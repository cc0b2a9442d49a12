"""A FastAPI application (Debian python3-fastapi) for the asgi worker's tests."""
import asyncio
from typing import Optional

from fastapi import BackgroundTasks, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()
STATE = {"started": False, "background": []}
ROOMS = set()


@app.on_event("startup")
async def startup():
    STATE["started"] = True


class Item(BaseModel):
    name: str
    price: float
    tags: list = []


@app.get("/")
async def root():
    return {"framework": "fastapi", "started": STATE["started"]}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None):
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item):
    return {"name": item.name, "total": item.price * 2, "tags": item.tags}


@app.post("/raw")
async def raw(request: Request):
    body = await request.body()
    return {"size": len(body)}


@app.get("/stream")
async def stream():
    async def gen():
        for i in range(3):
            yield b"chunk %d\n" % i
            await asyncio.sleep(0.01)
    return StreamingResponse(gen(), media_type="text/plain")


@app.get("/sync-route")
def sync_route():  # runs in the thread pool
    return {"sync": True}


@app.post("/background")
async def background(tasks: BackgroundTasks):
    tasks.add_task(STATE["background"].append, "done")
    return {"queued": True}


@app.get("/background")
async def background_state():
    return {"background": STATE["background"]}


@app.websocket("/ws")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text("echo: " + text)
    except WebSocketDisconnect:
        pass


@app.websocket("/broadcast")
async def broadcast(websocket: WebSocket):
    await websocket.accept()
    ROOMS.add(websocket)
    try:
        while True:
            text = await websocket.receive_text()
            for peer in list(ROOMS):
                await peer.send_text(text)
    except WebSocketDisconnect:
        ROOMS.discard(websocket)
