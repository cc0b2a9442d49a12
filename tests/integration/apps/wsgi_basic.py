"""Plain WSGI app (PEP 3333) exercising every corner the server must get right.

Routes (dispatch on PATH_INFO):
  /hello                 "hello" with Content-Length
  /env...                the environ as JSON (also any path starting with /env)
  /echo?mode=M[&n=N]     body read via read | readn | readline | readlinen | readlines | iter
  /noread                answers without touching wsgi.input
  /stream?n=N            N chunks, no Content-Length
  /sized-stream?n=N      N chunks, Content-Length given by the app
  /error?marker=M        raises RuntimeError(M) before start_response
  /badheader             header value containing "\\n"
  /error-after-headers   first chunk, then raises (headers already sent)
  /write                 uses the write() callable, then returns an iterable
  /exc_info              start_response(200), then replaces it with 500 via exc_info
  /filewrapper[?path=P]  wsgi.file_wrapper over a real file (default: this file)
  /bytesio               wsgi.file_wrapper over io.BytesIO (1 MiB, bytes(range(256))*4096)
  /close                 the app sets "Connection: close"
  /closecount?token=T[&n=N&delay=S&fail=1&cl=L&kind=list|badclose]
                         iterable whose close() is counted under T (optionally slow,
                         raising after the first chunk, or with Content-Length L)
  /closed?token=T        {"count": close() calls seen for T}
  /sleep?s=S             sleeps S seconds
  /pid[?sleep=S]         os.getpid() (after sleeping S seconds)
  /count                 number of times the app was called (including this call)
  /status?code=C         empty response with status C (204, 304, ...)
  /errors?marker=M       writes M to wsgi.errors
  /big?n=N               N bytes of b"x", Content-Length given
  /upload-record?token=T reads the whole body; an exception from wsgi.input is caught and
                         recorded under T (then 200 "caught"); else 200 with the length
  /recorded?token=T      {"error": repr of the exception recorded under T, or null}
  /gen?n=N&size=S        generator of N chunks of S bytes of b"y", no Content-Length
"""

import io
import json
import os
import sys
import time
from urllib.parse import parse_qs

CALLS = 0
CLOSED = {}
RECORDED = {}

BYTESIO_DATA = bytes(range(256)) * 4096

STATUS_TEXT = {200: "OK", 204: "No Content", 304: "Not Modified", 404: "Not Found",
               500: "Internal Server Error"}


