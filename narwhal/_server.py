"""The objects narwhal passes to gunicorn-style server hooks (see docs/hooks.md).

gunicorn hands its hooks the Arbiter (``server``), a Worker, a Request and a Response. narwhal's
master and workers are C++, so these are small stand-ins exposing what hooks commonly use:
``server.cfg.workers``, ``server.log.info(...)``, ``worker.pid``, ``req.path``, ``resp.status``.
The C++ core (src/module/hooks.cpp) creates them and calls the hooks; nothing here serves.
"""

from __future__ import annotations

import http
import inspect
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable

from narwhal import _core, _glue

# narwhal::log::Level values (Python logging's numbers).
DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50


class Log:
    """gunicorn's ``server.log`` / ``worker.log``: writes to narwhal's error log."""

    def _write(self, level: int, msg: Any, args: tuple, exc_info: bool = False) -> None:
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text] + [str(a) for a in args])
        if exc_info and sys.exc_info()[0] is not None:
            text += "\n" + traceback.format_exc().rstrip("\n")
        _core.log(level, text)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(DEBUG, msg, args, kwargs.get("exc_info", False))

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(INFO, msg, args, kwargs.get("exc_info", False))

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(WARNING, msg, args, kwargs.get("exc_info", False))

    warn = warning

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(ERROR, msg, args, kwargs.get("exc_info", False))

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(CRITICAL, msg, args, kwargs.get("exc_info", False))

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(ERROR, msg, args, kwargs.get("exc_info", True))

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._write(level, msg, args, kwargs.get("exc_info", False))

    def reopen_files(self) -> None:
        _core.reopen_logs()


class Setting:
    """``cfg.settings[name].value``, as gunicorn's Setting objects offer it."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def get(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"<Setting {self.name}={self.value!r}>"


class Config:
    """Attribute access to the settings (``cfg.workers``, ``cfg.bind``), plus gunicorn's derived
    properties (``uid``, ``gid``, ``proc_name``, ``address``, ``env``...)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__["_values"] = dict(values)
        self.__dict__["settings"] = {name: Setting(name, value) for name, value in values.items()}

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        raise AttributeError(f"No configuration setting for: {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("narwhal's settings are read-only once the server starts")

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    @property
    def uid(self) -> int:
        return self._values.get("user")

    @property
    def gid(self) -> int:
        return self._values.get("group")

    @property
    def proc_name(self) -> str:
        return self._values.get("proc_name") or self._values.get("default_proc_name") or "narwhal"

    @property
    def address(self) -> list[str]:
        return list(self._values.get("bind") or [])

    @property
    def env(self) -> dict[str, str]:
        return dict(entry.split("=", 1) for entry in self._values.get("raw_env") or [] if "=" in entry)

    @property
    def worker_class_str(self) -> str:
        # gunicorn's Config.worker_class_str: sync with more than one thread is gthread.
        uri = self._values.get("worker_class", "sync")
        is_sync = isinstance(uri, str) and (uri.endswith("SyncWorker") or uri == "sync")
        if is_sync and int(self._values.get("threads") or 1) > 1:
            return "gthread"
        return uri

    @property
    def is_ssl(self) -> bool:
        return bool(self._values.get("certfile") or self._values.get("keyfile"))

    def __repr__(self) -> str:
        return f"<narwhal Config {len(self._values)} settings>"


class App:
    """gunicorn's Application object as hooks see it (``server.app``, ``worker.app``): ``cfg``,
    ``wsgi()``; calling it calls the WSGI callable once one is loaded."""

    def __init__(self, cfg: Config, uri: str) -> None:
        self.cfg = cfg
        self.app_uri = uri
        self.callable: Callable[..., Any] | None = None

    def wsgi(self) -> Callable[..., Any] | None:
        return self.callable

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.callable is None:
            raise RuntimeError("the application is not loaded in this process")
        return self.callable(environ, start_response)

    def __repr__(self) -> str:
        return f"<narwhal App {self.app_uri!r}>"


class Server:
    """gunicorn's Arbiter as hooks see it; one per master, inherited by workers across fork."""

    def __init__(self, values: dict[str, Any], app_uri: str) -> None:
        self.cfg = Config(values)
        self.log = Log()
        self.app = App(self.cfg, app_uri)
        self.pid = os.getpid()
        self.proc_name = self.cfg.proc_name
        self.timeout = self.cfg.get("timeout")
        self.worker_class = self.cfg.worker_class_str
        self.address = self.cfg.address
        self.num_workers = self.cfg.get("workers")
        self.WORKERS: dict[int, Worker] = {}
        self.master_name = "Master"

    def __repr__(self) -> str:
        return f"<narwhal Server pid={self.pid}>"


class Worker:
    """gunicorn's Worker as hooks see it: ``age``, ``pid``, ``ppid``, ``alive``, ``booted``,
    ``log``, ``cfg``, ``app`` and, once loaded in the worker, ``wsgi``."""

    def __init__(self, server: Server, age: int, ppid: int, pid: int = 0) -> None:
        self.age = age
        self.ppid = ppid
        self.pid = pid
        self.log = server.log
        self.cfg = server.cfg
        self.app = server.app
        self.timeout = server.timeout
        self.alive = True
        self.booted = False
        self.aborted = False
        self.nr = 0  # requests handled; maintained only while pre_request/post_request hooks exist
        self.tmp = None
        self.reloader: Reloader | None = None

    @property
    def wsgi(self) -> Callable[..., Any] | None:
        return self.app.callable

    def notify(self) -> None:
        """gunicorn's heartbeat; narwhal's C++ worker beats by itself."""

    def __repr__(self) -> str:
        return f"<narwhal Worker age={self.age} pid={self.pid}>"


class Request:
    """What pre_request/post_request get as ``req`` (gunicorn's http.Request attributes)."""

    __slots__ = ("method", "uri", "path", "query", "fragment", "version", "headers", "scheme")

    def __init__(self, method: str, uri: str, version: tuple[int, int],
                 headers: list[tuple[str, str]]) -> None:
        self.method = method
        self.uri = uri
        rest, _, self.fragment = uri.partition("#")
        self.path, _, self.query = rest.partition("?")
        if "://" in self.path:  # absolute-form: keep the path only
            after = self.path.split("://", 1)[1]
            self.path = after[after.find("/"):] if "/" in after else "/"
        self.version = version
        self.headers = [(name.upper(), value) for name, value in headers]
        self.scheme = "http"

    def __repr__(self) -> str:
        return f"<narwhal Request {self.method} {self.uri}>"


class Response:
    """What post_request gets as ``resp``: ``status`` ("200 OK"), ``status_code`` (200)."""

    __slots__ = ("status_code", "status")

    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        try:
            self.status = "%d %s" % (status_code, http.HTTPStatus(status_code).phrase)
        except ValueError:
            self.status = str(status_code)

    def __repr__(self) -> str:
        return f"<narwhal Response {self.status}>"


def adapt_hook(name: str, hook: Callable[..., Any]) -> Callable[..., Any]:
    """post_request may take 2, 3 or 4 arguments (gunicorn's validate_post_request)."""
    if name != "post_request":
        return hook
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return hook
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters) or len(positional) >= 4:
        return hook
    if len(positional) == 3:
        return lambda worker, req, environ, resp: hook(worker, req, environ)
    return lambda worker, req, environ, resp: hook(worker, req)


