"""The Prometheus endpoint (--metrics-bind, docs/metrics.md) against the real server: /metrics
parsed by a small text-format parser (every line valid exposition syntax, HELP/TYPE for every
family, cumulative buckets ending with +Inf == _count), counters that rise by exactly the
requests made, the in-flight gauge, queue time when the only worker is busy (histogram and the
access log's Q atom), X-Request-Start from a trusted peer only, worker restarts by cause, bad
clients on the metrics port that never stall the master, and no listener by default."""

import json
import math
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest
import requests

from harness import free_port, port_accepts, wait_until
from loadgen import children_of
from rawhttp import RawConnection

ASGI = ("-k", "asgi", "-w", "1")


# --- a small parser of the text exposition format 0.0.4 ------------------------------------------
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r"(?:[+-]?Inf|NaN|[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)"
SAMPLE_LINE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?,?\})? (%s)(?: [+-]?[0-9]+)?$" % (NAME, LABEL, LABEL, VALUE))
HELP_LINE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_LINE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_exposition(text):
    """{family: {"help", "type", "samples": [(name, {labels}, value)]}}; asserts the syntax."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    families = {}
    current = None
    for line in text.split("\n")[:-1]:
        if not line:
            continue
        if line.startswith("#"):
            help_match, type_match = HELP_LINE.match(line), TYPE_LINE.match(line)
            assert help_match or type_match or not line.startswith(("# HELP", "# TYPE")), line
            if help_match:
                family = families.setdefault(help_match.group(1), {"samples": []})
                assert "help" not in family, "two HELP lines for " + help_match.group(1)
                family["help"] = help_match.group(2)
                current = help_match.group(1)
            elif type_match:
                family = families.setdefault(type_match.group(1), {"samples": []})
                assert "type" not in family, "two TYPE lines for " + type_match.group(1)
                assert not family["samples"], "TYPE after samples for " + type_match.group(1)
                family["type"] = type_match.group(2)
                current = type_match.group(1)
            continue
        match = SAMPLE_LINE.match(line)
        assert match, "not exposition syntax: %r" % line
        name, labels, value = match.group(1), dict(LABEL_PAIR.findall(match.group(2) or "")), float(match.group(3))
        family = current if current and (name == current or name in (
            current + "_bucket", current + "_sum", current + "_count")) else name
        families.setdefault(family, {"samples": []})["samples"].append((name, labels, value))
    for name, family in families.items():
        assert "help" in family and "type" in family, "HELP and TYPE for " + name
        if family["type"] == "histogram":
            check_histogram(name, family["samples"])
    return families


def check_histogram(name, samples):
    buckets = [(labels["le"], value) for sample, labels, value in samples if sample == name + "_bucket"]
    assert buckets and buckets[-1][0] == "+Inf", name
    bounds = [float(le) for le, _ in buckets]
    assert bounds == sorted(bounds), name
    counts = [value for _, value in buckets]
    assert counts == sorted(counts), "%s buckets are cumulative: %s" % (name, counts)
    (count,) = [value for sample, _, value in samples if sample == name + "_count"]
    (total,) = [value for sample, _, value in samples if sample == name + "_sum"]
    assert count == counts[-1], "%s: +Inf == _count" % name
    assert total >= 0 and not math.isnan(total)


class Metrics:
    def __init__(self, families):
        self.families = families

    def value(self, name, **labels):
        for family in self.families.values():
            for sample, sample_labels, value in family["samples"]:
                if sample == name and sample_labels == labels:
                    return value
        return 0.0

    def bucket(self, name, le):
        return self.value(name + "_bucket", le=le)


def scrape_text(port, path="/metrics"):
    response = requests.get("http://127.0.0.1:%d%s" % (port, path), timeout=5)
    return response


def scrape(port):
    response = scrape_text(port)
    assert response.status_code == 200, (response.status_code, response.text[:200])
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return Metrics(parse_exposition(response.text))


def requests_total(metrics, status, method):
    return metrics.value("narwhal_requests_total", status=status, method=method)


@pytest.fixture
def metrics_server(server_factory):
    def start(*args, workers=1, app="wsgi_basic:app"):
        # Two ports from free_port() may be the same one (it is released at once): then the
        # metrics port could not be bound and /metrics would reach the app.
        http_port, port = free_port(), free_port()
        while port == http_port:
            port = free_port()
        srv = server_factory("-w", str(workers), "--metrics-bind", "127.0.0.1:%d" % port, *args, app,
                             port=http_port)
        srv.metrics_port = port
        wait_until(lambda: port_accepts(port), 5, message="the metrics port")
        wait_until(lambda: len(children_of(srv.pid)) == workers, 10, message="the workers")
        return srv
    return start


def access_lines(path):
    return path.read_text().splitlines() if path.exists() else []


def listening_ports(pid):
    """TCP ports process `pid` has listening sockets on (/proc/net/tcp{,6} x its fds)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# --- the endpoint ---------------------------------------------------------------------------------
