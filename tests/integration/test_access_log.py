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
