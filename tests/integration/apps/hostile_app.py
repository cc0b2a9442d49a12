"""WSGI app for tests/integration/test_hostile_clients.py (issue 10: hostile clients and
misbehaving apps). Works under sync and gthread workers (-w 1: module state is per worker).

Routes (dispatch on PATH_INFO):
  /hello                 "hello" with Content-Length
  /count                 number of times the app was called (including this call)
  /pid                   os.getpid()
  /noread                answers without touching wsgi.input
  /read                  reads the whole body (exceptions NOT caught), answers "read N"
  /read-record?token=T   reads the whole body; an exception is caught and recorded under T
  /late?token=T          answers at once; a thread started by the request waits until the
                         response is over, then reads wsgi.input and calls write(): what each
                         raised (or returned) is recorded under T
  /blocked?token=T       a thread reads wsgi.input (blocking: the client sends a partial body);
                         the app answers without waiting for it; the thread's outcome and how
                         long after the response it came are recorded under T
  /big50                 a single 50 MiB bytes element with Content-Length
  /upgrade               101 Switching Protocols with Upgrade: websocket
  (method CONNECT)       200 Connection Established, empty body
  /sleep?s=S             sleeps S seconds
  /recorded?token=T      {"seen": bool, "value": what was recorded under T}
"""

import json
import os
import threading
import time
from urllib.parse import parse_qs

CALLS = 0
RECORDED = {}
BIG50_SIZE = 50 * 1024 * 1024


def _qs(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _text(start_response, text, status="200 OK", extra=()):
    body = text.encode() if isinstance(text, str) else text
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def _describe(exc):
    return {"type": type(exc).__name__, "isoserror": isinstance(exc, OSError), "text": str(exc)}


def _late_user(token, inp, write, done):
    done.wait(5)
    time.sleep(0.3)  # well after the response went out
    outcome = {}
    try:
        got = inp.read()
        outcome["read"] = {"returned": len(got)}
    except BaseException as exc:  # noqa: BLE001 - recorded for the test
        outcome["read"] = _describe(exc)
    try:
        inp.readline()
        outcome["readline"] = {"returned": True}
    except BaseException as exc:  # noqa: BLE001
        outcome["readline"] = _describe(exc)
    try:
        write(b"late bytes that must never reach a client")
        outcome["write"] = {"returned": True}
    except BaseException as exc:  # noqa: BLE001
        outcome["write"] = _describe(exc)
    RECORDED[token] = outcome


def _blocked_reader(token, inp, answered):
    outcome = {}
    try:
        got = inp.read()
        outcome["read"] = {"returned": len(got)}
    except BaseException as exc:  # noqa: BLE001
        outcome["read"] = _describe(exc)
    outcome["after_response_s"] = (time.monotonic() - answered[0]) if answered else None
    RECORDED[token] = outcome


class _Signalling:
    """A one-element response iterable that sets `done` once the server closes it."""

    def __init__(self, body, done):
        self.body, self.done = body, done

    def __iter__(self):
        yield self.body

    def close(self):
        self.done.set()


def app(environ, start_response):
    global CALLS
    CALLS += 1
    path = environ.get("PATH_INFO", "")
    q = _qs(environ)

    if environ["REQUEST_METHOD"] == "CONNECT":
        start_response("200 Connection Established", [])
        return []

    if path == "/hello":
        return _text(start_response, "hello")

    if path == "/count":
        return _text(start_response, str(CALLS))

    if path == "/pid":
        return _text(start_response, str(os.getpid()))

    if path == "/noread":
        return _text(start_response, "noread")

    if path == "/read":
        return _text(start_response, "read %d" % len(environ["wsgi.input"].read()))

    if path == "/read-record":
        try:
            length = len(environ["wsgi.input"].read())
        except Exception as exc:  # noqa: BLE001
            RECORDED[q["token"]] = _describe(exc)
            return _text(start_response, "caught")
        RECORDED[q["token"]] = {"returned": length}
        return _text(start_response, "read %d" % length)

    if path == "/late":
        done = threading.Event()
        write = start_response("200 OK", [("Content-Type", "text/plain"),
                                          ("Content-Length", "4")])
        threading.Thread(target=_late_user, args=(q["token"], environ["wsgi.input"], write, done),
                         daemon=True).start()
        return _Signalling(b"late", done)

    if path == "/blocked":
        answered = []
        threading.Thread(target=_blocked_reader,
                         args=(q["token"], environ["wsgi.input"], answered), daemon=True).start()
        time.sleep(0.3)  # the thread is inside read() now
        answered.append(time.monotonic())
        return _text(start_response, "answered")

    if path == "/big50":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(BIG50_SIZE))])
        return [b"b" * BIG50_SIZE]  # built per request: the worker's RSS stays small otherwise

    if path == "/upgrade":
        start_response("101 Switching Protocols", [("Upgrade", "websocket"),
                                                   ("Connection", "Upgrade")])
        return []

    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        return _text(start_response, "slept")

    if path == "/recorded":
        body = json.dumps({"seen": q["token"] in RECORDED,
                           "value": RECORDED.get(q["token"])}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return _text(start_response, "not found: %s" % path, status="404 Not Found")


application = app
