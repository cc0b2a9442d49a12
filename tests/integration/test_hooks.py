"""gunicorn's server hooks from a config file: order, arguments, the server/worker/req/resp
objects, and hooks that raise (docs/hooks.md)."""

import json
import os
import signal
import textwrap
import time

import pytest

from harness import APPS_DIR, free_port, wait_until

# Every hook appends one JSON line to EVENTS: [hook name, pid, details...].
HOOKS_CONFIG = '''
import json, os
EVENTS = {events!r}

def record(*fields):
    with open(EVENTS, "a") as f:
        f.write(json.dumps([fields[0], os.getpid()] + list(fields[1:])) + "\\n")

def on_starting(server):
    record("on_starting", server.pid, server.cfg.workers, server.cfg.bind, server.num_workers,
           server.cfg.proc_name)
    server.log.info("narwhal-hook-log %s", "from on_starting")

def when_ready(server):
    record("when_ready", server.pid)

def pre_fork(server, worker):
    record("pre_fork", worker.age)

def post_fork(server, worker):
    record("post_fork", worker.pid, worker.ppid, worker.age, worker.cfg.timeout)

def post_worker_init(worker):
    record("post_worker_init", worker.pid, worker.wsgi is not None, worker.booted)

def pre_request(worker, req):
    record("pre_request", req.method, req.uri, req.path, req.query, list(req.version),
           [list(h) for h in req.headers])

def post_request(worker, req, environ, resp):
    record("post_request", req.path, environ["PATH_INFO"] if environ else None, resp.status,
           resp.status_code)

def worker_int(worker):
    record("worker_int", worker.pid)

def worker_exit(server, worker):
    record("worker_exit", worker.pid)

def child_exit(server, worker):
    record("child_exit", worker.pid, worker.age)

def nworkers_changed(server, new_value, old_value):
    record("nworkers_changed", new_value, old_value)

def on_exit(server):
    record("on_exit")
'''

# An app module that records when (and in which process) it is imported.
RECORDING_APP = '''
import json, os
with open({events!r}, "a") as f:
    f.write(json.dumps(["import", os.getpid()]) + "\\n")

def app(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def read_events(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def names(events):
    return [event[0] for event in events]


def wait_for_event(path, name, timeout=5.0):
    return wait_until(lambda: [e for e in read_events(path) if e[0] == name], timeout,
                      message="the %s hook" % name)


def setup_files(tmp_path, config_text=HOOKS_CONFIG):
    events = tmp_path / "events.jsonl"
    (tmp_path / "hooks_conf.py").write_text(config_text.format(events=str(events)))
    (tmp_path / "recording_app.py").write_text(RECORDING_APP.format(events=str(events)))
    return events


def test_hooks_order_and_arguments(server_factory, tmp_path):
    events = setup_files(tmp_path)
    srv = server_factory("-w", "1", "-c", str(tmp_path / "hooks_conf.py"), "recording_app:app", cwd=tmp_path)
    r = srv.get("/some/path?x=1", headers={"X-Custom": "yes"})
    assert r.status_code == 200
    worker = int(r.text)
    wait_for_event(events, "post_request")
    assert srv.terminate() == 0
    log = srv.stderr_text()
    assert "narwhal-hook-log from on_starting" in log

    found = read_events(events)
    assert names(found) == [
        "nworkers_changed", "on_starting", "when_ready", "pre_fork", "post_fork", "import",
        "post_worker_init", "pre_request", "post_request", "worker_exit", "child_exit", "on_exit"]
    by_name = {event[0]: event for event in found}
    master = srv.pid
    assert by_name["nworkers_changed"] == ["nworkers_changed", master, 1, None]
    assert by_name["on_starting"] == ["on_starting", master, master, 1, ["127.0.0.1:%d" % srv.port], 1,
                                      "recording_app:app"]
    assert by_name["when_ready"][1] == master
    assert by_name["pre_fork"] == ["pre_fork", master, 1]
    assert by_name["post_fork"] == ["post_fork", worker, worker, master, 1, 30]
    assert by_name["import"][1] == worker  # not preloaded: imported in the worker, after post_fork
    assert by_name["post_worker_init"] == ["post_worker_init", worker, worker, True, True]
    pre = by_name["pre_request"]
    assert pre[1:6] == [worker, "GET", "/some/path?x=1", "/some/path", "x=1"]
    assert pre[6] == [1, 1]
    assert ["X-CUSTOM", "yes"] in pre[7] and ["HOST", "127.0.0.1:%d" % srv.port] in pre[7]
    assert by_name["post_request"] == ["post_request", worker, "/some/path", "/some/path", "200 OK", 200]
    assert by_name["worker_exit"] == ["worker_exit", worker, worker]
    assert by_name["child_exit"] == ["child_exit", master, worker, 1]
    assert by_name["on_exit"][1] == master


def test_hooks_order_with_preload(server_factory, tmp_path):
    events = setup_files(tmp_path)
    srv = server_factory("-w", "1", "--preload", "-c", str(tmp_path / "hooks_conf.py"), "recording_app:app",
                         cwd=tmp_path)
    worker = int(srv.get("/").text)
    wait_for_event(events, "post_request")
    found = read_events(events)
    assert names(found)[:7] == ["nworkers_changed", "import", "on_starting", "when_ready", "pre_fork",
                                "post_fork", "post_worker_init"]
    assert found[1] == ["import", srv.pid]  # preloaded: in the master, before on_starting
    assert found[6] == ["post_worker_init", worker, worker, True, True]


# gunicorn's Arbiter.start: "Starting" → pid file → on_starting → signals → listeners →
# "Listening at" → "Using worker" → when_ready; a preloaded app (Arbiter.setup) comes first.
ORDER_CONFIG = '''
import os, socket

