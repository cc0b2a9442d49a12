"""Process management: worker timeouts (tracebacks + worker_abort), crashes, boot failures,
process titles, daemon mode, user/group, umask, reuse_port, --reload, worker_tmp_dir."""

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from harness import APPS_DIR, base_env, free_port, narwhal_binary, wait_until

PROCESS_APP = '''
import ctypes, os, time

def narwhal_stuck_function():
    time.sleep(100)

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/stuck":
        narwhal_stuck_function()
    elif path == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or "0.3"))
    elif path == "/segv":
        ctypes.string_at(0)
    elif path == "/abort":
        os.abort()
    elif path == "/exit5":
        os._exit(5)
    if path == "/ids":
        body = "%d %d %d" % (os.getpid(), os.getuid(), os.getgid())
    else:
        body = str(os.getpid())
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body.encode()]
'''

ABORT_CONFIG = '''
def worker_abort(worker):
    worker.log.info("narwhal-worker-abort-hook pid=%s", worker.pid)
'''


@pytest.fixture
def app_dir():
    # Directly under /tmp with mode 0755: the -u nobody worker must be able to import from it
    # (pytest's tmp_path lives in a 0700 directory).
    path = Path(tempfile.mkdtemp(prefix="narwhal-it-app-"))
    try:
        os.chmod(path, 0o755)
        (path / "process_app.py").write_text(PROCESS_APP)
        os.chmod(path / "process_app.py", 0o644)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def get_pid(server, path="/", timeout=5):
    return int(server.get(path, timeout=timeout, headers={"Connection": "close"}).text)


def new_pid_after(server, old, timeout=10):
    def other():
        try:
            pid = get_pid(server, timeout=2)
        except Exception:
            return None
        return pid if pid != old else None
    return wait_until(other, timeout, interval=0.1, message="a replacement worker")


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")[0].decode()