def _qs(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _json(start_response, obj, status="200 OK"):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def _text(start_response, text, status="200 OK", extra=()):
    body = text.encode() if isinstance(text, str) else text
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def environ_as_json(environ):
    strings = {}
    types = {}
    reprs = {}
    for key, value in environ.items():
        types[key] = type(value).__name__
        if isinstance(value, str):
            strings[key] = value
        elif isinstance(value, (bool, int, tuple, list)) or value is None:
            reprs[key] = repr(value)
    return {"env": strings, "types": types, "reprs": reprs}


class ClosingIterable:
    """Counts close() under a token; optionally slow and/or failing."""

    def __init__(self, token, n=3, delay=0.0, fail=False):
        self.token, self.n, self.delay, self.fail = token, n, delay, fail

    def __iter__(self):
        for i in range(self.n):
            if i and self.delay:
                time.sleep(self.delay)
            if self.fail and i == 1:
                raise RuntimeError("narwhal-test-iter-failure")
            yield b"part%d\n" % i

    def close(self):
        CLOSED[self.token] = CLOSED.get(self.token, 0) + 1


class ClosingList(list):
    """A list subclass with close(): the server must still call it (PEP 3333)."""

    def __init__(self, token, items):
        super().__init__(items)
        self.token = token

    def close(self):
        CLOSED[self.token] = CLOSED.get(self.token, 0) + 1


class BadCloseIterable:
    """Looking up close() raises: the server logs it and the response is unharmed."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    @property
    def close(self):
        raise RuntimeError("narwhal-test-close-lookup-failure")


def _read_body(environ, mode, n):
    inp = environ["wsgi.input"]
    pieces = []
    if mode == "read":
        pieces.append(inp.read())
    elif mode == "readn":
        while True:
            piece = inp.read(n)
            if not piece:
                break
            pieces.append(piece)
    elif mode == "readline":
        while True:
            piece = inp.readline()
            if not piece:
                break
            pieces.append(piece)
    elif mode == "readlinen":
        while True:
            piece = inp.readline(n)
            if not piece:
                break
            pieces.append(piece)
    elif mode == "readlines":
        pieces.extend(inp.readlines())
    elif mode == "iter":
        for piece in inp:
            pieces.append(piece)
    else:
        raise ValueError("unknown mode %r" % mode)
    return pieces


def app(environ, start_response):
    global CALLS
    CALLS += 1
    path = environ.get("PATH_INFO", "")
    q = _qs(environ)

    if path == "/hello":
        return _text(start_response, "hello")

    if path.startswith("/env"):
        return _json(start_response, environ_as_json(environ))

    if path == "/echo":
        mode = q.get("mode", "read")
        pieces = _read_body(environ, mode, int(q.get("n", "4")))
        body = b"".join(pieces)
        return _json(start_response, {
            "mode": mode,
            "body": body.decode("latin-1"),
            "pieces": [p.decode("latin-1") for p in pieces],
            "len": len(body),
            "after": environ["wsgi.input"].read().decode("latin-1"),
        })

    if path == "/noread":
        return _text(start_response, "noread")

    if path == "/stream":
        n = int(q.get("n", "5"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"chunk%d\n" % i for i in range(n))

    if path == "/sized-stream":
        n = int(q.get("n", "5"))
        chunks = [b"chunk%d\n" % i for i in range(n)]
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(sum(map(len, chunks))))])
        return iter(chunks)

    if path == "/error":
        raise RuntimeError(q.get("marker", "narwhal-test-boom"))

    if path == "/badheader":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Bad", "line1\nInjected: yes")])
        return [b"should not be sent"]

    if path == "/error-after-headers":
        def gen():
            yield b"first-chunk\n"
            raise RuntimeError(q.get("marker", "narwhal-test-late-boom"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()

    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain"),
                                          ("Content-Length", "24")])
        write(b"written-1;")
        write(b"written-2;")
        return [b"ret;"]

    if path == "/exc_info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("narwhal-test-exc-info")
        except ValueError:
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain"), ("X-Recovered", "1")],
                           sys.exc_info())
        return [b"recovered"]

    if path == "/filewrapper":
        fpath = q.get("path", __file__)
        f = open(fpath, "rb")
        headers = [("Content-Type", "application/octet-stream")]
        if q.get("nolength") != "1":
            headers.append(("Content-Length", str(os.path.getsize(fpath))))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 8192)

    if path == "/bytesio":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(BYTESIO_DATA)))])
        return environ["wsgi.file_wrapper"](io.BytesIO(BYTESIO_DATA), 8192)

    if path == "/close":
        return _text(start_response, "closing", extra=[("Connection", "close")])

    if path == "/closecount" and q.get("kind") == "list":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ClosingList(q["token"], [b"part0\n", b"part1\n"])

    if path == "/closecount" and q.get("kind") == "badclose":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return BadCloseIterable([b"part0\n", b"part1\n"])

    if path == "/closecount":
        it = ClosingIterable(q["token"], int(q.get("n", "3")), float(q.get("delay", "0")),
                             q.get("fail") == "1")
        headers = [("Content-Type", "text/plain")]
        if "cl" in q:  # declare a length (used to truncate a Content-Length body)
            headers.append(("Content-Length", q["cl"]))
        start_response("200 OK", headers)
        return it

    if path == "/closed":
        return _json(start_response, {"count": CLOSED.get(q["token"], 0)})

    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        return _text(start_response, "slept")

    if path == "/pid":
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        return _text(start_response, str(os.getpid()))

    if path == "/count":
        return _text(start_response, str(CALLS))

    if path == "/status":
        code = int(q.get("code", "204"))
        start_response("%d %s" % (code, STATUS_TEXT.get(code, "Status")), [])
        return []

    if path == "/errors":
        errors = environ["wsgi.errors"]
        errors.write(q.get("marker", "narwhal-test-errors") + "\n")
        errors.flush()
        return _text(start_response, "logged")

    if path == "/big":
        return _text(start_response, b"x" * int(q.get("n", "1000000")))

    if path == "/upload-record":
        try:
            length = len(environ["wsgi.input"].read())
        except Exception as exc:  # noqa: BLE001 - recorded for the test to inspect
            RECORDED[q["token"]] = "%s: %s" % (type(exc).__name__, exc)
            return _text(start_response, "caught")
        RECORDED[q["token"]] = None
        return _text(start_response, "read %d" % length)

    if path == "/recorded":
        return _json(start_response, {"error": RECORDED.get(q["token"]),
                                      "seen": q["token"] in RECORDED})

    if path == "/gen":
        n, size = int(q.get("n", "10")), int(q.get("size", "65536"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        chunk = b"y" * size
        return (chunk for _ in range(n))

    return _text(start_response, "not found: %s" % path, status="404 Not Found")


application = app
