"""An app for the gevent worker (tests/integration/test_gevent.py): blocking-style code that
only scales when every wait yields to gevent's hub.

    /hello              "hello"
    /sleep?s=1          time.sleep (monkey-patched: cooperative)
    /fetch?port=N&path=  an outbound HTTP call with requests (patched sockets)
    /sse?n=30&every=1   server-sent events: one every `every` seconds
    /cpu?s=30           CPU-bound for `s` seconds (never yields: blocks the hub)
    /whoami             how the request runs: greenlet, patched modules, environ flags
    /upload             reads wsgi.input in 64 KiB pieces, answers the byte count
    /upload-elsewhere   the same, read by another greenlet that the request waits for
"""

import json
import os
import time
from urllib.parse import parse_qs

import gevent
import gevent.monkey
import requests


def _query(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _send(start_response, body, content_type="text/plain"):
    data = body if isinstance(body, bytes) else body.encode()
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def burn_cpu_without_yielding(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def _read_all(stream):
    total = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return total
        total += len(chunk)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = _query(environ)
    if path == "/hello":
        return _send(start_response, "hello")
    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        return _send(start_response, "slept")
    if path == "/fetch":
        r = requests.get("http://127.0.0.1:%s%s" % (q["port"], q.get("path", "/")), timeout=10)
        return _send(start_response, "%d %s" % (r.status_code, r.text))
    if path == "/sse":
        n, every = int(q.get("n", "30")), float(q.get("every", "1"))

        def events():
            for i in range(n):
                yield b"data: %d\n\n" % i
                time.sleep(every)
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return events()
    if path == "/cpu":
        return _send(start_response, str(burn_cpu_without_yielding(float(q.get("s", "30")))))
    if path == "/whoami":
        current = gevent.getcurrent()
        info = {
            "pid": os.getpid(),
            "in_hub": current is gevent.get_hub(),
            "greenlet_parent_is_hub": getattr(current, "parent", None) is gevent.get_hub(),
            "socket_patched": gevent.monkey.is_module_patched("socket"),
            "time_patched": gevent.monkey.is_module_patched("time"),
            "threading_patched": gevent.monkey.is_module_patched("threading"),
            "multithread": environ["wsgi.multithread"],
            "multiprocess": environ["wsgi.multiprocess"],
            "input_terminated": environ.get("wsgi.input_terminated"),
        }
        return _send(start_response, json.dumps(info), "application/json")
    if path == "/upload":
        return _send(start_response, str(_read_all(environ["wsgi.input"])))
    if path == "/upload-elsewhere":
        reader = gevent.spawn(_read_all, environ["wsgi.input"])
        return _send(start_response, str(reader.get()))
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]