def parent_pid(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


# --------------------------------------------------------------------------- timeouts
def test_timeout_logs_tracebacks_runs_worker_abort_and_replaces(server_factory, app_dir):
    (app_dir / "abort_conf.py").write_text(ABORT_CONFIG)
    srv = server_factory("-w", "2", "--timeout", "2", "-c", str(app_dir / "abort_conf.py"),
                         "process_app:app", cwd=app_dir)
    stuck = {}

    def call_stuck():
        try:
            stuck["response"] = srv.get("/stuck", timeout=15)
        except Exception as error:
            stuck["error"] = error
    thread = threading.Thread(target=call_stuck)
    thread.start()
    time.sleep(0.3)
    # The other worker goes on serving short requests while the stuck one is detected and killed.
    served = set()
    deadline = time.monotonic() + 10
    while "WORKER TIMEOUT" not in srv.stderr_text() or thread.is_alive():
        assert time.monotonic() < deadline, srv.stderr_text()
        served.add(get_pid(srv, "/sleep", timeout=5))
    thread.join(5)
    assert "error" in stuck or stuck["response"].status_code >= 500
    log = srv.wait_for_stderr("narwhal-worker-abort-hook")
    assert "WORKER TIMEOUT (pid:" in log
    stuck_pid = int(log.split("WORKER TIMEOUT (pid:")[1].split(")")[0])
    assert stuck_pid not in served
    assert "narwhal_stuck_function" in log and "time.sleep(100)" in log
    assert log.index("narwhal_stuck_function") < log.index("narwhal-worker-abort-hook")
    assert "narwhal-worker-abort-hook pid=%d" % stuck_pid in log
    assert "handle_abort" not in log  # the handler's own frames are left out
    # a new worker replaces the aborted one
    wait_until(lambda: "Booting worker" in srv.stderr_text().split("WORKER TIMEOUT")[1], 5,
               message="a replacement worker")
    pids = {get_pid(srv) for _ in range(6)}
    assert stuck_pid not in pids
    assert srv.proc.poll() is None


# --------------------------------------------------------------------------- crashes
@pytest.mark.parametrize("path,needle", [
    ("/segv", "was sent SIGSEGV!"),
    ("/abort", "was sent SIGABRT!"),
    ("/exit5", "exited with code 5"),
])
def test_crashing_worker_is_logged_and_replaced(server_factory, app_dir, path, needle):
    srv = server_factory("-w", "1", "process_app:app", cwd=app_dir)
    old = get_pid(srv)
    with pytest.raises(requests.RequestException):
        srv.get(path, timeout=5)
    log = srv.wait_for_stderr(needle)
    assert "Worker (pid:%d) %s" % (old, needle) in log
    new_pid_after(srv, old)
    assert srv.proc.poll() is None


def test_boot_failure_stops_master_with_clear_message(cli):
    p = cli("-w", "2", "-b", "127.0.0.1:%d" % free_port(), "broken_app:app", timeout=20)
    assert p.returncode == 3, p.stderr
    assert "narwhal-test-broken-import" in p.stderr
    assert "Reason: Worker failed to boot." in p.stderr


@pytest.mark.parametrize("app, reason", [
    ("wsgi_basic:nope", "Failed to find attribute 'nope' in 'wsgi_basic'."),
    ("factories:NOT_CALLABLE", "Application object must be callable."),
    ("factories:returns_none()", "Failed to find application object: 'returns_none()'"),
    ("factories:create_app()", "TypeError: create_app() missing 1 required positional argument: 'greeting'"),
    ("wsgi_basic:app(", "Failed to parse 'app(' as an attribute name or function call."),
])
@pytest.mark.parametrize("preload", [False, True])
def test_app_that_cannot_be_loaded_is_one_line_and_status_4(cli, app, reason, preload):
    """gunicorn's AppImportError: the reason on one line, no traceback through narwhal's glue,
    exit status 4 ("App failed to load." when a worker found it)."""
    extra = ("--preload",) if preload else ()
    p = cli("-w", "2", "-b", "127.0.0.1:%d" % free_port(), *extra, app, timeout=20)
    assert p.returncode == 4, p.stderr
    assert reason in p.stderr.splitlines(), p.stderr
    assert "Traceback" not in p.stderr and "_glue" not in p.stderr, p.stderr
    if not preload:
        assert "Reason: App failed to load." in p.stderr


def test_factory_failing_inside_keeps_its_traceback(cli):
    p = cli("-w", "1", "-b", "127.0.0.1:%d" % free_port(), "factories:failing_factory()", timeout=20)
    assert p.returncode == 3, p.stderr
    assert "Traceback" in p.stderr and "narwhal-test-factory-broke" in p.stderr
    assert "Reason: Worker failed to boot." in p.stderr


def test_factory_with_arguments_serves(server_factory):
    srv = server_factory("-w", "1", "factories:create_app('hi there')")
    assert srv.get("/").text == "hi there"


def test_no_app_module_is_gunicorns_error(cli):
    p = cli("-b", "127.0.0.1:%d" % free_port(), timeout=20)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip() == "Error: No application module specified.", p.stderr


# --------------------------------------------------------------------------- titles
def test_process_titles(server_factory, app_dir):
    srv = server_factory("-w", "1", "process_app:app", cwd=app_dir)
    worker = get_pid(srv)
    assert cmdline(srv.pid) == "narwhal: master [process_app:app]"
    assert cmdline(worker) == "narwhal: worker [process_app:app]"
    ps = subprocess.run(["ps", "-o", "args=", "-p", str(srv.pid)], capture_output=True, text=True)
    assert ps.stdout.strip() == "narwhal: master [process_app:app]"
    with open("/proc/%d/comm" % worker) as f:
        assert f.read().strip() == "narwhal: worker"


def test_proc_name_setting(server_factory, app_dir):
    srv = server_factory("-w", "1", "-n", "shop-api", "process_app:app", cwd=app_dir)
    worker = get_pid(srv)
    assert cmdline(srv.pid) == "narwhal: master [shop-api]"
    assert cmdline(worker) == "narwhal: worker [shop-api]"


# --------------------------------------------------------------------------- daemon
def test_daemon_returns_at_once_and_serves(app_dir, tmp_path):
    port = free_port()
    pidfile = tmp_path / "narwhal.pid"
    errorlog = tmp_path / "error.log"
    cmd = [str(narwhal_binary()), "-D", "--pid", str(pidfile), "--error-logfile", str(errorlog),
           "-b", "127.0.0.1:%d" % port, "-w", "1", "process_app:app"]
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=str(app_dir), env=base_env(), stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 5
    master = None
    try:
        def serving():
            try:
                return int(requests.get("http://127.0.0.1:%d/" % port, timeout=2).text)
            except Exception:
                return None
        worker = wait_until(serving, 10, message="the daemon to serve")
        master = parent_pid(worker)
        wait_until(pidfile.exists, 5, message="the pid file")
        assert int(pidfile.read_text().strip()) == master
        with open("/proc/%d/stat" % master) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        assert int(fields[3]) != os.getsid(0)   # its own session (setsid)
        assert int(fields[1]) == 1 or int(fields[1]) != os.getpid()  # detached from us
        assert os.readlink("/proc/%d/fd/0" % master) == "/dev/null"
        assert os.readlink("/proc/%d/fd/1" % master) == "/dev/null"
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)

        def gone():
            try:
                os.kill(master, 0)
            except ProcessLookupError:
                return True
            with open("/proc/%d/stat" % master) as f:  # a zombie waiting for init counts as gone
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        wait_until(gone, 10, message="the daemon to exit")
        assert "Shutting down: Master" in errorlog.read_text()
    finally:
        if master:
            with contextlib.suppress(ProcessLookupError):
                os.kill(master, signal.SIGKILL)


