"""The bundled example app: `make run` serves it on http://127.0.0.1:8000/."""

import json


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/json":
        body = json.dumps({"message": "Hello, World!", "server": environ.get("SERVER_SOFTWARE")}).encode()
        content_type = "application/json"
    elif path == "/":
        body = b"Hello, World!\n"
        content_type = "text/plain; charset=utf-8"
    else:
        body = b"Not Found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


application = app