# --------------------------------------------------------------------------- in the worker
def thread_tracebacks(interrupted: Any = None) -> str:
    """The stack of every thread, the current one last (what a stuck worker was doing). In a
    signal handler, `interrupted` is the frame the handler interrupted: the handler's own
    frames are left out."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    current = threading.get_ident()
    parts = []
    frames = sys._current_frames()
    if interrupted is not None:
        frames[current] = interrupted
    for ident in sorted(frames, key=lambda i: i == current):
        stack = "".join(traceback.format_stack(frames[ident]))
        parts.append(f"Thread {names.get(ident, '?')} ({ident:#x}), most recent call last:\n{stack}")
    return "".join(parts).rstrip("\n")


def greenlet_tracebacks() -> str:
    """The stack of every suspended greenlet (the gevent worker's requests waiting on I/O), for
    `dump PID`; "" without greenlets. The running one is in its thread's stack."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return ""
    import gc
    parts = []
    for item in gc.get_objects():
        if isinstance(item, greenlet.greenlet) and item.gr_frame is not None:
            name = getattr(item, "name", None) or type(item).__name__
            stack = "".join(traceback.format_stack(item.gr_frame))
            parts.append(f"Greenlet {name} ({id(item):#x}), most recent call last:\n{stack}")
    return "".join(parts).rstrip("\n")


def install_worker_signals(worker: Worker, server: Server,
                           worker_abort: Callable[..., Any] | None,
                           worker_int: Callable[..., Any] | None,
                           worker_exit: Callable[..., Any] | None) -> None:
    """SIGABRT (the master's WORKER TIMEOUT): log every thread's traceback, run worker_abort,
    exit 1. A Python-level handler runs on the main thread where it was stuck, as in gunicorn."""

    def handle_abort(signum: int, frame: Any) -> None:
        worker.aborted = True
        try:
            worker.log.critical("Worker (pid:%s) timed out; tracebacks of its threads:\n%s",
                                worker.pid, thread_tracebacks(frame))
        except Exception:
            pass
        leave(worker, (("worker_abort", worker_abort, (worker,)),
                       ("worker_exit", worker_exit, (server, worker))), status=1)

    signal.signal(signal.SIGABRT, handle_abort)

    def handle_dump(signum: int, frame: Any) -> None:
        # The control socket's `dump PID` (docs/control.md): the stacks of every thread, for
        # the master, and the worker goes on. Runs where the main thread is, as handle_abort.
        try:
            if not _core.dump_wanted():
                return
            greenlets = greenlet_tracebacks()
            _core.publish_dump(thread_tracebacks(frame) + ("\n" + greenlets if greenlets else ""))
        except Exception:
            pass

    signal.signal(signal.SIGWINCH, handle_dump)

    def handle_quit(signum: int, frame: Any) -> None:
        # gunicorn's Worker.handle_quit: runs on the main thread, inside the app if a request is
        # being handled (quick shutdown does not wait for it), then the worker leaves.
        leave(worker, (("worker_int", worker_int, (worker,)),
                       ("worker_exit", worker_exit, (server, worker))), status=0)

    if worker_int is not None or worker_exit is not None:
        signal.signal(signal.SIGINT, handle_quit)
        signal.signal(signal.SIGQUIT, handle_quit)


def leave(worker: Worker, hooks: tuple[tuple[str, Callable[..., Any] | None, tuple[Any, ...]], ...],
          status: int) -> None:
    """Runs the given hooks (a raising hook is logged), then ends the worker process at once."""
    worker.alive = False
    for name, hook, args in hooks:
        if hook is None:
            continue
        try:
            hook(*args)
        except BaseException:
            worker.log.exception("Exception in %s hook", name)
    worker.log.info("Worker exiting (pid: %s)", worker.pid)
    _glue.flush_stdio()
    os._exit(status)


class Reloader(threading.Thread):
    """--reload: polls the files of the loaded modules (and reload_extra_files) once a second,
    like gunicorn's Reloader, and on a change asks the worker to stop gracefully (SIGTERM to
    itself); the master then starts a fresh worker. The C++ loop releases the GIL while it
    waits, so this thread runs while the worker is idle."""

    def __init__(self, worker: Worker, extra_files: list[str], interval: float = 1.0) -> None:
        super().__init__(name="narwhal-reloader", daemon=True)
        self.worker = worker
        self.extra_files = list(extra_files)
        self.interval = interval
        self.mtimes: dict[str, float] = {}

    def files(self) -> list[str]:
        return _glue.reload_files(self.extra_files)

    def changed(self) -> str | None:
        for name in self.files():
            try:
                mtime = os.stat(name).st_mtime
            except OSError:
                continue
            old = self.mtimes.setdefault(name, mtime)
            if mtime > old:
                return name
        return None

    def run(self) -> None:
        self.changed()  # record the current mtimes
        while self.worker.alive:
            time.sleep(self.interval)
            name = self.changed()
            if name:
                self.worker.log.info("Worker reloading: %s modified", name)
                self.worker.alive = False
                os.kill(os.getpid(), signal.SIGTERM)
                return


# Files of an app that failed to import under --reload (they are not in sys.modules).
_failed_files: list[str] = []


def start_reloader(worker: Worker, extra_files: list[str]) -> None:
    reloader = Reloader(worker, list(extra_files) + _failed_files)
    worker.reloader = reloader
    reloader.start()


def import_app_reloading(uri: str, function: str = "import_app",
                         args: tuple[Any, ...] | None = None) -> Callable[..., Any]:
    """--reload: load the app with _glue.<function>(*args) (import_app(uri) by default); if that
    fails, log it, watch the files of the traceback and return an app that answers 500 with the
    traceback until a fix reloads the worker. `uri` names the app in the messages."""
    from narwhal import _glue

    try:
        return getattr(_glue, function)(*(args if args is not None else (uri,)))
    except Exception as error:
        text = traceback.format_exc()
        _core.log(ERROR, "Failed to load the application %s\n%s" % (uri, text.rstrip("\n")))
        if isinstance(error, SyntaxError) and error.filename:
            _failed_files.append(error.filename)
        _failed_files.extend(frame.filename for frame in traceback.extract_tb(error.__traceback__))
        return make_fail_app(uri, text)


def make_fail_app(uri: str, text: str) -> Callable[..., Any]:
    """--reload and the app failed to load: answer every request with the traceback (gunicorn's
    behaviour) while the reloader waits for a fix."""
    body = ("Failed to load the application %s\n\n%s\n" % (uri, text)).encode("utf-8", "replace")

    def fail_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return fail_app
