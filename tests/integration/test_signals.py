"""The master's signals, as in gunicorn (docs/signals.md): TERM drains, INT/QUIT stop at once,
HUP reloads the settings and the app, TTIN/TTOU, USR1 reopens logs, USR2 upgrades the binary;
sd_notify and systemd socket activation."""

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import APPS_DIR, base_env, free_port, narwhal_binary, port_accepts, wait_until
from loadgen import children_of, pid_alive, read_pid
from rawhttp import RawConnection


def get_text(server, path="/hello"):
    response = server.get(path, headers={"Connection": "close"}, timeout=5)
    assert response.status_code == 200
    return response.text


def wait_workers(master, count, timeout=10, without=()):
    def workers():
        pids = children_of(master)
        return len(pids) == count and not set(pids) & set(without) and pids
    return wait_until(workers, timeout, message="%d workers of %d" % (count, master))


# --- TERM, INT, QUIT ---------------------------------------------------------------------------
@pytest.mark.sync_only("the queued request waits only because the one sync app slot is busy")
def test_term_drains_inflight_and_queued_requests_then_exits_0(server_factory):
    srv = server_factory("-w", "1", "--keep-alive", "5", "wsgi_basic:app")
    slow = RawConnection("127.0.0.1", srv.port, timeout=10)
    slow.send(b"GET /sleep?s=1 HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive, in the app now
    time.sleep(0.3)
    queued = RawConnection("127.0.0.1", srv.port, timeout=10)  # in the backlog: the worker is busy
    queued.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    started = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    first = slow.read_response()
    second = queued.read_response()
    assert (first.status, first.body) == (200, b"slept")
    assert (second.status, second.body) == (200, b"hello")
    assert "close" in second.connection_tokens()
    # The slow request was in the app when TERM came: its response is framed afterwards, so it
    # says Connection: close too and the connection ends cleanly after it.
    assert "close" in first.connection_tokens()
    assert slow.is_closed() and queued.is_closed()
    assert srv.proc.wait(10) == 0, srv.stderr_text()
    assert time.monotonic() - started < 5
    assert "Handling signal: term" in srv.stderr_text()
    assert not port_accepts(srv.port)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGQUIT])