# --------------------------------------------------------------------------- user/group
@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_and_group_in_workers(server_factory, app_dir):
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    srv = server_factory("-w", "1", "-u", "nobody", "-g", "nogroup", "process_app:app", cwd=app_dir)
    pid, uid, gid = map(int, srv.get("/ids").text.split())
    assert (uid, gid) == (nobody.pw_uid, nogroup.gr_gid)
    with open("/proc/%d/status" % srv.pid) as f:
        status = f.read()
    assert "\nUid:\t0\t0\t0\t0\n" in status  # the master keeps its user
    with open("/proc/%d/status" % pid) as f:
        groups = [line for line in f if line.startswith("Groups:")][0].split()[1:]
    assert "0" not in groups  # root's supplementary groups are gone


# --------------------------------------------------------------------------- sockets
def test_umask_applies_to_unix_socket(server_factory, app_dir, tmp_path):
    path = tmp_path / "narwhal.sock"
    srv = server_factory("-w", "1", "-b", "unix:%s" % path, "-m", "0o077", "process_app:app",
                         cwd=app_dir, bind=False, start=False)
    srv._spawn()
    try:
        wait_until(path.exists, 10, message="the unix socket")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        with socket.socket(socket.AF_UNIX) as client:
            wait_until(lambda: client.connect_ex(str(path)) == 0, 5, message="the socket to accept")
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert client.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        srv.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_unix_socket_belongs_to_the_worker_user(server_factory, app_dir, tmp_path):
    # gunicorn chowns the socket file to -u/-g so a proxy running as that user can connect
    os.chmod(tmp_path, 0o755)
    path = tmp_path / "narwhal.sock"
    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup")
    srv = server_factory("-w", "1", "-b", "unix:%s" % path, "-u", "nobody", "-g", "nogroup",
                         "process_app:app", cwd=app_dir, bind=False, start=False)
    srv._spawn()
    try:
        wait_until(path.exists, 10, message="the unix socket")
        info = os.stat(path)
        assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nogroup.gr_gid)
    finally:
        srv.stop()


def test_reuse_port_lets_two_servers_share_a_port(server_factory, app_dir):
    first = server_factory("-w", "1", "--reuse-port", "process_app:app", cwd=app_dir)
    second = server_factory("-w", "1", "--reuse-port", "process_app:app", cwd=app_dir, port=first.port)
    # wait_ready saw the port accept, but that may have been the first server: wait for the
    # second one's worker too.
    second.wait_for_stderr("Booting worker", timeout=10)
    assert second.proc.poll() is None and first.proc.poll() is None
    masters = set()
    for _ in range(200):
        masters.add(parent_pid(get_pid(first)))
        if len(masters) == 2:
            break
    assert masters == {first.pid, second.pid}


# --------------------------------------------------------------------------- reload
RELOAD_APP = '''
import os
VERSION = "{version}"

def app(environ, start_response):
    body = ("%s %d" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''


@pytest.mark.parametrize("engine", ["inotify", "poll"])
def test_reload_restarts_worker_on_source_change(server_factory, tmp_path, engine):
    source = tmp_path / "reload_app.py"
    source.write_text(RELOAD_APP.format(version="v1"))
    srv = server_factory("-w", "1", "--reload", "--reload-engine", engine, "reload_app:app", cwd=tmp_path)
    version, pid = srv.get("/").text.split()
    assert version == "v1"
    time.sleep(1.2)  # let the reloader record the first mtimes
    source.write_text(RELOAD_APP.format(version="v2"))
    later = time.time() + 2
    os.utime(source, (later, later))

    def reloaded():
        try:
            return srv.get("/", timeout=2).text.split()
        except Exception:
            return None
    new_version, new_pid = wait_until(lambda: (reloaded() or ["", ""])[0] == "v2" and reloaded(), 10,
                                      message="the edited app")
    assert new_pid != pid
    assert "Worker reloading: %s modified" % source in srv.stderr_text()


@pytest.mark.parametrize("engine", ["inotify", "poll"])
def test_reload_serves_import_error_until_fixed(server_factory, tmp_path, engine):
    source = tmp_path / "reload_app.py"
    source.write_text("raise RuntimeError('narwhal-reload-broken')\n")
    srv = server_factory("-w", "1", "--reload", "--reload-engine", engine, "reload_app:app", cwd=tmp_path)
    r = srv.get("/")
    assert r.status_code == 500 and "narwhal-reload-broken" in r.text
    time.sleep(1.2)
    source.write_text(RELOAD_APP.format(version="fixed"))
    later = time.time() + 2
    os.utime(source, (later, later))

    def fixed():
        try:
            return srv.get("/", timeout=2).text.startswith("fixed ")
        except Exception:
            return False
    wait_until(fixed, 10, message="the fixed app")


# --------------------------------------------------------------------------- worker_tmp_dir
def test_worker_tmp_dir_must_exist(cli, server_factory, app_dir):
    p = cli("--worker-tmp-dir", "/nonexistent/narwhal", "-b", "127.0.0.1:%d" % free_port(),
            "process_app:app", cwd=app_dir, timeout=15)
    assert p.returncode == 1 and "worker_tmp_dir" in p.stderr
    srv = server_factory("-w", "1", "--worker-tmp-dir", "/dev/shm", "process_app:app", cwd=app_dir)
    get_pid(srv)
