"""The access log's atoms that need the response (issue 15): {name}o renders the headers the
app gave start_response, as gunicorn's (resp.headers), case-insensitively; a header the app did
not send renders as "-"."""

from harness import wait_until


def access_lines(log, prefix):
    return wait_until(lambda: [line for line in log.read_text().splitlines() if line.startswith(prefix)]
                      if log.exists() else None, 5, message="the access line for " + prefix)


def test_response_header_atoms(server_factory, tmp_path):
    log = tmp_path / "access.log"
    srv = server_factory("-w", "1", "--access-logfile", str(log), "--access-logformat",
                         "%(U)s %(s)s ct=%({content-type}o)s CT=%({Content-Type}o)s "
                         "missing=%({x-missing}o)s ua=%({user-agent}i)s",
                         "wsgi_basic:app")
    assert srv.get("/hello", headers={"User-Agent": "probe/1"}).text == "hello"
    lines = access_lines(log, "/hello ")
    assert lines == ["/hello 200 ct=text/plain CT=text/plain missing=- ua=probe/1"], lines


def test_response_headers_of_a_streamed_response(server_factory, tmp_path):
    log = tmp_path / "access.log"
    srv = server_factory("-w", "1", "--access-logfile", str(log), "--access-logformat",
                         "%(U)s %(s)s %(B)s te=%({transfer-encoding}o)s ct=%({content-type}o)s",
                         "wsgi_basic:app")
    resp = srv.get("/stream")
    assert resp.status_code == 200
    lines = access_lines(log, "/stream ")
    # the server's own framing header is not one the app sent (gunicorn logs the app's list)
    assert lines == ["/stream 200 %d te=- ct=text/plain" % len(resp.content)], lines


def test_every_gunicorn_atom(server_factory, tmp_path):
    """Each atom of gunicorn's access_log_format against one real request."""
    import base64
    import os
    import re
    log = tmp_path / "access.log"
    atoms = ["h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T", "M", "D", "L", "p",
             "{x-probe}i", "{content-type}o", "{request_method}e", "{query_string}e", "{path_info}e"]
    fmt = "|".join("%%(%s)s" % atom for atom in atoms)
    srv = server_factory("-w", "1", "--access-logfile", str(log), "--access-logformat", fmt, "wsgi_basic:app")
    auth = "Basic " + base64.b64encode(b"alice:secret").decode()
    resp = srv.get("/hello?x=1&y=%20", headers={"Authorization": auth, "Referer": "http://ref.example/",
                                                 "User-Agent": "probe-agent/2", "X-Probe": 'say "hi"'})
    assert resp.text == "hello"
    line = access_lines(log, "127.0.0.1|")[0]
    values = dict(zip(atoms, line.split("|")))
    assert values["h"] == "127.0.0.1" and values["l"] == "-" and values["u"] == "alice"
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", values["t"]), values["t"]
    assert values["r"] == "GET /hello?x=1&y=%20 HTTP/1.1"
    assert (values["m"], values["U"], values["q"], values["H"]) == ("GET", "/hello", "x=1&y=%20", "HTTP/1.1")
    assert (values["s"], values["B"], values["b"]) == ("200", "5", "5")
    assert values["f"] == "http://ref.example/" and values["a"] == "probe-agent/2"
    assert values["T"] == "0" and int(values["M"]) >= 0 and int(values["D"]) > 0
    assert re.fullmatch(r"\d+\.\d{6}", values["L"]), values["L"]
    assert values["p"] == "<%d>" % int(srv.get("/pid").text), values["p"]  # gunicorn: "<pid>"
    assert values["{x-probe}i"] == 'say \\"hi\\"'  # gunicorn's SafeAtoms escape '"'
    assert values["{content-type}o"] == "text/plain"
    assert (values["{request_method}e"], values["{query_string}e"], values["{path_info}e"]) == \
        ("GET", "x=1&y=%20", "/hello")
