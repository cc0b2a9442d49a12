"""Raw-socket HTTP/1.x client for the integration suite.

Sends exact bytes and parses exactly what the server sent back, so tests can
check framing (Content-Length / chunked / close-delimited), pipelining (several
responses off one socket), interim 1xx responses and connection closure.
Every read is bounded by a socket timeout: nothing here can hang forever.
"""

import socket
import time

DEFAULT_TIMEOUT = 10.0


class IncompleteResponse(Exception):
    """The peer closed (or timed out) before a complete response arrived."""

    def __init__(self, message, partial=b""):
        super().__init__(message)
        self.partial = partial


class Response:
    def __init__(self, version, status, reason, headers, body, framing, raw):
        self.version = version          # "HTTP/1.1"
        self.status = status            # int
        self.reason = reason            # str
        self.headers = headers          # list of (name, value) as sent, str (latin-1)
        self.body = body                # bytes, de-chunked
        self.framing = framing          # "length" | "chunked" | "close" | "none"
        self.raw = raw                  # exact bytes of this response on the wire
        self.trailers = []

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name):
        return self.header(name) is not None

    def connection_tokens(self):
        tokens = set()
        for v in self.header_all("connection"):
            tokens.update(t.strip().lower() for t in v.split(",") if t.strip())
        return tokens

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %s %s framing=%s body=%r>" % (
            self.version, self.status, self.reason, self.framing, self.body[:200])


class RawConnection:
    """One TCP connection; buffered reader that parses HTTP/1.x responses."""

    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    # -- plumbing ---------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self, timeout=None):
        """Read more bytes into the buffer. Returns False on EOF."""
        if self.eof:
            return False
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        finally:
            if timeout is not None:
                self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker, consumed_so_far=b""):
        while True:
            idx = self.buf.find(marker)
            if idx >= 0:
                out = self.buf[:idx + len(marker)]
                self.buf = self.buf[idx + len(marker):]
                return out
            try:
                more = self._fill()
            except socket.timeout:
                raise IncompleteResponse("timed out waiting for %r" % marker,
                                         consumed_so_far + self.buf)
            if not more:
                raise IncompleteResponse("connection closed waiting for %r" % marker,
                                         consumed_so_far + self.buf)

    def _read_exact(self, n, consumed_so_far=b""):
        while len(self.buf) < n:
            try:
                more = self._fill()
            except socket.timeout:
                raise IncompleteResponse("timed out reading %d bytes" % n,
                                         consumed_so_far + self.buf)
            if not more:
                raise IncompleteResponse("connection closed after %d of %d bytes"
                                         % (len(self.buf), n), consumed_so_far + self.buf)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_some(self, timeout=None):
        """Return whatever is buffered, or the next bytes that arrive (b'' on EOF)."""
        if self.buf:
            out, self.buf = self.buf, b""
            return out
        try:
            self._fill(timeout)
        except socket.timeout:
            return None
        out, self.buf = self.buf, b""
        return out

    # -- HTTP parsing -----------------------------------------------------
    def read_response(self, method="GET"):
        """Parse one response. `method` matters for HEAD (no body)."""
        head = self._read_until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError("bad status line %r" % status_line)
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for line in lines[1:]:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise AssertionError("bad header line %r in %r" % (line, head))
            headers.append((name, value.strip(" \t")))
        resp = Response(version, status, reason, headers, b"", "none", head)

        te = ",".join(resp.header_all("transfer-encoding")).lower()
        cl = resp.header("content-length")
        if method.upper() == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return resp
        if "chunked" in te:
            resp.framing = "chunked"
            raw = head
            body = b""
            while True:
                size_line = self._read_until(b"\r\n", raw)
                raw += size_line
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    # trailers until empty line
                    while True:
                        line = self._read_until(b"\r\n", raw)
                        raw += line
                        if line == b"\r\n":
                            break
                        n, _, v = line.decode("latin-1").partition(":")
                        resp.trailers.append((n, v.strip()))
                    break
                data = self._read_exact(size + 2, raw)
                raw += data
                if data[-2:] != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF: %r" % raw[-64:])
                body += data[:-2]
            resp.body, resp.raw = body, raw
            return resp
        if cl is not None:
            resp.framing = "length"
            n = int(cl)
            resp.body = self._read_exact(n, head)
            resp.raw = head + resp.body
            return resp
        # close-delimited
        resp.framing = "close"
        try:
            while self._fill():
                pass
        except socket.timeout:
            raise IncompleteResponse("close-delimited body: peer did not close",
                                     head + self.buf)
        resp.body, self.buf = self.buf, b""
        resp.raw = head + resp.body
        return resp

    def request(self, method, path, headers=None, body=b"", version="HTTP/1.1",
                host="localhost"):
        self.send(build_request(method, path, headers, body, version, host))
        return self.read_response(method)

    def is_closed(self, timeout=2.0):
        """True if the server closed the connection within `timeout` s
        (nothing more is expected; unexpected bytes fail loudly)."""
        if self.eof and not self.buf:
            return True
        if self.buf:
            raise AssertionError("unexpected extra bytes: %r" % self.buf[:200])
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                more = self._fill(remaining)
            except socket.timeout:
                return False
            if not more:
                return True
            raise AssertionError("unexpected extra bytes: %r" % self.buf[:200])

    def is_open(self, timeout=0.5):
        return not self.is_closed(timeout)


def build_request(method, path, headers=None, body=b"", version="HTTP/1.1",
                  host="localhost"):
    """Build request bytes. headers: list of (name, value); a Host header is
    added for HTTP/1.1 unless host=None or one is given. Content-Length is added
    for a non-empty body unless Content-Length/Transfer-Encoding is given."""
    if isinstance(body, str):
        body = body.encode()
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers)
    head += "\r\n"
    return head.encode("latin-1") + body


def raw_request(line, *headers, body=b""):
    """Exact bytes: a request line, header lines (str or bytes, sent as given), CRLF, body."""
    if isinstance(line, str):
        line = line.encode("latin-1")
    out = line + b"\r\n"
    for h in headers:
        out += (h.encode("latin-1") if isinstance(h, str) else h) + b"\r\n"
    return out + b"\r\n" + body


def chunked(*parts, trailers=b""):
    """Encode byte strings as a chunked body."""
    out = b""
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        out += b"%x\r\n%s\r\n" % (len(p), p)
    return out + b"0\r\n" + trailers + b"\r\n"


def one_shot(port, data, method="GET", host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
    """Send raw bytes on a fresh connection and parse one response."""
    with RawConnection(host, port, timeout) as c:
        c.send(data)
        return c.read_response(method)


def read_all_until_close(port, data, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
    """Send raw bytes, return every byte the server sends until it closes."""
    with RawConnection(host, port, timeout) as c:
        c.send(data)
        out = b""
        while True:
            try:
                chunk = c.sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise IncompleteResponse("server did not close", out)
            if not chunk:
                break
            out += chunk
        return out
