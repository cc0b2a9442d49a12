"""The control socket (gunicorn 25's protocol, docs/control.md) against the real server: every
command checked against what the processes really do, narwhal's `show requests` and `dump`,
framing errors that must never stall the master, the socket's mode, --no-control-socket, and
the `narwhalc` client (one command, JSON, `top` in a pseudo-terminal)."""

import json
import os
import pty
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import APPS_DIR, base_env, narwhal_binary, wait_until
from loadgen import children_of, pid_alive
from rawhttp import RawConnection


def narwhalc_command():
    """The narwhalc console script installed beside the binary under test."""
    script = Path(narwhal_binary()).with_name("narwhalc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "narwhal.ctl"]


# --- a raw client: the protocol itself, not narwhalc -------------------------------------------
class Control:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:  # a full listen backlog answers EAGAIN on a unix socket: the master accepts soon
            try:
                self.sock.connect(str(path))
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.next_id = 0

    def close(self):
        self.sock.close()

    def send_frame(self, payload: bytes):
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def read_exactly(self, size):
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed after %d of %d bytes" % (len(data), size))
            data += chunk
        return data

    def read_reply(self):
        (length,) = struct.unpack(">I", self.read_exactly(4))
        return json.loads(self.read_exactly(length))

    def request(self, command, args=()):
        self.next_id += 1
        self.send_frame(json.dumps({"id": self.next_id, "command": command, "args": list(args)}).encode())
        reply = self.read_reply()
        assert reply["id"] == self.next_id
        return reply

    def data(self, command, args=()):
        reply = self.request(command, args)
        assert reply["status"] == "ok", reply
        return reply["data"]

    def is_closed(self, timeout=3):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def control_data(path, command):
    client = Control(path)
    try:
        return client.data(command)
    finally:
        client.close()


@pytest.fixture
def ctl_path(tmp_path):
    return tmp_path / "run" / "narwhal.ctl"  # the directory does not exist yet: the master makes it


@pytest.fixture
def control_server(server_factory, ctl_path):
    def start(*args, workers=2):
        srv = server_factory("-w", str(workers), "--control-socket", str(ctl_path), *args, "wsgi_basic:app")
        wait_until(lambda: ctl_path.exists(), 5, message="the control socket")
        wait_until(lambda: len(children_of(srv.pid)) == workers, 10, message="the workers")
        return srv
    return start


def worker_pids(path):
    return sorted(worker["pid"] for worker in control_data(path, "show workers")["workers"])


def wait_worker_pids(srv, path, count, timeout=10):
    """Until the master and ps agree on `count` workers; returns their pids."""
    def agreed():
        pids = worker_pids(path)
        return len(pids) == count and pids == sorted(children_of(srv.pid)) and pids
    return wait_until(agreed, timeout, message="%d workers" % count)


def slow_request(srv, path="/sleep?s=3"):
    conn = RawConnection("127.0.0.1", srv.port, timeout=15)
    conn.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return conn


# --- the socket --------------------------------------------------------------------------------
def test_socket_is_created_0600_in_a_new_0700_directory_and_removed_at_exit(control_server, ctl_path):
    srv = control_server()
    mode = os.stat(ctl_path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(ctl_path.parent).st_mode) == 0o700
    assert "Control socket listening at %s" % ctl_path in srv.stderr_text()
    assert srv.terminate() == 0
    assert not ctl_path.exists()


def test_control_socket_mode_setting(control_server, ctl_path):
    control_server("--control-socket-mode", "0o660")
    assert stat.S_IMODE(os.stat(ctl_path).st_mode) == 0o660


def test_no_control_socket(server_factory, tmp_path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    srv = server_factory("--no-control-socket", "wsgi_basic:app", env=env)
    assert srv.get("/hello").status_code == 200
    assert not (tmp_path / "gunicorn.ctl").exists()
    assert "Control socket" not in srv.stderr_text()


def test_default_path_is_gunicorns(server_factory, tmp_path):
    srv = server_factory("wsgi_basic:app", env={"XDG_RUNTIME_DIR": str(tmp_path)})
    wait_until(lambda: (tmp_path / "gunicorn.ctl").exists(), 5, message="$XDG_RUNTIME_DIR/gunicorn.ctl")
    assert control_data(tmp_path / "gunicorn.ctl", "show stats")["pid"] == srv.pid
    srv.terminate()
    home = tmp_path / "home"
    home.mkdir()
    srv = server_factory("wsgi_basic:app", env={"XDG_RUNTIME_DIR": None, "HOME": str(home)})
    wait_until(lambda: (home / ".gunicorn" / "gunicorn.ctl").exists(), 5, message="~/.gunicorn/gunicorn.ctl")


def test_a_socket_that_cannot_be_created_is_logged_and_the_server_runs(server_factory, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    srv = server_factory("--control-socket", str(blocker / "x.ctl"), "wsgi_basic:app")
    assert srv.get("/hello").status_code == 200
    srv.wait_for_stderr("Control server error")


# --- show ----------------------------------------------------------------------------------------
def test_show_workers_matches_ps(control_server, ctl_path):
    srv = control_server(workers=3)
    data = control_data(ctl_path, "show workers")
    assert data["count"] == 3
    assert sorted(w["pid"] for w in data["workers"]) == sorted(children_of(srv.pid))
    assert [w["age"] for w in data["workers"]] == sorted(w["age"] for w in data["workers"])  # oldest first
    for worker in data["workers"]:
        assert set(worker) >= {"pid", "age", "booted", "aborted", "last_heartbeat", "requests", "in_flight"}
        assert worker["aborted"] is False
        assert 0 <= worker["last_heartbeat"] < 5
    wait_until(lambda: all(w["booted"] for w in control_data(ctl_path, "show workers")["workers"]), 10,
               message="booted workers")


def test_show_all_stats_listeners_config(control_server, ctl_path):
    srv = control_server()
    for _ in range(3):
        assert srv.get("/hello").status_code == 200
    everything = control_data(ctl_path, "show all")
    assert everything["arbiter"] == {"pid": srv.pid, "type": "arbiter", "role": "master"}
    assert sorted(w["pid"] for w in everything["web_workers"]) == sorted(children_of(srv.pid))
    assert everything["web_worker_count"] == 2 and everything["dirty_arbiter"] is None

    stats = control_data(ctl_path, "show stats")
    assert stats["pid"] == srv.pid
    assert (stats["workers_current"], stats["workers_target"], stats["workers_spawned"]) == (2, 2, 2)
    assert stats["uptime"] >= 0 and stats["reloads"] == 0
    assert stats["requests_total"] == 3
    assert stats["requests_by_status"]["2xx"] == 3

    listeners = control_data(ctl_path, "show listeners")
    assert listeners["count"] == 1
    assert listeners["listeners"][0]["address"] == "http://127.0.0.1:%d" % srv.port
    assert listeners["listeners"][0]["type"] == "tcp"

    config = control_data(ctl_path, "show config")
    assert config["workers"] == 2
    assert config["bind"] == ["127.0.0.1:%d" % srv.port]
    assert config["worker_class"] == "sync"
    assert config["control_socket"] == str(ctl_path)
    assert config["control_socket_disable"] is False
    assert config["proc_name"] == "wsgi_basic:app"

    commands = control_data(ctl_path, "help")["commands"]
    assert "worker add [N]" in commands and "show requests" in commands


# --- worker add / remove / kill --------------------------------------------------------------------
def test_worker_add_and_remove_change_the_worker_count(control_server, ctl_path):
    srv = control_server()
    assert control_data(ctl_path, "worker add 2") == {"added": 2, "previous": 2, "total": 4}
    wait_worker_pids(srv, ctl_path, 4)
    client = Control(ctl_path)
    assert client.data("worker remove", [3]) == {"removed": 3, "previous": 4, "total": 1}  # args, as gunicornc
    wait_worker_pids(srv, ctl_path, 1)
    assert client.data("worker remove") == {"removed": 0, "previous": 1, "total": 1}  # never below one
    assert srv.get("/hello").status_code == 200
    assert client.data("show stats")["workers_target"] == 1


def test_worker_kill_replaces_the_worker(control_server, ctl_path):
    srv = control_server()
    before = wait_worker_pids(srv, ctl_path, 2)
    victim = before[0]
    assert control_data(ctl_path, "worker kill %d" % victim) == {"success": True, "killed": victim}
    after = wait_until(lambda: (lambda p: len(p) == 2 and victim not in p and p)(sorted(children_of(srv.pid))),
                       10, message="a replacement worker")
    assert set(after) - set(before)
    assert not pid_alive(victim) or victim not in children_of(srv.pid)
    assert control_data(ctl_path, "worker kill 1") == {"success": False, "error": "Worker 1 not found"}
    assert "exited with code" not in srv.stderr_text()  # a retirement, not a crash


# --- reload / reopen / shutdown -------------------------------------------------------------------
def test_reload_gives_new_workers(control_server, ctl_path):
    srv = control_server()
    before = wait_worker_pids(srv, ctl_path, 2)
    assert control_data(ctl_path, "reload") == {"status": "reloading"}
    wait_until(lambda: (lambda p: len(p) == 2 and not set(p) & set(before))(children_of(srv.pid)), 15,
               message="new workers")
    srv.wait_for_stderr("Handling signal: hup")
    assert control_data(ctl_path, "show stats")["reloads"] == 1
    assert srv.get("/hello").status_code == 200


def test_reopen_reopens_the_log_files(control_server, ctl_path, tmp_path):
    log = tmp_path / "access.log"
    srv = control_server("--access-logfile", str(log))
    srv.get("/hello?before")
    wait_until(lambda: log.exists() and "before" in log.read_text(), 5, message="the first access line")
    log.rename(tmp_path / "access.log.1")
    assert control_data(ctl_path, "reopen") == {"status": "reopening"}
    wait_until(lambda: log.exists(), 5, message="the master to reopen the log")
    time.sleep(1.2)  # a worker checks for USR1 at least once a second
    for _ in range(2):  # both workers
        srv.get("/hello?after", headers={"Connection": "close"})
    wait_until(lambda: "after" in log.read_text(), 5, message="the access line in the new file")
    assert "after" not in (tmp_path / "access.log.1").read_text()


@pytest.mark.parametrize("mode, signal_name", [("graceful", "term"), ("quick", "int")])
def test_shutdown_stops_the_master(control_server, ctl_path, mode, signal_name):
    srv = control_server()
    assert control_data(ctl_path, "shutdown %s" % mode) == {"status": "shutting_down", "mode": mode}
    assert srv.proc.wait(15) == 0
    assert "Handling signal: %s" % signal_name in srv.stderr_text()
    assert not ctl_path.exists()


def test_shutdown_graceful_lets_the_inflight_request_finish(control_server, ctl_path):
    srv = control_server(workers=1)
    conn = slow_request(srv, "/sleep?s=1")
    time.sleep(0.3)
    control_data(ctl_path, "shutdown")
    response = conn.read_response()
    assert (response.status, response.body) == (200, b"slept")
    assert srv.proc.wait(15) == 0


def test_a_reload_that_changes_the_setting_moves_the_socket(server_factory, tmp_path):
    first, second = tmp_path / "first.ctl", tmp_path / "second.ctl"
    conf = tmp_path / "conf.py"
    conf.write_text("control_socket = %r\n" % str(first))
    srv = server_factory("-c", str(conf), "wsgi_basic:app")
    wait_until(first.exists, 5, message="the first socket")
    conf.write_text("control_socket = %r\ncontrol_socket_mode = 0o640\n" % str(second))
    assert control_data(first, "reload") == {"status": "reloading"}
    wait_until(lambda: second.exists() and not first.exists(), 10, message="the socket to move")
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o640
    assert control_data(second, "show config")["control_socket"] == str(second)
    assert srv.get("/hello").status_code == 200


# --- narwhal's own: show requests, dump ---------------------------------------------------------------
@pytest.mark.parametrize("worker_args", [(), ("-k", "gthread", "--threads", "4")], ids=["sync", "gthread"])
def test_show_requests_lists_the_inflight_request(control_server, ctl_path, worker_args):
    srv = control_server(*worker_args)
    conn = slow_request(srv, "/sleep?s=2")
    time.sleep(0.6)
    data = control_data(ctl_path, "show requests")
    assert data["count"] == 1 and data["in_flight"] == 1, data
    request = data["requests"][0]
    assert (request["method"], request["path"], request["query"]) == ("GET", "/sleep", "s=2")
    assert request["pid"] in children_of(srv.pid)
    assert 0.4 <= request["elapsed"] < 2.0
    host, port = request["client"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) == conn.sock.getsockname()[1]
    assert conn.read_response().status == 200
    wait_until(lambda: control_data(ctl_path, "show requests")["count"] == 0, 5, message="no request in flight")


def test_show_requests_counts_bytes_and_sorts_slowest_first(control_server, ctl_path):
    srv = control_server("-k", "gthread", "--threads", "4", workers=1)
    first = slow_request(srv, "/sleep?s=2")
    time.sleep(0.5)
    second = slow_request(srv, "/sleep?s=2&second")
    time.sleep(0.3)
    data = control_data(ctl_path, "show requests")
    assert [r["query"] for r in data["requests"]] == ["s=2", "s=2&second"]
    assert data["requests"][0]["elapsed"] > data["requests"][1]["elapsed"]
    assert all(r["bytes_read"] == 0 and r["bytes_written"] == 0 for r in data["requests"])
    first.read_response()
    second.read_response()


def test_show_requests_follows_the_bytes_as_they_move(control_server, ctl_path):
    srv = control_server(workers=1)
    upload = RawConnection("127.0.0.1", srv.port, timeout=15)
    total = 1 << 20
    upload.send(b"POST /echo?mode=readn&n=65536 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % total)
    upload.send(b"a" * 300000)  # beyond the body buffer: the app reads it as it comes
    request = wait_until(lambda: (lambda r: r and r[0]["bytes_read"] >= 200000 and r[0])(
        control_data(ctl_path, "show requests")["requests"]), 5, message="the body read so far")
    assert request["method"] == "POST" and request["bytes_read"] <= 300000
    upload.send(b"a" * (total - 300000))
    assert upload.read_response().status == 200
    download = RawConnection("127.0.0.1", srv.port, timeout=15)
    download.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    download.send(b"GET /gen?n=4000&size=65536 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    request = wait_until(lambda: (lambda r: r and r[0]["bytes_written"] > 0 and r[0])(
        control_data(ctl_path, "show requests")["requests"]), 5, message="a response being written")
    assert request["path"] == "/gen" and request["bytes_read"] == 0
    download.close()


def test_dump_shows_the_apps_frame_and_the_worker_lives_on(control_server, ctl_path):
    srv = control_server(workers=1)
    conn = slow_request(srv, "/sleep?s=2")
    time.sleep(0.5)
    pid = children_of(srv.pid)[0]
    started = time.monotonic()
    data = control_data(ctl_path, "dump %d" % pid)
    assert time.monotonic() - started < 2  # not after the request: while it sleeps
    assert data["pid"] == pid and data["truncated"] is False
    stacks = data["stacks"]
    assert "Thread MainThread" in stacks
    assert "wsgi_basic.py" in stacks and "time.sleep" in stacks, stacks
    response = conn.read_response()
    assert (response.status, response.body) == (200, b"slept")  # the request was not disturbed
    assert children_of(srv.pid) == [pid]  # nor the worker
    assert srv.get("/hello").status_code == 200
    idle = control_data(ctl_path, "dump %d" % pid)["stacks"]  # idle: the loop's frame
    assert "Thread MainThread" in idle
    reply = Control(ctl_path).request("dump 1")
    assert reply == {"id": 1, "status": "error", "error": "Worker 1 not found"}


def test_dump_under_gevent_shows_the_waiting_greenlets(control_server, ctl_path):
    srv = control_server("-k", "gevent", workers=1)
    conns = [slow_request(srv, "/sleep?s=2&%d" % i) for i in range(2)]
    time.sleep(0.5)
    stacks = control_data(ctl_path, "dump %d" % children_of(srv.pid)[0])["stacks"]
    assert stacks.count("Greenlet") >= 2, stacks
    assert "wsgi_basic.py" in stacks and "time.sleep" in stacks, stacks
    for conn in conns:
        assert conn.read_response().status == 200


def test_usr2_upgrade_hands_the_socket_to_the_new_master(control_server, ctl_path):
    srv = control_server()
    old = srv.pid
    srv.proc.send_signal(signal.SIGUSR2)
    new = wait_until(lambda: (lambda pid: pid != old and pid)(control_data(ctl_path, "show stats")["pid"]), 15,
                     message="the new master on the control socket")
    try:
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(15) == 0
        assert ctl_path.exists()  # the old master's exit left the new master's socket
        assert control_data(ctl_path, "show stats")["pid"] == new
        assert srv.get("/hello").status_code == 200
    finally:
        os.kill(new, signal.SIGTERM)
    wait_until(lambda: not ctl_path.exists(), 15, message="the new master to remove its socket")


# --- framing errors never stall the master -------------------------------------------------------
def assert_master_serves(srv, ctl_path):
    assert srv.get("/hello", timeout=5).status_code == 200
    assert control_data(ctl_path, "show stats")["pid"] == srv.pid


def test_protocol_errors_get_error_replies_and_the_connection_goes_on(control_server, ctl_path):
    srv = control_server()
    client = Control(ctl_path)
    client.send_frame(b"{not json")
    assert client.read_reply() == {"id": None, "status": "error", "error": "Invalid JSON"}
    client.send_frame(b"[1, 2, 3]")
    assert client.read_reply()["status"] == "error"
    client.send_frame(b'{"id": 7, "command": ""}')
    assert client.read_reply() == {"id": 7, "status": "error", "error": "Empty command"}
    assert client.request("frobnicate") == {"id": 1, "status": "error",
                                            "error": "Invalid argument: Unknown command: frobnicate"}
    assert client.request("show nothing")["error"] == "Invalid argument: Unknown show target: nothing"
    assert client.request("worker add x")["error"] == \
        "Invalid argument: invalid literal for int() with base 10: 'x'"
    assert client.data("show workers")["count"] == 2  # the same connection still works
    assert_master_serves(srv, ctl_path)


def test_oversized_length_and_garbage_are_answered_then_closed(control_server, ctl_path):
    srv = control_server()
    big = Control(ctl_path)
    big.sock.sendall(struct.pack(">I", 0xFFFFFFF0))
    assert big.read_reply() == {"id": None, "status": "error", "error": "Message too large: %d" % 0xFFFFFFF0}
    assert big.is_closed()
    garbage = Control(ctl_path)
    garbage.sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # "GET " read as a length
    assert garbage.read_reply()["error"].startswith("Message too large")
    assert garbage.is_closed()
    assert_master_serves(srv, ctl_path)


def test_truncated_and_stalled_clients_do_not_stall_the_master(control_server, ctl_path):
    srv = control_server()
    stalled = []
    for cut in (2, 4, 10):  # inside the length, right after it, inside the payload
        client = Control(ctl_path)
        payload = json.dumps({"id": 1, "command": "show workers"}).encode()
        client.sock.sendall((struct.pack(">I", len(payload)) + payload)[:cut])
        stalled.append(client)
    assert_master_serves(srv, ctl_path)
    stalled[0].close()  # a client that goes away mid-message
    started = time.monotonic()
    for _ in range(20):
        assert_master_serves(srv, ctl_path)
    assert time.monotonic() - started < 10
    # The rest of a slow client's request arrives later: it is answered.
    payload = json.dumps({"id": 1, "command": "show workers"}).encode()
    stalled[2].sock.sendall((struct.pack(">I", len(payload)) + payload)[10:])
    assert stalled[2].read_reply()["data"]["count"] == 2


def test_many_clients_are_bounded_without_stalling(control_server, ctl_path):
    srv = control_server()
    idle = [Control(ctl_path) for _ in range(40)]  # more than the master keeps
    time.sleep(0.3)
    assert_master_serves(srv, ctl_path)  # the newest client gets in: the idlest goes
    closed = sum(1 for client in idle if client.is_closed(timeout=0.2))
    assert closed >= 40 - 16
    for client in idle:
        client.close()


def test_a_client_that_never_reads_its_replies_does_not_stall_the_master(control_server, ctl_path):
    srv = control_server()
    greedy = Control(ctl_path)
    payload = json.dumps({"id": 1, "command": "help"}).encode()
    frame = struct.pack(">I", len(payload)) + payload
    greedy.sock.setblocking(False)
    sent = 0
    try:
        for _ in range(5000):
            sent += greedy.sock.send(frame)
    except BlockingIOError:
        pass
    assert sent > 0
    assert_master_serves(srv, ctl_path)
    greedy.close()
    assert_master_serves(srv, ctl_path)


# --- narwhalc ----------------------------------------------------------------------------------
def run_narwhalc(*args, timeout=20):
    return subprocess.run(narwhalc_command() + list(args), cwd=str(APPS_DIR), env=base_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_narwhalc_one_command_and_json(control_server, ctl_path):
    srv = control_server()
    pids = wait_worker_pids(srv, ctl_path, 2)
    text = run_narwhalc("-s", str(ctl_path), "-c", "show workers")
    assert text.returncode == 0, text.stderr
    assert "PID" in text.stdout and "Total: 2 workers" in text.stdout
    for pid in pids:
        assert str(pid) in text.stdout
    as_json = run_narwhalc("-s", str(ctl_path), "-c", "show workers", "-j")
    assert as_json.returncode == 0
    assert sorted(w["pid"] for w in json.loads(as_json.stdout)["workers"]) == pids
    words = run_narwhalc("-s", str(ctl_path), "-j", "show", "stats")  # words after the options
    assert json.loads(words.stdout)["pid"] == srv.pid
    failed = run_narwhalc("-s", str(ctl_path), "-c", "frobnicate")
    assert failed.returncode == 1
    assert "Error: Invalid argument: Unknown command: frobnicate" in failed.stderr
    missing = run_narwhalc("-s", str(ctl_path) + ".missing", "-c", "help")
    assert missing.returncode == 1 and "Failed to connect" in missing.stderr


def test_narwhalc_interactive(control_server, ctl_path):
    control_server()
    proc = subprocess.run(narwhalc_command() + ["-s", str(ctl_path)], input="show stats\nworker add\nquit\n",
                          env=base_env({"HOME": str(ctl_path.parent)}), capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert "Connected to %s" % ctl_path in proc.stdout
    assert "Workers target:   2" in proc.stdout
    assert '"added": 1' in proc.stdout


def test_narwhalc_top_in_a_pseudo_terminal(control_server, ctl_path):
    srv = control_server(workers=1)
    conn = slow_request(srv, "/sleep?s=4&top")
    time.sleep(0.3)
    pid, fd = pty.fork()
    if pid == 0:  # the child: narwhalc top on the pty
        env = base_env({"COLUMNS": "120", "LINES": "30", "TERM": "xterm"})
        command = narwhalc_command() + ["-s", str(ctl_path), "top"]
        try:
            os.execvpe(command[0], command, env)
        finally:
            os._exit(127)
    output = b""
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and b"/sleep?s=4&top" not in output:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break
        text = output.decode("utf-8", "replace")
        assert "/sleep?s=4&top" in text, text
        assert "req/s" in text and "IN-FLIGHT" in text
        assert str(children_of(srv.pid)[0]) in text
        os.write(fd, b"q")
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                select.select([fd], [], [], 0.2)
                os.read(fd, 65536)
            except OSError:
                pass
        assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    conn.read_response()
