"""Bottle smoke app."""

import bottle

app = bottle.Bottle()


@app.get("/hello/<name>")
def hello(name):
    return "bottle ok %s" % name


@app.post("/echo")
def echo():
    return {"json": bottle.request.json, "method": bottle.request.method}
