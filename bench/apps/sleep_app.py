"""A request that waits 10 ms (I/O stand-in: time.sleep releases the GIL), for the threaded workers."""
import time

BODY = b"slept 10 ms"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    time.sleep(0.01)
    start_response("200 OK", HEADERS)
    return [BODY]
