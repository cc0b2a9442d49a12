"""GET /<name> streams $BENCH_STATIC_DIR/<name> through wsgi.file_wrapper (sendfile where the server
supports it); / answers like hello.py so the readiness check is the same for every app."""
import os

STATIC = os.environ.get("BENCH_STATIC_DIR", "/tmp")
HELLO = b"Hello, World!"


def app(environ, start_response):
    name = environ["PATH_INFO"].lstrip("/")
    if not name:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
        return [HELLO]
    path = os.path.join(STATIC, os.path.basename(name))
    try:
        f = open(path, "rb")
    except OSError:
        start_response("404 Not Found", [("Content-Length", "0")])
        return []
    size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is None:  # not every server has one: plain iteration
        return iter(lambda: f.read(65536), b"")
    return wrapper(f, 65536)
