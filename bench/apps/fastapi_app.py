"""flask_app.py's /json as a FastAPI app, for narwhal -k asgi and uvicorn (same body)."""
from fastapi import FastAPI

app = FastAPI()


@app.get("/json")
async def json_route():
    return {"message": "Hello, World!", "id": 42, "tags": ["wsgi", "bench"], "ok": True}
