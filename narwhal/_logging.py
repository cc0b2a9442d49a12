"""The glue between narwhal's C++ core and Python logging (src/module/python_log.cpp).

Used only when logconfig, logconfig_dict, logconfig_json or a logger_class of the user's is
set: the master calls ``configure`` at start-up and on each HUP and keeps the logger object it
returns (workers inherit it across fork); the core then calls the logger's level methods for
error lines and ``access`` below for each finished request. See docs/migration.md, "Logging
through Python logging".
"""

from __future__ import annotations

import datetime
import http
import importlib
from typing import Any

from narwhal import _server, glogging

# logger_class values that mean gunicorn's own Logger (statsd is always narwhal's own): without
# a logconfig* setting they are narwhal's C++ logger, with one narwhal.glogging.Logger.
DEFAULT_CLASSES = frozenset({"gunicorn.glogging.Logger", "simple", "egg:gunicorn#simple",
                             "gunicorn#simple", "gunicorn.instrument.statsd.Statsd"})


def resolve_class(spec: Any) -> Any:
    """logger_class as gunicorn's util.load_class reads it (section gunicorn.loggers)."""
    if not isinstance(spec, str):
        return spec  # a class object from a config file
    name = spec.strip()
    if name in DEFAULT_CLASSES:
        return glogging.Logger
    try:
        if name.startswith("egg:") or "." not in name:
            distribution, _, entry = name[4:].partition("#") if name.startswith("egg:") else ("gunicorn", "", name)
            from importlib import metadata
            found = [point for point in metadata.entry_points(group="gunicorn.loggers")
                     if point.name == (entry or "main") and
                     (point.dist is None or point.dist.name.lower() == distribution.lower())]
            if not found:
                raise ImportError("no entry point %r in group gunicorn.loggers of %r" % (entry, distribution))
            return found[0].load()
        module, _, attribute = name.rpartition(".")
        return getattr(importlib.import_module(module), attribute)
    except Exception as error:
        raise glogging.LogConfigError("logger_class %r can't be loaded: %s" % (name, glogging.describe(error))) from None


def configure(values: dict[str, Any]) -> Any:
    """Creates the logger object (logger_class(cfg)), which applies the log configuration."""
    cfg = _server.Config(values)
    cls = resolve_class(values.get("logger_class"))
    try:
        return cls(cfg)
    except glogging.LogConfigError:
        raise
    except Exception as error:
        # A gunicorn Logger (subclass) raises RuntimeError for what dictConfig/fileConfig refuse.
        names = [name for name in ("logconfig_dict", "logconfig_json", "logconfig") if values.get(name)]
        label = "logger_class %r" % getattr(cls, "__qualname__", cls)
        if names:
            label += " with " + " and ".join(names)
        raise glogging.LogConfigError("%s can't set up logging: %s" % (label, glogging.describe(error))) from None


def error_level(logger: Any) -> int:
    """The lowest level worth sending to the logger: gunicorn.error's effective level when the
    logger has one (the core filters below it without calling Python), else DEBUG."""
    log = getattr(logger, "error_log", None)
    try:
        return int(log.getEffectiveLevel()) if log is not None else 10
    except Exception:
        return 10


class Response:
    """What ``access()`` gets as ``resp``: gunicorn's Response attributes a logger reads."""

    __slots__ = ("status", "status_code", "headers", "sent", "response_length", "queue_ms")

    def __init__(self, status_code: int, headers: Any, sent: int, queue_ms: int | None) -> None:
        self.status_code = status_code
        try:
            self.status = "%d %s" % (status_code, http.HTTPStatus(status_code).phrase)
        except ValueError:
            self.status = str(status_code)
        self.headers = _headers(headers)
        self.sent = sent
        self.response_length = sent
        self.queue_ms = queue_ms

    def __repr__(self) -> str:
        return f"<narwhal Response {self.status}>"


def _headers(headers: Any) -> list[tuple[str, str]]:
    """The app's response headers as (str, str) pairs (ASGI gives bytes)."""
    if not headers:
        return []
    result = []
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            continue
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        result.append((str(name), str(value)))
    return result


def _environ(req: _server.Request, remote: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    """A WSGI-style environ for requests that had none (the asgi worker): the CGI variables
    gunicorn's atoms read, and HTTP_* for every request header."""
    from urllib.parse import unquote
    environ: dict[str, Any] = {
        "REQUEST_METHOD": req.method,
        "RAW_URI": req.uri,
        "PATH_INFO": unquote(req.path, "latin-1"),
        "QUERY_STRING": req.query,
        "SERVER_PROTOCOL": "HTTP/%d.%d" % req.version,
        "REMOTE_ADDR": remote,
    }
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = environ[key] + "," + value if key in environ else value
    return environ


def access(logger: Any, method: str, target: str, version: tuple[int, int], headers: list[tuple[str, str]],
           remote: str, status: int, response_headers: Any, environ: dict[str, Any] | None,
           sent: int, duration_us: int, queue_us: int) -> None:
    """One finished request: ``logger.access(resp, req, environ, request_time)`` as gunicorn's
    workers call it; an exception is logged through the logger's error()."""
    try:
        req = _server.Request(method, target, version, headers)
        if environ is None:
            environ = _environ(req, remote, headers)
        resp = Response(status, response_headers, sent, queue_us // 1000 if queue_us >= 0 else None)
        logger.access(resp, req, environ, datetime.timedelta(microseconds=duration_us))
    except Exception:
        import traceback
        logger.error("Error in the access log of %s %s\n%s" % (method, target, traceback.format_exc().rstrip("\n")))


def reopen(logger: Any) -> None:
    """USR1: the logger's reopen_files(), if it has one."""
    method = getattr(logger, "reopen_files", None)
    if method is not None:
        method()
