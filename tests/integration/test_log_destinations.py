"""Where log lines go (issue 15): --log-syslog sends error and access lines to a real syslog
socket in the layout gunicorn's SysLogHandler produces ("<PRI>gunicorn.<prefix>.<error|access>:
[pid] message\\0"); --capture-output sends what the app prints to the error log file."""

import os
import re
import socket
import time

import pytest

from harness import free_port


def receiver(family, address):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.2)
    return sock


def packets_until(sock, predicate, timeout=10):
    got = []
    deadline = time.monotonic() + timeout
    while not predicate(got):
        assert time.monotonic() < deadline, got
        try:
            got.append(sock.recv(65536))
        except socket.timeout:
            pass
    return got


def test_udp_syslog_error_and_access_lines(server_factory):
    sock = receiver(socket.AF_INET, ("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = server_factory("-w", "1", "--log-syslog", "--log-syslog-to", "udp://127.0.0.1:%d" % port,
                         "--log-syslog-prefix", "shop", "--log-syslog-facility", "local3",
                         "--access-logfile", "-", "wsgi_basic:app")
    assert srv.get("/hello").text == "hello"
    got = packets_until(sock, lambda ps: any(b".access:" in p for p in ps)
                        and any(b"Booting worker" in p for p in ps))
    local3 = 19
    booting = [p for p in got if b"Booting worker" in p][0]
    # INFO = severity 6
    assert re.fullmatch(rb"<%d>gunicorn\.shop\.error: \[\d+\] \[?.*Booting worker with pid: \d+\x00" % (local3 * 8 + 6),
                        booting), booting
    access = [p for p in got if b".access:" in p][0]
    assert access.startswith(b"<%d>gunicorn.shop.access: [" % (local3 * 8 + 6)), access
    assert b'"GET /hello HTTP/1.1" 200 5' in access and access.endswith(b"\x00"), access
    # the error log still goes to its file (stderr) as well
    assert "Booting worker" in srv.stderr_text()
    sock.close()


def test_unix_syslog_error_severity_and_no_access_redirect(server_factory, tmp_path):
    path = str(tmp_path / "log.sock")
    sock = receiver(socket.AF_UNIX, path)
    srv = server_factory("-w", "1", "--log-syslog", "--log-syslog-to", "unix://%s#dgram" % path,
                         "--disable-redirect-access-to-syslog", "--access-logfile", "-", "wsgi_basic:app")
    assert srv.get("/error?marker=syslog-boom").status_code == 500
    got = packets_until(sock, lambda ps: any(b"syslog-boom" in p for p in ps))
    error = [p for p in got if b"syslog-boom" in p][0]
    # user facility (1) * 8 + error severity (3); program from the app URI with ':' as '.'
    assert error.startswith(b"<11>gunicorn.wsgi_basic.app.error: ["), error
    time.sleep(0.5)
    try:
        while True:
            got.append(sock.recv(65536))
    except socket.timeout:
        pass
    assert not any(b".access:" in p for p in got), got
    sock.close()


def test_unknown_facility_stops_the_start_up(cli):
    p = cli("-b", "127.0.0.1:%d" % free_port(), "--log-syslog", "--log-syslog-facility", "nonsense",
            "wsgi_basic:app", timeout=20)
    assert p.returncode != 0
    assert "syslog_facility" in p.stderr and "nonsense" in p.stderr, p.stderr


PRINTING_APP = '''
import sys

def app(environ, start_response):
    print("stdout-marker", environ["PATH_INFO"], flush=True)
    sys.stderr.write("stderr-marker %s\\n" % environ["PATH_INFO"])
    sys.stderr.flush()
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
'''


@pytest.mark.parametrize("capture", [True, False])
def test_capture_output_sends_prints_to_the_error_log(server_factory, tmp_path, capture):
    (tmp_path / "printing.py").write_text(PRINTING_APP)
    log = tmp_path / "error.log"
    args = ["--capture-output"] if capture else []
    srv = server_factory("-w", "1", "--error-logfile", str(log), *args, "printing:app", cwd=tmp_path)
    assert srv.get("/one").text == "ok"
    time.sleep(0.3)
    text = log.read_text()
    assert "Booting worker" in text
    if capture:
        assert "stdout-marker /one" in text and "stderr-marker /one" in text, text
    else:
        assert "marker" not in text, text
        assert "stdout-marker /one" in srv.stdout_text() and "stderr-marker /one" in srv.stderr_text()


def test_capture_output_follows_the_reopened_log(server_factory, tmp_path):
    import signal
    from harness import wait_until
    (tmp_path / "printing.py").write_text(PRINTING_APP)
    log = tmp_path / "error.log"
    srv = server_factory("-w", "1", "--error-logfile", str(log), "--capture-output", "printing:app", cwd=tmp_path)
    assert srv.get("/before").text == "ok"
    log.rename(tmp_path / "error.log.1")
    os.kill(srv.pid, signal.SIGUSR1)
    wait_until(log.exists, 5, message="the reopened error log")
    time.sleep(1.2)  # workers look at USR1 at least once a second
    assert srv.get("/after").text == "ok"
    wait_until(lambda: "stdout-marker /after" in log.read_text(), 5, message="the print in the new file")
    assert "/after" not in (tmp_path / "error.log.1").read_text()