def state():
    probe = socket.socket()
    probe.settimeout(1)
    try:
        listening = probe.connect_ex(("127.0.0.1", {port})) == 0
    finally:
        probe.close()
    return "pidfile=%s listening=%s" % (os.path.exists({pidfile!r}), listening)

def on_starting(server):
    server.log.info("order: on_starting %s", state())

def when_ready(server):
    server.log.info("order: when_ready %s", state())

def on_exit(server):
    server.log.info("order: on_exit %s", state())
'''

ORDER_APP = '''
import sys
print("order: app imported", file=sys.stderr, flush=True)

def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
'''


def start_up_lines(log, needles):
    lines = log.splitlines()
    positions = []
    for needle in needles:
        found = [i for i, line in enumerate(lines) if needle in line]
        assert found, "%r not in the log:\n%s" % (needle, log)
        positions.append(found[0])
    return [lines[i] for i in positions], positions


@pytest.mark.parametrize("preload", [False, True])
def test_start_up_order_matches_gunicorn(server_factory, tmp_path, preload):
    port = free_port()
    pidfile = tmp_path / "narwhal.pid"
    (tmp_path / "order_conf.py").write_text(ORDER_CONFIG.format(port=port, pidfile=str(pidfile)))
    (tmp_path / "order_app.py").write_text(ORDER_APP)
    args = ["-w", "1", "-c", str(tmp_path / "order_conf.py"), "-p", str(pidfile)]
    srv = server_factory(*(args + (["--preload"] if preload else []) + ["order_app:app"]), cwd=tmp_path,
                         port=port)
    assert srv.get("/").text == "ok"
    log = srv.wait_for_stderr("Booting worker")
    needles = ["Starting narwhal", "order: on_starting", "Listening at:", "Using worker:",
               "order: when_ready", "Booting worker"]
    lines, positions = start_up_lines(log, needles)
    assert positions == sorted(positions), lines
    assert "order: on_starting pidfile=True listening=False" in lines[1]
    assert "order: when_ready pidfile=True listening=True" in lines[4]
    imported = start_up_lines(log, ["order: app imported"])[1][0]
    if preload:
        assert imported < positions[0]  # Arbiter.setup, before Arbiter.start
    else:
        assert imported > positions[-1]  # in the worker
    assert srv.terminate() == 0
    log = srv.stderr_text()
    lines, positions = start_up_lines(log, ["Shutting down: Master", "order: on_exit"])
    assert positions == sorted(positions)
    assert "pidfile=False listening=False" in lines[1]  # after the pid file and sockets are gone


def test_nworkers_changed_on_ttin_ttou(server_factory, tmp_path):
    events = setup_files(tmp_path)
    srv = server_factory("-w", "1", "-c", str(tmp_path / "hooks_conf.py"), "recording_app:app", cwd=tmp_path)
    os.kill(srv.pid, signal.SIGTTIN)
    wait_until(lambda: len([e for e in read_events(events) if e[0] == "post_worker_init"]) == 2, 5,
               message="a second worker")
    os.kill(srv.pid, signal.SIGTTOU)
    wait_for_event(events, "child_exit")
    changes = [e[2:] for e in read_events(events) if e[0] == "nworkers_changed"]
    assert changes == [[1, None], [2, 1], [1, 2]]


def test_worker_int_hook_on_sigint(server_factory, tmp_path):
    events = setup_files(tmp_path)
    srv = server_factory("-w", "1", "-c", str(tmp_path / "hooks_conf.py"), "recording_app:app", cwd=tmp_path)
    worker = int(srv.get("/").text)
    os.kill(worker, signal.SIGINT)
    wait_for_event(events, "child_exit")
    found = read_events(events)
    assert ["worker_int", worker, worker] in found
    assert ["worker_exit", worker, worker] in found
    assert names(found).index("worker_int") < names(found).index("worker_exit")

    def replaced():
        try:
            return int(srv.get("/", timeout=2).text) != worker
        except Exception:
            return False
    wait_until(replaced, 10, message="a replacement worker")


FAILING_CONFIG = '''
def post_fork(server, worker):
    raise RuntimeError("narwhal-post-fork-failure")

