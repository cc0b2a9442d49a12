"""WSGI app for the tests behind nginx (test_nginx.py): wsgi_basic's routes, plus

  /upload/hash?marker=PATH   reads the body in 64 KiB pieces; after the first piece writes
                             "<bytes read so far>" to PATH (the test watches for it while it
                             still holds back the rest of its upload); answers
                             {"len", "sha256", "first_piece"} as JSON
  /stream/gated?gate=PATH    yields "chunk-1", then waits (up to 10 s) for the file PATH to
                             exist, then yields "chunk-2 gate-seen" (or "chunk-2 gate-timeout")
  /stream/big?n=N&marker=PATH
                             N chunks of 64 KiB (bytes(range(256)) repeated); once the last one
                             has been handed to the server, writes "done" to PATH
  /uwsgi/...                  every route, through nginx's uwsgi_pass location
  /plain/upload/hash, /plain/stream/gated, /plain/stream/big
                             the same routes under `location /` (nginx's default buffering),
                             the tests' control cases
"""

import hashlib
import json
import os
import time

from wsgi_basic import app as basic_app


def upload_hash(environ, start_response, marker):
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    total = 0
    first_piece = None
    while True:
        piece = stream.read(65536)
        if not piece:
            break
        digest.update(piece)
        total += len(piece)
        if first_piece is None:
            first_piece = total
            if marker:
                with open(marker + ".tmp", "w") as f:
                    f.write(str(total))
                os.rename(marker + ".tmp", marker)
    body = json.dumps({"len": total, "sha256": digest.hexdigest(), "first_piece": first_piece}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def gated_stream(gate):
    yield b"chunk-1\n"
    deadline = time.monotonic() + 10
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield b"chunk-2 gate-seen\n" if os.path.exists(gate) else b"chunk-2 gate-timeout\n"


BIG_CHUNK = bytes(range(256)) * 256  # 64 KiB


def big_stream(n, marker):
    for _ in range(n):
        yield BIG_CHUNK
    with open(marker, "w") as f:
        f.write("done")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/uwsgi/"):  # nginx's uwsgi_pass location (test_nginx.py): the same routes
        path = environ["PATH_INFO"] = path[len("/uwsgi"):]
    query = dict(part.split("=", 1) for part in environ.get("QUERY_STRING", "").split("&") if "=" in part)
    if path in ("/upload/hash", "/plain/upload/hash"):
        return upload_hash(environ, start_response, query.get("marker"))
    if path in ("/stream/gated", "/plain/stream/gated"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gated_stream(query["gate"])
    if path in ("/stream/big", "/plain/stream/big"):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return big_stream(int(query["n"]), query["marker"])
    return basic_app(environ, start_response)


application = app