def test_int_and_quit_stop_at_once(server_factory, signal_number):
    srv = server_factory("-w", "2", "wsgi_basic:app")
    slow = RawConnection("127.0.0.1", srv.port, timeout=10)
    slow.send(b"GET /sleep?s=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    started = time.monotonic()
    srv.proc.send_signal(signal_number)
    assert srv.proc.wait(5) == 0, srv.stderr_text()
    assert time.monotonic() - started < 2  # the 5 s request was not waited for
    assert slow.is_closed()


def test_ctrl_c_to_the_process_group_stops_without_respawning(server_factory, tmp_path):
    """A terminal's Ctrl-C sends SIGINT to the whole group: the workers stop at the same time as
    the master learns of it, and must not be replaced; each logs "Worker exiting" (gunicorn)."""
    from harness import timing_factor
    conf = tmp_path / "ready_conf.py"
    conf.write_text("import os\n\ndef post_worker_init(worker):\n"
                    "    open(os.path.join(%r, 'ready-%%d' %% os.getpid()), 'w').close()\n" % str(tmp_path))
    for attempt in range(3):  # the race showed in about half the runs
        for ready in tmp_path.glob("ready-*"):
            ready.unlink()
        srv = server_factory("-w", "4", "-c", str(conf), "wsgi_basic:app")
        # booted: post_worker_init ran, the worker's handlers follow at once (a worker still
        # importing the app would just die of the SIGINT)
        wait_until(lambda: len(list(tmp_path.glob("ready-*"))) == 4, 30, message="4 booted workers")
        time.sleep(0.3 * timing_factor())
        os.killpg(srv.pid, signal.SIGINT)
        assert srv.proc.wait(10 * timing_factor()) == 0, srv.stderr_text()
        log = srv.stderr_text()
        booted = [line for line in log.splitlines() if "Booting worker" in line]
        assert len(booted) == 4, (attempt, log)
        assert log.count("Worker exiting (pid: ") == 4, (attempt, log)
        assert "[ERROR]" not in log, log
        srv.stop()


def test_quick_hups_retire_booting_workers_without_errors(server_factory, tmp_path):
    """HUPs in quick succession retire workers that are still importing the app (no handlers
    yet): a retirement the master asked for is logged at INFO, not as an error."""
    (tmp_path / "slow_boot.py").write_text(
        "import time\ntime.sleep(0.4)\n\n"
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Length', '2')])\n"
        "    return [b'ok']\n")
    srv = server_factory("-w", "2", "--graceful-timeout", "5", "slow_boot:app", cwd=tmp_path)
    for _ in range(4):
        os.kill(srv.pid, signal.SIGHUP)
        time.sleep(0.15)
    wait_until(lambda: srv.get("/", timeout=5).text == "ok", 10, message="serving after the HUPs")
    time.sleep(1.0)
    log = srv.stderr_text()
    assert "[ERROR]" not in log, log
    assert "was sent SIGTERM!" in log, log  # some were retired while booting (INFO)


# --- HUP ---------------------------------------------------------------------------------------
RELOAD_APP = '''
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "value.txt")) as f:
    VALUE = f.read().strip()

def app(environ, start_response):
    body = ("%s %d" % (VALUE, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def test_hup_reloads_the_config_file_and_reimports_the_app(server_factory, tmp_path):
    (tmp_path / "reload_app.py").write_text(RELOAD_APP)
    (tmp_path / "value.txt").write_text("before")
    (tmp_path / "conf.py").write_text("workers = 1\n")
    srv = server_factory("-c", "conf.py", "reload_app:app", cwd=tmp_path)
    [old_worker] = wait_workers(srv.pid, 1)
    assert get_text(srv) == "before %d" % old_worker

    (tmp_path / "conf.py").write_text("workers = 3\n")
    (tmp_path / "value.txt").write_text("after")
    srv.proc.send_signal(signal.SIGHUP)
    new_workers = wait_workers(srv.pid, 3, without=[old_worker])
    wait_until(lambda: not pid_alive(old_worker), 5, message="the old worker to exit")
    for _ in range(6):
        value, pid = get_text(srv).split()
        assert value == "after" and int(pid) in new_workers
    srv.wait_for_stderr("Hang up: Master")


def test_hup_with_a_broken_config_keeps_serving(server_factory, tmp_path):
    (tmp_path / "conf.py").write_text("workers = 1\n")
    srv = server_factory("-c", str(tmp_path / "conf.py"), "wsgi_basic:app")
    [worker] = wait_workers(srv.pid, 1)
    (tmp_path / "conf.py").write_text("workers = = 2\n")
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_stderr("Reload failed: keeping the current configuration")
    assert children_of(srv.pid) == [worker]
    assert get_text(srv) == "hello"


def test_hup_rebinds_when_bind_changes(server_factory, tmp_path):
    port_a, port_b = free_port(), free_port()
    conf = tmp_path / "conf.py"
    conf.write_text("bind = ['127.0.0.1:%d']\n" % port_a)
    srv = server_factory("-c", str(conf), "wsgi_basic:app", bind=False, port=port_a)
    conf.write_text("bind = ['127.0.0.1:%d', '127.0.0.1:%d']\n" % (port_a, port_b))
    srv.proc.send_signal(signal.SIGHUP)
    srv.wait_for_stderr("Listening at: http://127.0.0.1:%d,http://127.0.0.1:%d" % (port_a, port_b))
    for port in (port_a, port_b):
        with RawConnection("127.0.0.1", port, timeout=10) as connection:
            assert connection.request("GET", "/hello").body == b"hello"
    conf.write_text("bind = ['127.0.0.1:%d']\n" % port_b)
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: not port_accepts(port_a), 10, message="the dropped address to close")
    with RawConnection("127.0.0.1", port_b, timeout=10) as connection:
        assert connection.request("GET", "/hello").body == b"hello"


# --- TTIN, TTOU ------------------------------------------------------------------------------------
def test_ttin_adds_a_worker_and_ttou_stops_the_oldest(server_factory):
    srv = server_factory("-w", "1", "wsgi_basic:app")
    [first] = wait_workers(srv.pid, 1)
    srv.proc.send_signal(signal.SIGTTIN)
    second = [pid for pid in wait_workers(srv.pid, 2) if pid != first][0]
    srv.proc.send_signal(signal.SIGTTOU)
    assert wait_workers(srv.pid, 1) == [second]
    assert get_text(srv) == "hello"


# --- USR1 --------------------------------------------------------------------------------------
def test_usr1_reopens_the_access_log(server_factory, tmp_path):
    log = tmp_path / "access.log"
    srv = server_factory("-w", "1", "--access-logfile", str(log), "wsgi_basic:app")
    get_text(srv, "/hello?before")
    wait_until(lambda: log.exists() and "before" in log.read_text(), 5, message="the first access line")
    log.rename(tmp_path / "access.log.1")
    srv.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: log.exists(), 5, message="the master to reopen the log")
    time.sleep(1.2)  # a worker checks for USR1 at least once a second
    get_text(srv, "/hello?after")
    wait_until(lambda: "after" in log.read_text(), 5, message="the access line in the new file")
    assert "after" not in (tmp_path / "access.log.1").read_text()


# --- USR2 --------------------------------------------------------------------------------------
def test_usr2_starts_a_new_master_and_term_to_the_old_one_hands_over(server_factory, tmp_path):
    pidfile = tmp_path / "narwhal.pid"
    srv = server_factory("-w", "2", "-p", str(pidfile), "wsgi_basic:app")
    old = srv.pid
    assert read_pid(pidfile) == old
    errors, served = [], []
    done = threading.Event()

    def client():
        while not done.is_set():
            try:
                served.append(get_text(srv, "/pid"))
            except Exception as error:
                errors.append(error)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        srv.proc.send_signal(signal.SIGUSR2)
        new = wait_until(lambda: read_pid(str(pidfile) + ".2"), 10, message="<pidfile>.2")
        with open("/proc/%d/stat" % new) as stat:
            assert int(stat.read().rsplit(")", 1)[1].split()[1]) == old  # a child of the old master
        new_workers = wait_workers(new, 2, timeout=15)
        time.sleep(1.0)  # they import the app; the old workers still take the connections
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(10) == 0
        wait_until(lambda: read_pid(pidfile) == new, 5, message="the new master to take the pid file")
        assert not Path(str(pidfile) + ".2").exists()
        count = len(served)
        wait_until(lambda: len(served) > count + 20, 5, message="requests after the handover")
        assert {int(pid) for pid in served[count:]} <= set(new_workers)
    finally:
        done.set()
        thread.join(10)
    assert not errors, errors[:3]
    text = srv.stderr_text()
    assert "Master has been promoted." in text and "USR2 signal ignored" not in text
    os.kill(new, signal.SIGTERM)
    wait_until(lambda: not pid_alive(new), 10, message="the new master to exit")
    assert not pidfile.exists()


# --- systemd -----------------------------------------------------------------------------------
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(10)
    return sock, path


def receive_until(sock, needle):
    messages = []
    while not any(needle in message for message in messages):
        messages.append(sock.recv(4096).decode())
    return messages


def test_sd_notify_ready_reloading_stopping(server_factory, tmp_path):
    sock, path = notify_socket(tmp_path)
    with sock:
        srv = server_factory("-w", "1", "wsgi_basic:app", env={"NOTIFY_SOCKET": path})
        assert "READY=1" in receive_until(sock, "READY=1")[0]
        srv.proc.send_signal(signal.SIGHUP)
        messages = receive_until(sock, "READY=1")
        assert messages[0].startswith("RELOADING=1")
        srv.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in receive_until(sock, "STOPPING=1")[-1]
        assert srv.proc.wait(10) == 0


def test_systemd_socket_activation_and_usr2_with_listen_fds(tmp_path):
    port = free_port()
    pidfile = tmp_path / "narwhal.pid"
    command = ["systemd-socket-activate", "-l", "127.0.0.1:%d" % port,
               str(narwhal_binary()), "-w", "1", "-p", str(pidfile), "wsgi_basic:app"]
    stderr = open(tmp_path / "stderr.log", "wb")
    proc = subprocess.Popen(command, cwd=str(APPS_DIR), env=base_env(), stdin=subprocess.DEVNULL,
                            stdout=stderr, stderr=stderr, start_new_session=True)
    try:
        wait_until(lambda: port_accepts(port), 10, message="systemd-socket-activate to listen")
        # The first connection starts narwhal, which adopts the socket (LISTEN_FDS) and serves it.
        with RawConnection("127.0.0.1", port, timeout=15) as connection:
            response = connection.request("GET", "/hello")
        assert (response.status, response.body) == (200, b"hello")
        assert read_pid(pidfile) == proc.pid  # systemd-socket-activate exec'd narwhal
        # USR2 hands the systemd socket over as LISTEN_FDS=1 on fd 3.
        proc.send_signal(signal.SIGUSR2)
        new = wait_until(lambda: read_pid(str(pidfile) + ".2"), 10, message="<pidfile>.2")
        wait_workers(new, 1, timeout=15)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        wait_until(lambda: read_pid(pidfile) == new, 5, message="the new master to take the pid file")
        with RawConnection("127.0.0.1", port, timeout=15) as connection:
            response = connection.request("GET", "/pid")
        assert response.status == 200 and int(response.body) in children_of(new)
        os.kill(new, signal.SIGTERM)
        wait_until(lambda: not pid_alive(new), 10, message="the new master to exit")
        log = (tmp_path / "stderr.log").read_text()
        assert log.count("Listening at: http://127.0.0.1:%d" % port) == 2, log
    finally:
        # the whole group: a new master outlives the old one (proc)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        stderr.close()