def pre_request(worker, req):
    raise ValueError("narwhal-pre-request-failure")

def post_request(worker, req):  # two arguments: gunicorn accepts 2, 3 or 4
    worker.log.warning("narwhal-post-request-2-args %s", req.path)

def when_ready(server):
    server.log.exception("never raised")
    raise KeyError("narwhal-when-ready-failure")
'''


def test_raising_hooks_are_logged_not_fatal(server_factory, tmp_path):
    (tmp_path / "failing_conf.py").write_text(FAILING_CONFIG)
    srv = server_factory("-w", "1", "-c", str(tmp_path / "failing_conf.py"), "wsgi_basic:app", cwd=APPS_DIR)
    for _ in range(2):
        r = srv.get("/hello")
        assert r.status_code == 200 and r.text == "hello"
    log = srv.wait_for_stderr("narwhal-post-request-2-args /hello")
    for needle in ("Exception in post_fork hook", "narwhal-post-fork-failure",
                   "Exception in pre_request hook", "narwhal-pre-request-failure",
                   "Exception in when_ready hook", "narwhal-when-ready-failure", "Traceback"):
        assert needle in log, needle
    assert srv.proc.poll() is None


def test_no_hooks_configured_costs_nothing_visible(basic_server):
    # Without a config file no hook runs and nothing about hooks is logged.
    assert basic_server.get("/hello").text == "hello"
    assert "hook" not in basic_server.stderr_text().lower()


RELOAD_CONFIG = HOOKS_CONFIG + '''
def on_reload(server):
    record("on_reload", server.pid, server.cfg.workers)

def pre_exec(server):
    record("pre_exec", server.pid)
'''


def test_on_reload_hook_on_sighup(server_factory, tmp_path):
    events = setup_files(tmp_path, RELOAD_CONFIG)
    srv = server_factory("-w", "1", "-c", str(tmp_path / "hooks_conf.py"), "recording_app:app", cwd=tmp_path)
    wait_for_event(events, "post_worker_init")
    os.kill(srv.pid, signal.SIGHUP)
    wait_for_event(events, "on_reload")
    wait_until(lambda: len([e for e in read_events(events) if e[0] == "post_worker_init"]) == 2, 5,
               message="a worker forked after the reload")
    found = read_events(events)
    assert ["on_reload", srv.pid, srv.pid, 1] in found
    order = names(found)
    assert order.index("on_reload") < len(order) - 1 - order[::-1].index("pre_fork")


def test_pre_exec_hook_on_usr2(server_factory, tmp_path):
    events = setup_files(tmp_path, RELOAD_CONFIG)
    srv = server_factory("-w", "1", "-c", str(tmp_path / "hooks_conf.py"), "recording_app:app", cwd=tmp_path)
    wait_for_event(events, "post_worker_init")
    os.kill(srv.pid, signal.SIGUSR2)
    event = wait_for_event(events, "pre_exec")[0]
    assert event[2] == srv.pid and event[1] != srv.pid  # in the forked child, with the master's server


def test_worker_int_interrupts_the_request_in_the_app(server_factory, tmp_path):
    # gunicorn's handle_quit runs inside the app: INT does not wait for the request in flight.
    marker = tmp_path / "worker_int.txt"
    conf = tmp_path / "int_conf.py"
    conf.write_text(textwrap.dedent('''
        def worker_int(worker):
            with open(%r, "w") as f:
                f.write(str(worker.pid))
    ''' % str(marker)))
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app", cwd=APPS_DIR)
    worker = int(srv.get("/pid").text)
    with srv.raw(timeout=10) as conn:
        conn.send(b"GET /sleep?s=8 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)  # the worker is in time.sleep() inside the app now
        started = time.monotonic()
        os.kill(worker, signal.SIGINT)

        def gone():
            try:
                with open("/proc/%d/stat" % worker) as f:
                    return f.read().split(")")[1].split()[0] == "Z"
            except (FileNotFoundError, ProcessLookupError):
                return True
        wait_until(gone, 5, message="the worker to exit")
        assert time.monotonic() - started < 3, "INT waited for the request in the app"
    assert marker.read_text() == str(worker)
    wait_until(lambda: srv.get("/pid", timeout=2).status_code == 200, 10, message="a new worker")
