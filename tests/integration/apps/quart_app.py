"""A Quart application (Debian python3-quart) for the asgi worker's tests."""
from quart import Quart, request, websocket

app = Quart(__name__)


@app.route("/")
async def index():
    return "quart says hi"


@app.route("/echo", methods=["POST"])
async def echo():
    data = await request.get_data()
    return {"size": len(data), "method": request.method}


@app.websocket("/ws")
async def ws():
    while True:
        data = await websocket.receive()
        await websocket.send("quart: " + data)
