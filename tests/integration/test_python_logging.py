"""Logging through Python `logging` (issue 15): logconfig (ini, fileConfig), logconfig_dict,
logconfig_json and logger_class send narwhal's error lines and access entries to the loggers
`gunicorn.error` and `gunicorn.access`, over gunicorn's defaults, as gunicorn's glogging.Logger
does: an access record's args are the atoms dict, a logger_class gets access(resp, req,
environ, request_time). Every worker type, HUP (a new configuration), USR1 (FileHandlers
reopened) and configuration errors (a clear message, exit status 1)."""

import concurrent.futures
import importlib.util
import json
import os
import signal
import textwrap

import pytest

from harness import free_port, wait_until
from loadgen import children_of, pid_alive


def lines_of(path, needle="", count=1, timeout=8):
    """The lines of `path` containing `needle`, once there are at least `count` of them."""
    def found():
        if not path.exists():
            return None
        lines = [line for line in path.read_text().splitlines() if needle in line]
        return lines if len(lines) >= count else None
    return wait_until(found, timeout, message="%d line(s) with %r in %s" % (count, needle, path))


def wait_workers(master, count, timeout=10, without=()):
    def workers():
        pids = children_of(master)
        return len(pids) == count and not set(pids) & set(without) and pids
    return wait_until(workers, timeout, message="%d workers of %d" % (count, master))


# A Formatter that reads record.args as gunicorn's atoms (the JSON-logging recipe users have).
JSON_FORMATTER = '''
import json
import logging


class JsonAccess(logging.Formatter):
    def format(self, record):
        atoms = record.args
        return json.dumps({
            "logger": record.name, "level": record.levelname, "pid": record.process,
            "remote": atoms["h"], "request": atoms["r"], "status": atoms["s"], "bytes": atoms["B"],
            "path": atoms["U"], "query": atoms["q"], "duration_us": atoms["D"],
            "agent": atoms["{user-agent}i"], "Agent": atoms["{User-Agent}i"],
            "content_type": atoms["{content-type}o"], "method_env": atoms["{request_method}e"],
            "missing": atoms["{x-missing}i"], "unknown_atom": atoms["zz"],
            "message": record.getMessage(),
        })
'''


