"""WSGI app giving the server invalid (and borderline valid) response heads.

Routes (dispatch on PATH_INFO):
  /two-cl                two Content-Length headers with different values (5 and 6)
  /same-cl               two identical Content-Length headers (5), body "hello"
  /ctl?c=HH              header X-Bad whose value holds the byte 0xHH between two markers
  /tab                   header X-Tab whose value holds a HTAB
  /padded                values with leading/trailing whitespace (Django's "Set-Cookie:  …")
  /status?s=S            final status S (e.g. "103 Early Hints"), body "body"
  /upgrade               101 Switching Protocols with Upgrade: websocket, Connection: Upgrade
  /mutate                valid start_response(), then a CR LF header appended to the list
  /count                 number of times the app was called (including this call)
"""

from urllib.parse import parse_qs

CALLS = 0
SECRET = "leaked-SECRET"


def _qs(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def app(environ, start_response):
    global CALLS
    CALLS += 1
    path = environ["PATH_INFO"]
    q = _qs(environ)

    if path == "/two-cl":
        start_response("200 OK", [("Content-Length", "5"), ("Content-Type", "text/plain"),
                                  ("Content-Length", "6")])
        return [b"hello"]

    if path == "/same-cl":
        start_response("200 OK", [("Content-Length", "5"), ("content-length", "5")])
        return [b"hello"]

    if path == "/ctl":
        value = "before" + chr(int(q["c"], 16)) + SECRET
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Bad", value)])
        return [b"body"]

    if path == "/tab":
        start_response("200 OK", [("X-Tab", "a\tb"), ("Content-Length", "2")])
        return [b"ok"]

    if path == "/padded":
        start_response("200 OK", [("Set-Cookie", " csrftoken=abc; Path=/"), ("X-Pad", "\t v \t"),
                                  ("Content-Length", " 2 ")])
        return [b"ok"]

    if path == "/status":
        start_response(q["s"], [("Content-Type", "text/plain")])
        return [b"body"]

    if path == "/upgrade":
        start_response("101 Switching Protocols", [("Upgrade", "websocket"),
                                                   ("Connection", "Upgrade")])
        return []

    if path == "/mutate":
        headers = [("Content-Type", "text/plain")]
        start_response("200 OK", headers)
        headers.append(("X-Late", "a\r\nInjected: " + SECRET))
        return [b"body"]

    if path == "/count":
        body = str(CALLS).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    start_response("404 Not Found", [("Content-Length", "0")])
    return []