def test_metrics_are_valid_exposition_text_with_every_family(metrics_server):
    srv = metrics_server(workers=2)
    srv.get("/hello")
    metrics = scrape(srv.metrics_port)
    families = metrics.families
    assert families["narwhal_requests_total"]["type"] == "counter"
    assert families["narwhal_request_duration_seconds"]["type"] == "histogram"
    assert families["narwhal_request_queue_seconds"]["type"] == "histogram"
    assert families["narwhal_workers"]["type"] == "gauge"
    assert families["narwhal_requests_in_flight"]["type"] == "gauge"
    assert families["narwhal_worker_restarts_total"]["type"] == "counter"
    assert families["narwhal_listen_backlog"]["type"] == "gauge"
    assert metrics.value("narwhal_workers") == 2
    assert metrics.value("narwhal_requests_in_flight") == 0
    assert metrics.value("narwhal_listen_backlog") == 0
    for cause in ("timeout", "crash", "max_requests"):
        assert metrics.value("narwhal_worker_restarts_total", cause=cause) == 0
    wait_until(lambda: requests_total(scrape(srv.metrics_port), "2xx", "GET") == 1, 5, message="the request counted")


def test_only_get_and_head_of_metrics(metrics_server):
    srv = metrics_server()
    assert scrape_text(srv.metrics_port, "/").status_code == 404
    assert scrape_text(srv.metrics_port, "/metrics/x").status_code == 404
    response = requests.post("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=5)
    assert response.status_code == 405
    head = requests.head("http://127.0.0.1:%d/metrics?x=1" % srv.metrics_port, timeout=5)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 500


def test_counters_rise_by_exactly_the_requests_made(metrics_server):
    srv = metrics_server()
    before = scrape(srv.metrics_port)
    for _ in range(3):
        assert srv.get("/hello").status_code == 200
    for _ in range(2):
        assert srv.get("/nope").status_code == 404
    assert srv.post("/echo", data=b"abc").status_code == 200
    assert srv.get("/error").status_code == 500
    assert srv.request("DELETE", "/hello").status_code == 200
    assert srv.request("BREW", "/hello").status_code == 200
    expected = {("2xx", "GET"): 3, ("4xx", "GET"): 2, ("2xx", "POST"): 1, ("5xx", "GET"): 1,
                ("2xx", "DELETE"): 1, ("2xx", "other"): 1}

    def deltas():
        after = scrape(srv.metrics_port)
        return {key: requests_total(after, *key) - requests_total(before, *key) for key in expected}, after

    wait_until(lambda: deltas()[0] == expected, 5, message="the counters")
    changes, after = deltas()
    all_before = sum(v for _, _, v in before.families["narwhal_requests_total"]["samples"])
    all_after = sum(v for _, _, v in after.families["narwhal_requests_total"]["samples"])
    assert all_after - all_before == 9  # nothing else moved
    for histogram in ("narwhal_request_duration_seconds", "narwhal_request_queue_seconds"):
        assert after.value(histogram + "_count") - before.value(histogram + "_count") == 9


def test_in_flight_gauge_during_a_slow_request(metrics_server):
    srv = metrics_server()
    conn = RawConnection("127.0.0.1", srv.port, timeout=15)
    conn.send(b"GET /sleep?s=1.5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    wait_until(lambda: scrape(srv.metrics_port).value("narwhal_requests_in_flight") == 1, 5,
               message="one request in flight")
    assert conn.read_response().status == 200
    wait_until(lambda: scrape(srv.metrics_port).value("narwhal_requests_in_flight") == 0, 5,
               message="none in flight")
    metrics = scrape(srv.metrics_port)
    slow = metrics.value("narwhal_request_duration_seconds_count") - metrics.bucket("narwhal_request_duration_seconds", "1")
    assert slow == 1  # the 1.5 s request, above the 1 s bucket


# --- queue time -----------------------------------------------------------------------------------
QUEUE_FORMAT = "%(U)s %(q)s Q=%(Q)s M=%(M)s"


def access_field(line, key):
    return int(re.search(r"\b%s=(\d+)" % key, line).group(1))


def test_queue_time_rises_when_the_only_worker_is_busy(metrics_server, tmp_path):
    log = tmp_path / "access.log"
    srv = metrics_server("--access-logfile", str(log), "--access-logformat", QUEUE_FORMAT)
    before = scrape(srv.metrics_port)
    slow = RawConnection("127.0.0.1", srv.port, timeout=15)
    slow.send(b"GET /sleep?s=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(0.1)  # the slow one runs; the fast one waits in the listen queue behind it
    fast = RawConnection("127.0.0.1", srv.port, timeout=15)
    fast_sent = time.monotonic()
    fast.send(b"GET /hello?fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert slow.read_response().status == 200
    assert fast.read_response().status == 200
    fast_waited_ms = (time.monotonic() - fast_sent) * 1000
    wait_until(lambda: any("fast" in line for line in access_lines(log)), 5, message="the access lines")
    lines = access_lines(log)
    (slow_line,) = [line for line in lines if line.startswith("/sleep")]
    (fast_line,) = [line for line in lines if line.startswith("/hello fast")]
    slow_ms = access_field(slow_line, "M")
    fast_queue_ms = access_field(fast_line, "Q")
    assert access_field(slow_line, "Q") < 100
    # It waited for the rest of the slow request (which had run 0.1 s when it was sent).
    assert slow_ms - 250 <= fast_queue_ms <= fast_waited_ms + 50, (slow_line, fast_line)
    assert fast_queue_ms >= 800
    after = scrape(srv.metrics_port)
    queued = lambda m: m.value("narwhal_request_queue_seconds_count") - m.bucket("narwhal_request_queue_seconds", "0.5")
    assert queued(after) - queued(before) == 1  # the fast one, in a bucket above 0.5 s
    assert after.value("narwhal_request_queue_seconds_sum") - before.value("narwhal_request_queue_seconds_sum") >= 0.8


@pytest.mark.parametrize("trusted", [True, False])
def test_x_request_start_from_a_trusted_proxy_shifts_the_queue_time(metrics_server, tmp_path, trusted):
    log = tmp_path / "access.log"
    args = ["--access-logfile", str(log), "--access-logformat", QUEUE_FORMAT]
    if not trusted:
        args += ["--forwarded-allow-ips", "10.9.9.9"]  # 127.0.0.1 is trusted by default
    srv = metrics_server(*args)
    before = scrape(srv.metrics_port)
    # nginx: t=${msec} (seconds with milliseconds); then the integer-microseconds form.
    srv.get("/hello?nginx", headers={"X-Request-Start": "t=%.3f" % (time.time() - 2.6)})
    srv.get("/hello?micros", headers={"X-Request-Start": "%d" % int((time.time() - 3.6) * 1e6)})
    srv.get("/hello?garbage", headers={"X-Request-Start": "t=yesterday"})
    wait_until(lambda: len(access_lines(log)) == 3, 5, message="the access lines")
    queues = {line.split()[1]: access_field(line, "Q") for line in access_lines(log)}
    if trusted:
        assert 2600 <= queues["nginx"] < 3600, queues
        assert 3600 <= queues["micros"] < 4600, queues
    else:
        assert queues["nginx"] < 500 and queues["micros"] < 500, queues
    assert queues["garbage"] < 500, queues
    after = scrape(srv.metrics_port)
    long_waits = lambda m: m.value("narwhal_request_queue_seconds_count") - m.bucket("narwhal_request_queue_seconds", "2.5")
    assert long_waits(after) - long_waits(before) == (2 if trusted else 0)


def test_asgi_counts_and_queue_time(metrics_server, tmp_path):
    log = tmp_path / "access.log"
    srv = metrics_server("-k", "asgi", "--access-logfile", str(log), "--access-logformat", QUEUE_FORMAT,
                         app="asgi_basic:app")
    before = scrape(srv.metrics_port)
    assert srv.get("/sleep?0").status_code == 200
    assert srv.get("/nope").status_code == 404
    srv.get("/nope2", headers={"X-Request-Start": "t=%.3f" % (time.time() - 2.6)})

    def counted():
        after = scrape(srv.metrics_port)
        return after.value("narwhal_request_duration_seconds_count") - before.value("narwhal_request_duration_seconds_count")
    wait_until(lambda: counted() == 3, 5, message="the ASGI requests counted")
    after = scrape(srv.metrics_port)
    assert requests_total(after, "4xx", "GET") - requests_total(before, "4xx", "GET") == 2
    wait_until(lambda: len(access_lines(log)) == 3, 5, message="the access lines")
    (shifted,) = [line for line in access_lines(log) if line.startswith("/nope2")]
    assert 2600 <= access_field(shifted, "Q") < 3600, shifted


# --- worker restarts ------------------------------------------------------------------------------
def restarts(srv):
    metrics = scrape(srv.metrics_port)
    return {cause: metrics.value("narwhal_worker_restarts_total", cause=cause)
            for cause in ("timeout", "crash", "max_requests")}


def test_restarts_by_max_requests_and_by_crash(metrics_server):
    srv = metrics_server("--max-requests", "3")
    first = children_of(srv.pid)
    for _ in range(3):
        assert srv.get("/hello", headers={"Connection": "close"}).status_code == 200
    wait_until(lambda: restarts(srv)["max_requests"] == 1, 10, message="a max_requests restart")
    wait_until(lambda: (lambda now: len(now) == 1 and now != first)(children_of(srv.pid)), 10, message="a new worker")
    os.kill(children_of(srv.pid)[0], signal.SIGKILL)
    wait_until(lambda: restarts(srv)["crash"] == 1, 10, message="a crash restart")
    assert restarts(srv) == {"timeout": 0, "crash": 1, "max_requests": 1}
    # The requests of exited workers stay counted.
    assert requests_total(scrape(srv.metrics_port), "2xx", "GET") == 3


def test_restart_by_timeout(metrics_server):
    srv = metrics_server("--timeout", "2")
    conn = RawConnection("127.0.0.1", srv.port, timeout=20)
    conn.send(b"GET /sleep?s=30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    wait_until(lambda: restarts(srv)["timeout"] == 1, 15, message="a timeout restart")
    assert restarts(srv) == {"timeout": 1, "crash": 0, "max_requests": 0}
    srv.wait_for_stderr("WORKER TIMEOUT")


def test_a_graceful_reload_is_no_restart(metrics_server):
    srv = metrics_server(workers=2)
    first = set(children_of(srv.pid))
    os.kill(srv.pid, signal.SIGHUP)
    wait_until(lambda: (lambda now: len(now) == 2 and not now & first)(set(children_of(srv.pid))), 15,
               message="new workers")
    assert restarts(srv) == {"timeout": 0, "crash": 0, "max_requests": 0}


# --- the master never waits on a metrics client -------------------------------------------------
def control_request(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        payload = json.dumps({"id": 1, "command": command}).encode()
        sock.sendall(struct.pack(">I", len(payload)) + payload)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
            chunk = sock.recv(65536)
            assert chunk, "the control socket closed"
            data += chunk
        return json.loads(data[4:])


def test_bad_metrics_clients_never_stall_the_master(metrics_server, tmp_path):
    ctl = tmp_path / "narwhal.ctl"
    srv = metrics_server("--control-socket", str(ctl))
    port = srv.metrics_port
    hostile = []
    for _ in range(40):  # idle: connect, send nothing
        hostile.append(socket.create_connection(("127.0.0.1", port)))
    slowloris = socket.create_connection(("127.0.0.1", port))
    slowloris.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
    hostile.append(slowloris)
    garbage = socket.create_connection(("127.0.0.1", port))
    garbage.sendall(bytes(range(256)) * 4 + b"\r\n\r\n")
    hostile.append(garbage)
    flood = socket.create_connection(("127.0.0.1", port))
    flood.setblocking(False)
    stop = threading.Event()

    def flood_it():
        chunk = b"a" * 65536
        while not stop.is_set():
            try:
                flood.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                return
    flooder = threading.Thread(target=flood_it, daemon=True)
    flooder.start()
    nonreader = socket.create_connection(("127.0.0.1", port))
    nonreader.sendall(b"GET /metrics HTTP/1.1\r\n\r\n" * 50)  # never reads the answer
    hostile.append(nonreader)
    try:
        for _ in range(5):
            started = time.monotonic()
            assert srv.get("/hello", timeout=5).status_code == 200
            assert control_request(ctl, "show stats")["status"] == "ok"
            metrics = scrape(port)  # a newcomer still gets its answer
            assert metrics.value("narwhal_workers") == 1
            assert time.monotonic() - started < 2
            time.sleep(0.2)
    finally:
        stop.set()
        flooder.join(5)
        for sock in hostile + [flood]:
            sock.close()
    assert srv.proc.poll() is None


def test_metrics_are_off_by_default(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    assert srv.get("/hello").status_code == 200
    assert listening_ports(srv.pid) == {srv.port}
    assert "Metrics listening" not in srv.stderr_text()


def test_metrics_listener_is_the_masters_only(metrics_server):
    srv = metrics_server()
    assert listening_ports(srv.pid) == {srv.port, srv.metrics_port}
    (worker,) = children_of(srv.pid)
    assert srv.metrics_port not in listening_ports(worker)  # closed in the workers after fork
    assert "Metrics listening at: http://127.0.0.1:%d/metrics" % srv.metrics_port in srv.stderr_text()


def test_metrics_on_a_unix_socket(server_factory, tmp_path):
    path = tmp_path / "metrics.sock"
    srv = server_factory("-w", "1", "--metrics-bind", "unix:%s" % path, "wsgi_basic:app")
    wait_until(lambda: path.exists(), 5, message="the metrics socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    families = parse_exposition(body.decode())
    assert "narwhal_listen_backlog" in families  # the HTTP listener is TCP
    srv.terminate()
    assert not path.exists()


def test_a_bad_metrics_bind_is_refused(cli):
    result = cli("--metrics-bind", "fd://3", "--check-config", "wsgi_basic:app")
    assert result.returncode != 0
    assert "metrics_bind" in result.stderr or "metrics-bind" in result.stderr