def dict_config(tmp_path, access_log, error_log=None, extra=""):
    """A config file whose logconfig_dict sends access entries (JSON) and, if given, error
    lines to files."""
    handlers = {"access": {"class": "logging.FileHandler", "filename": str(access_log), "formatter": "json"}}
    loggers = {"gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False}}
    if error_log is not None:
        handlers["errors"] = {"class": "logging.FileHandler", "filename": str(error_log), "formatter": "plain"}
        loggers["gunicorn.error"] = {"level": "INFO", "handlers": ["errors"], "propagate": False}
    conf = tmp_path / "conf.py"
    conf.write_text(JSON_FORMATTER + textwrap.dedent('''
        logconfig_dict = {
            "version": 1,
            "disable_existing_loggers": False,
            # "handlers" replaces gunicorn's default handlers, which its default root uses
            "root": {"level": "WARNING", "handlers": []},
            "formatters": {"json": {"()": JsonAccess},
                           "plain": {"format": "PY %%(process)d %%(levelname)s %%(name)s %%(message)s"}},
            "handlers": %r,
            "loggers": %r,
        }
        ''') % (handlers, loggers) + extra)
    return conf


# --- logconfig (ini) ---------------------------------------------------------------------------
INI = """
[loggers]
keys=root, gunicorn.error, gunicorn.access

[handlers]
keys=access_file, error_file

[formatters]
keys=access, generic

[logger_root]
level=WARNING
handlers=

[logger_gunicorn.error]
level=INFO
handlers=error_file
propagate=0
qualname=gunicorn.error

[logger_gunicorn.access]
level=INFO
handlers=access_file
propagate=0
qualname=gunicorn.access

[handler_access_file]
class=FileHandler
formatter=access
args=('%(here)s/access.log', 'a')

[handler_error_file]
class=FileHandler
formatter=generic
args=('%(here)s/error.log', 'a')

[formatter_access]
format=ACCESS %(name)s %(levelname)s %(message)s

[formatter_generic]
format=ERR %(process)d %(levelname)s %(message)s
"""


def test_logconfig_ini_routes_access_and_error_lines(server_factory, tmp_path):
    ini = tmp_path / "logging.ini"
    ini.write_text(INI)
    srv = server_factory("-w", "1", "--log-config", str(ini), "--access-logformat", "%(m)s %(U)s %(s)s %(b)s",
                         "wsgi_basic:app")
    assert srv.get("/hello").text == "hello"
    # `here` is the ini file's directory (gunicorn's defaults for fileConfig)
    [access] = lines_of(tmp_path / "access.log", "/hello")
    assert access == "ACCESS gunicorn.access INFO GET /hello 200 5", access
    # error lines of the master and of the worker, each with its own pid
    [listening] = lines_of(tmp_path / "error.log", "Listening at")
    assert listening.startswith("ERR %d INFO " % srv.pid), listening
    [booting] = lines_of(tmp_path / "error.log", "Booting worker")
    worker = int(booting.split()[1])
    assert worker in children_of(srv.pid)
    assert "Booting worker" not in srv.stderr_text()  # the ini replaced gunicorn.error's handler
    assert "has no effect" not in srv.stderr_text()


# --- logconfig_dict ----------------------------------------------------------------------------
def test_logconfig_dict_formatter_reads_the_atoms(server_factory, tmp_path):
    access = tmp_path / "access.jsonl"
    conf = dict_config(tmp_path, access)
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app")
    assert srv.get("/hello?a=1", headers={"User-Agent": 'probe "x"/1'}).text == "hello"
    [line] = lines_of(access, "/hello")
    entry = json.loads(line)
    assert entry["logger"] == "gunicorn.access" and entry["level"] == "INFO"
    assert entry["remote"] == "127.0.0.1" and entry["request"] == "GET /hello?a=1 HTTP/1.1"
    assert (entry["status"], entry["bytes"], entry["path"], entry["query"]) == ("200", 5, "/hello", "a=1")
    assert entry["agent"] == entry["Agent"] == 'probe \\"x\\"/1'  # SafeAtoms: escaped, any case
    assert entry["content_type"] == "text/plain" and entry["method_env"] == "GET"
    assert entry["missing"] == "-" and entry["unknown_atom"] == "-"
    assert isinstance(entry["duration_us"], int) and entry["duration_us"] > 0
    # the default access_log_format, rendered with the atoms
    assert '"GET /hello?a=1 HTTP/1.1" 200 5' in entry["message"], entry
    assert entry["pid"] in children_of(srv.pid)
    # gunicorn.error was not in the user's dict: gunicorn's errorlog handler (stderr) stays
    srv.wait_for_stderr("Booting worker")


def test_no_python_logging_without_the_settings(server_factory, tmp_path):
    (tmp_path / "probe_app.py").write_text(textwrap.dedent('''
        import sys

        def app(environ, start_response):
            body = repr(sorted(name for name in ("narwhal._logging", "narwhal.glogging") if name in sys.modules))
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body.encode()]
        '''))
    log = tmp_path / "access.log"
    srv = server_factory("-w", "1", "--access-logfile", str(log), "probe_app:app", cwd=tmp_path)
    assert srv.get("/").text == "[]"  # the C++ logger: no Python logging module imported
    lines_of(log, '"GET / HTTP/1.1" 200')


def test_handler_threads_run_while_the_master_waits(server_factory, tmp_path):
    """A handler that writes from a thread of its own (QueueListener, batching network
    handlers): the master's lines get written although the master has nothing more to log."""
    out = tmp_path / "delayed.log"
    conf = tmp_path / "conf.py"
    conf.write_text(textwrap.dedent('''
        import logging
        import threading

        class DelayedHandler(logging.Handler):
            def emit(self, record):
                line = self.format(record)
                timer = threading.Timer(0.3, self.write, [line])
                timer.daemon = True
                timer.start()

            def write(self, line):
                with open(%r, "a") as f:
                    f.write(line + "\\n")

        logconfig_dict = {
            "version": 1,
            "root": {"level": "WARNING", "handlers": []},
            "handlers": {"delayed": {"()": DelayedHandler}},
            "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["delayed"], "propagate": False}},
        }
        ''') % str(out))
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app")
    lines_of(out, "Listening at", timeout=5)
    lines_of(out, "Booting worker", timeout=5)


def test_lines_logged_from_inside_the_logger_neither_recurse_nor_deadlock(server_factory, tmp_path):
    """A filter that logs through narwhal for every record it sees: each nested line goes back
    into Python a few levels deep, the deepest to the error log file; the server serves on."""
    out = tmp_path / "errors.log"
    conf = tmp_path / "conf.py"
    conf.write_text(textwrap.dedent('''
        import logging
        from narwhal import _core

        class Echo(logging.Filter):
            def filter(self, record):
                if "Booting worker" in record.getMessage():
                    _core.log(20, "echo " + record.getMessage())
                return True

        logconfig_dict = {
            "version": 1,
            "root": {"level": "WARNING", "handlers": []},
            "filters": {"echo": {"()": Echo}},
            "formatters": {"plain": {"format": "PY %%(message)s"}},
            "handlers": {"file": {"class": "logging.FileHandler", "filename": %r, "formatter": "plain"}},
            "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["file"], "filters": ["echo"],
                                           "propagate": False}},
        }
        ''') % str(out))
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app")
    assert srv.get("/hello").text == "hello"
    lines = lines_of(out, "Booting worker", 4)
    prefixes = sorted(line.split("Booting")[0] for line in lines)  # the filter runs before emit
    assert prefixes == ["PY ", "PY echo ", "PY echo echo ", "PY echo echo echo "], lines
    srv.wait_for_stderr("[INFO] echo echo echo echo Booting worker")


# --- logconfig_json ----------------------------------------------------------------------------
def test_logconfig_json(server_factory, tmp_path):
    config = {
        "version": 1,
        "root": {"level": "WARNING", "handlers": []},
        "formatters": {"line": {"format": "J %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "access": {"class": "logging.FileHandler", "filename": str(tmp_path / "access.log"), "formatter": "line"},
            "errors": {"class": "logging.FileHandler", "filename": str(tmp_path / "error.log"), "formatter": "line"},
        },
        "loggers": {
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
            "gunicorn.error": {"level": "DEBUG", "handlers": ["errors"], "propagate": False},
        },
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    srv = server_factory("-w", "1", "--log-config-json", str(path), "--access-logformat", "%(r)s -> %(s)s",
                         "wsgi_basic:app")
    assert srv.get("/hello").text == "hello"
    assert lines_of(tmp_path / "access.log", "/hello") == ["J INFO gunicorn.access GET /hello HTTP/1.1 -> 200"]
    lines_of(tmp_path / "error.log", "J INFO gunicorn.error Booting worker")
    # gunicorn.error at DEBUG in the JSON: narwhal's debug lines reach it although loglevel is info
    lines_of(tmp_path / "error.log", "J DEBUG gunicorn.error")


# --- errors: a worker's app, the master ---------------------------------------------------------
def test_app_errors_and_master_errors_reach_the_python_handler(server_factory, tmp_path):
    access, errors = tmp_path / "access.jsonl", tmp_path / "error.log"
    conf = dict_config(tmp_path, access, errors)
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app")
    assert srv.get("/error?marker=py-logging-boom").status_code == 500
    [first] = lines_of(errors, "Error handling request /error")
    worker = int(first.split()[1])
    assert first.startswith("PY %d ERROR gunicorn.error " % worker), first
    text = errors.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: py-logging-boom" in text, text
    assert json.loads(lines_of(access, "/error")[0])["status"] == "500"
    # the master: a worker killed behind its back is an ERROR line of the master's
    os.kill(worker, signal.SIGKILL)
    [killed] = lines_of(errors, "was sent SIGKILL")
    assert killed.startswith("PY %d ERROR gunicorn.error Worker (pid:%d)" % (srv.pid, worker)), killed
    wait_workers(srv.pid, 1, without=[worker])
    assert "py-logging-boom" not in srv.stderr_text()


# --- every worker type -------------------------------------------------------------------------
WORKER_TYPES = {
    "sync": ("-w", "1", "wsgi_basic:app"),
    "gthread": ("-w", "1", "-k", "gthread", "--threads", "4", "wsgi_basic:app"),
    "gevent": ("-w", "1", "-k", "gevent", "wsgi_basic:app"),
    "asgi": ("-w", "1", "-k", "asgi", "asgi_basic:app"),
}


@pytest.mark.parametrize("kind", list(WORKER_TYPES))
def test_every_worker_type(server_factory, tmp_path, kind):
    if kind == "gevent" and importlib.util.find_spec("gevent") is None:
        pytest.skip("gevent is not installed")
    access, errors = tmp_path / "access.jsonl", tmp_path / "error.log"
    conf = dict_config(tmp_path, access, errors)
    srv = server_factory("-c", str(conf), *WORKER_TYPES[kind])
    path = "/noread" if kind == "asgi" else "/hello"
    count = 24

    def one(i):
        response = srv.get("%s?n=%d" % (path, i), headers={"User-Agent": "agent-%d" % i, "Connection": "close"})
        return response.status_code

    # concurrent requests: gthread's pool threads (and gevent's greenlets) log at once
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(count))) == {200}
    lines = lines_of(access, path + "?n=", count)
    entries = [json.loads(line) for line in lines]
    assert sorted(int(e["query"][2:]) for e in entries) == list(range(count))
    assert all(e["agent"] == "agent-%s" % e["query"][2:] and e["status"] == "200" for e in entries)
    # an app error's traceback reaches the Python error handler, under this worker type too
    failing = "/error-before" if kind == "asgi" else "/error?marker=boom-" + kind
    assert srv.get(failing).status_code == 500
    lines_of(errors, "ERROR gunicorn.error")
    wait_until(lambda: "Traceback (most recent call last)" in errors.read_text(), 5, message="the traceback")
    if kind == "asgi":
        # no WSGI environ under asgi: one is built with the CGI variables the atoms read
        entry = json.loads(lines_of(access, path + "?n=0")[0])
        assert entry["method_env"] == "GET" and entry["request"] == "GET /noread?n=0 HTTP/1.1"
    assert "Traceback" not in srv.stderr_text()


# --- logger_class ------------------------------------------------------------------------------
RECORDING_LOGGER = '''
import json
import datetime

RECORD = %r


class RecordingLogger:
    """Only the interface gunicorn's workers use, no base class."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.write({"event": "init", "loglevel": cfg.loglevel, "workers": cfg.workers})

    def write(self, entry):
        with open(RECORD, "a") as f:
            f.write(json.dumps(entry) + "\\n")

    def critical(self, msg, *args, **kwargs): self.write({"event": "critical", "msg": msg %% args if args else msg})
    def error(self, msg, *args, **kwargs): self.write({"event": "error", "msg": msg %% args if args else msg})
    def warning(self, msg, *args, **kwargs): self.write({"event": "warning", "msg": msg %% args if args else msg})
    def info(self, msg, *args, **kwargs): self.write({"event": "info", "msg": msg %% args if args else msg})
    def debug(self, msg, *args, **kwargs): pass
    def exception(self, msg, *args, **kwargs): self.error(msg, *args)
    def log(self, lvl, msg, *args, **kwargs): self.info(msg, *args)
    def reopen_files(self): self.write({"event": "reopen"})
    def close_on_exec(self): pass

    def access(self, resp, req, environ, request_time):
        assert isinstance(request_time, datetime.timedelta)
        self.write({
            "event": "access", "status": resp.status, "status_code": resp.status_code,
            "resp_headers": [list(h) for h in resp.headers], "sent": resp.sent,
            "response_length": resp.response_length,
            "method": req.method, "uri": req.uri, "path": req.path, "query": req.query,
            "version": list(req.version), "req_headers": [list(h) for h in req.headers],
            "PATH_INFO": environ["PATH_INFO"], "REMOTE_ADDR": environ["REMOTE_ADDR"],
            "RAW_URI": environ["RAW_URI"], "seconds": request_time.total_seconds(),
        })
'''


def test_logger_class_dotted_path_gets_access_calls(server_factory, tmp_path):
    record = tmp_path / "record.jsonl"
    (tmp_path / "mylogging.py").write_text(RECORDING_LOGGER % str(record))
    srv = server_factory("-w", "1", "--pythonpath", str(tmp_path), "--logger-class", "mylogging.RecordingLogger",
                         "wsgi_basic:app")
    assert srv.get("/hello?x=1", headers={"X-Probe": "p1"}).text == "hello"
    [line] = lines_of(record, '"event": "access"')
    entry = json.loads(line)
    assert entry["status"] == "200 OK" and entry["status_code"] == 200
    assert ["Content-Type", "text/plain"] in entry["resp_headers"]
    assert entry["sent"] == entry["response_length"] == 5
    assert (entry["method"], entry["uri"], entry["path"], entry["query"]) == ("GET", "/hello?x=1", "/hello", "x=1")
    assert entry["version"] == [1, 1] and ["X-PROBE", "p1"] in entry["req_headers"]
    assert (entry["PATH_INFO"], entry["REMOTE_ADDR"], entry["RAW_URI"]) == ("/hello", "127.0.0.1", "/hello?x=1")
    assert 0 < entry["seconds"] < 5
    events = [json.loads(x) for x in record.read_text().splitlines()]
    assert {"event": "init", "loglevel": "info", "workers": 1} in events  # created once, in the master
    assert sum(e["event"] == "init" for e in events) == 1
    lines_of(record, "Booting worker")  # error lines: its info()


def test_logger_class_object_in_a_config_file(server_factory, tmp_path):
    record = tmp_path / "record.jsonl"
    conf = tmp_path / "conf.py"
    conf.write_text(RECORDING_LOGGER % str(record) + "\nlogger_class = RecordingLogger\n")
    srv = server_factory("-w", "1", "-c", str(conf), "-k", "asgi", "asgi_basic:app")
    assert srv.get("/headers").status_code == 201
    entry = json.loads(lines_of(record, '"event": "access"')[0])
    assert entry["status"] == "201 Created" and entry["PATH_INFO"] == "/headers"
    assert ["x-two", "a"] in entry["resp_headers"] and ["set-cookie", "c=1"] in entry["resp_headers"]


@pytest.mark.skipif(importlib.util.find_spec("gunicorn") is None, reason="gunicorn is not installed")
def test_subclass_of_gunicorns_logger(server_factory, tmp_path):
    """A logger_class written for gunicorn: its own atoms() reads narwhal's resp, req, environ."""
    record = tmp_path / "atoms.jsonl"
    (tmp_path / "gunilog.py").write_text(textwrap.dedent('''
        import json
        from gunicorn.glogging import Logger

        class AtomsLogger(Logger):
            def access(self, resp, req, environ, request_time):
                atoms = self.atoms(resp, req, environ, request_time)
                keep = {k: atoms[k] for k in ("h", "r", "s", "b", "B", "U", "q", "a", "{x-probe}i",
                                             "{content-type}o", "{path_info}e") if k in atoms}
                with open(%r, "a") as f:
                    f.write(json.dumps(keep) + "\\n")
        ''') % str(record))
    srv = server_factory("-w", "1", "--pythonpath", str(tmp_path), "--logger-class", "gunilog.AtomsLogger",
                         "wsgi_basic:app")
    assert srv.get("/hello?q=2", headers={"X-Probe": "yes", "User-Agent": "ua/1"}).text == "hello"
    atoms = json.loads(lines_of(record, "hello")[0])
    assert atoms["h"] == "127.0.0.1" and atoms["r"] == "GET /hello?q=2 HTTP/1.1" and atoms["s"] == "200"
    assert atoms["b"] == "5" and atoms["U"] == "/hello" and atoms["q"] == "q=2" and atoms["a"] == "ua/1"
    assert atoms["{x-probe}i"] == "yes" and atoms["{content-type}o"] == "text/plain"
    assert atoms["{path_info}e"] == "/hello"
    # gunicorn's Logger (errorlog "-") writes the error lines to stderr in its layout
    srv.wait_for_stderr("[INFO] Booting worker")


def test_default_logger_class_names_need_no_gunicorn(server_factory, tmp_path):
    """The default class paths are narwhal's C++ logger (no gunicorn import, no Python call)."""
    log = tmp_path / "access.log"
    for name in ("gunicorn.glogging.Logger", "simple"):
        srv = server_factory("-w", "1", "--logger-class", name, "--access-logfile", str(log), "wsgi_basic:app",
                             env={"PYTHONPATH": str(tmp_path)})
        assert srv.get("/hello?%s" % name).text == "hello"
        lines_of(log, "/hello?%s" % name)
        assert "has no effect" not in srv.stderr_text()
        srv.stop()


# --- HUP: a new configuration ------------------------------------------------------------------
def test_hup_applies_a_changed_log_configuration(server_factory, tmp_path):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    errors_first, errors_second = tmp_path / "first.err", tmp_path / "second.err"
    conf = dict_config(tmp_path, first, errors_first)
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app")
    [old_worker] = wait_workers(srv.pid, 1)
    assert srv.get("/hello?before", headers={"Connection": "close"}).text == "hello"
    lines_of(first, "/hello?before")

    dict_config(tmp_path, second, errors_second)  # rewrites conf.py
    os.kill(srv.pid, signal.SIGHUP)
    [new_worker] = wait_workers(srv.pid, 1, without=[old_worker])
    wait_until(lambda: not pid_alive(old_worker), 8, message="the old worker to exit")
    assert srv.get("/hello?after", headers={"Connection": "close"}).text == "hello"
    lines_of(second, "/hello?after")
    assert "after" not in first.read_text()
    # the master's lines after the reload and the new worker's go to the new error file
    lines_of(errors_second, "Booting worker with pid: %d" % new_worker)
    assert "Booting worker with pid: %d" % new_worker not in errors_first.read_text()


def test_hup_with_a_broken_log_configuration_keeps_the_current_one(server_factory, tmp_path):
    access, errors = tmp_path / "access.jsonl", tmp_path / "error.log"
    conf = dict_config(tmp_path, access, errors)
    srv = server_factory("-w", "1", "-c", str(conf), "wsgi_basic:app")
    conf.write_text(conf.read_text() + '\nlogconfig_dict["handlers"]["access"]["class"] = "no.such.Handler"\n')
    os.kill(srv.pid, signal.SIGHUP)
    [line] = lines_of(errors, "Reload: logconfig_dict can't be applied")
    assert "no.such" in line or "no.such" in errors.read_text()
    assert srv.get("/hello?still", headers={"Connection": "close"}).text == "hello"
    lines_of(access, "/hello?still")


# --- USR1: FileHandlers reopened ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "gthread"])
def test_usr1_reopens_python_file_handlers(server_factory, tmp_path, kind):
    access, errors = tmp_path / "access.jsonl", tmp_path / "error.log"
    conf = dict_config(tmp_path, access, errors)
    worker_args = ("-k", "gthread", "--threads", "2") if kind == "gthread" else ()
    srv = server_factory("-w", "1", "-c", str(conf), *worker_args, "wsgi_basic:app")
    [worker] = wait_workers(srv.pid, 1)
    assert srv.get("/hello?one", headers={"Connection": "close"}).text == "hello"
    lines_of(access, "/hello?one")
    access.rename(tmp_path / "access.jsonl.1")
    errors.rename(tmp_path / "error.log.1")
    os.kill(srv.pid, signal.SIGUSR1)
    # the worker reopens too (gthread: at its loop's next Python turn); no file until then
    wait_until(lambda: access.exists(), 5, message="the access file reopened by the worker")
    assert srv.get("/hello?two", headers={"Connection": "close"}).text == "hello"
    lines_of(access, "/hello?two")
    assert "/hello?two" not in (tmp_path / "access.jsonl.1").read_text()
    # the master's error file was reopened too: its next line lands in the new file
    os.kill(worker, signal.SIGKILL)
    lines_of(errors, "was sent SIGKILL")
    assert children_of(srv.pid) is not None


# --- configuration errors ----------------------------------------------------------------------
def start_error(cli, *args):
    p = cli("-b", "127.0.0.1:%d" % free_port(), *args, "wsgi_basic:app", timeout=20)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    return p.stderr


def test_bad_configurations_stop_the_start_up(cli, tmp_path):
    missing = tmp_path / "missing.ini"
    assert "Error: logconfig %r not found" % str(missing) in start_error(cli, "--log-config", str(missing))

    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    err = start_error(cli, "--log-config-json", str(bad_json))
    assert "Error: logconfig_json %r is not valid JSON" % str(bad_json) in err, err
    err = start_error(cli, "--log-config-json", str(tmp_path / "none.json"))
    assert "Error: logconfig_json" in err and "can't be read" in err, err

    conf = tmp_path / "conf.py"
    conf.write_text('logconfig_dict = {"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}\n')
    err = start_error(cli, "-c", str(conf))
    assert "Error: logconfig_dict can't be applied: ValueError: Unable to configure handler 'h'" in err, err

    bad_ini = tmp_path / "bad.ini"
    bad_ini.write_text("[loggers]\nkeys=root\n")
    err = start_error(cli, "--log-config", str(bad_ini))
    assert "Error: logconfig %r can't be applied" % str(bad_ini) in err, err

    err = start_error(cli, "--logger-class", "no_such_module.Logger")
    assert "Error: logger_class 'no_such_module.Logger' can't be loaded: ModuleNotFoundError" in err, err
