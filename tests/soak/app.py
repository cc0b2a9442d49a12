"""WSGI app for the soak test (tests/soak/soak.py); served by narwhal or gunicorn as `app:app`.

Good routes (a failure or a 5xx here is an unexpected error):
  /hello                 b"hello", Content-Length
  /upload                reads the whole body in 64 KiB reads; answers "<sha256 hex> <length>"
  /sleep?s=S             sleeps S seconds (capped at 3), then b"slept"
  /big?n=N               N bytes of b"x" in 64 KiB chunks, Content-Length given (capped at 64 MiB)
  /noread                answers b"noread" without touching wsgi.input (the body stays unread)

Misbehaving routes (the soak test provokes errors with them):
  /raise                 raises RuntimeError before start_response (expect a 500)
  /badheader?kind=K      a header the server must refuse: K = newline | ctl (\\x0b, \\x7f, \\x01)
                         | dupcl (two different Content-Length values) | status1xx (a 1xx status)
  /leftover?delay=S      reads 1 KiB of the body and returns b"leftover"; a thread started by the
                         request goes on reading wsgi.input (and calls write()) S seconds after the
                         request ended. What it got is printed to stderr as one line:
                         "soak-leftover outcome=<raised|data|foreign-data|eof> ..." (tallied by soak.py).
"""

import hashlib
import sys
import threading
import time
from urllib.parse import parse_qs

CHUNK = 64 * 1024


def _qs(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _plain(start_response, body, status="200 OK", extra=()):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
                   + list(extra))
    return [body]


def _upload(environ, start_response):
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    length = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        length += len(chunk)
    return _plain(start_response, ("%s %d" % (digest.hexdigest(), length)).encode())


def _big(environ, start_response):
    size = min(int(_qs(environ).get("n", "1048576")), 64 * 1024 * 1024)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    block = b"x" * CHUNK

    def chunks():
        left = size
        while left > 0:
            piece = block if left >= CHUNK else block[:left]
            left -= len(piece)
            yield piece
    return chunks()


def _badheader(environ, start_response):
    kind = _qs(environ).get("kind", "newline")
    body = b"bad"
    if kind == "newline":
        headers = [("X-Bad", "a\r\nX-Injected: yes")]
    elif kind == "ctl":
        headers = [("X-Bad", "a\x0bb\x7fc\x01d")]
    elif kind == "dupcl":
        headers = [("Content-Length", "3"), ("Content-Length", "5")]
        start_response("200 OK", [("Content-Type", "text/plain")] + headers)
        return [body]
    elif kind == "status1xx":
        start_response("103 Early Hints", [("Content-Type", "text/plain"),
                                           ("Content-Length", str(len(body)))])
        return [body]
    else:
        headers = []
    return _plain(start_response, body, extra=headers)


def _leftover(environ, start_response):
    delay = min(float(_qs(environ).get("delay", "0.05")), 2.0)
    stream = environ["wsgi.input"]
    stream.read(1024)

    def late_reader(write):
        time.sleep(delay)
        try:
            data = stream.read(CHUNK)
            outcome = "data" if data else "eof"
            if b"HTTP/1." in data:  # the client sends random bytes: this is another request
                outcome = "foreign-data"
            detail = "bytes=%d head=%r" % (len(data), data[:32])
        except Exception as error:  # the target: a clean error, e.g. OSError("request finished")
            outcome, detail = "raised", "%s: %s" % (type(error).__name__, error)
        try:
            write(b"late")
            detail += " write=accepted"
        except Exception as error:
            detail += " write=%s" % type(error).__name__
        print("soak-leftover outcome=%s %s" % (outcome, detail), file=sys.stderr, flush=True)

    write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
    threading.Thread(target=late_reader, args=(write,), daemon=True).start()
    return [b"leftover"]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/hello":
        return _plain(start_response, b"hello")
    if path == "/upload":
        return _upload(environ, start_response)
    if path == "/sleep":
        time.sleep(min(float(_qs(environ).get("s", "0.2")), 3.0))
        return _plain(start_response, b"slept")
    if path == "/big":
        return _big(environ, start_response)
    if path == "/noread":
        return _plain(start_response, b"noread")
    if path == "/raise":
        raise RuntimeError("soak: the /raise route fails on purpose")
    if path == "/badheader":
        return _badheader(environ, start_response)
    if path == "/leftover":
        return _leftover(environ, start_response)
    return _plain(start_response, b"not found", status="404 Not Found")


application = app
