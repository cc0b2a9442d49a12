"""The bundled example app: `make run` serves it on http://127.0.0.1:8000/."""

import json


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/json":
        body = json.dumps({"message": "Hello, World!", "server": environ.get("SERVER_SOFTWARE")}).encode()
        content_type = "application/json"
    else:
        body = b"Hello, World!\n"
        content_type = "text/plain; charset=utf-8"
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


application = app
