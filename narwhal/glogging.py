"""gunicorn's ``gunicorn.glogging.Logger`` for narwhal: error and access lines through Python
``logging`` when logconfig, logconfig_dict, logconfig_json or logger_class is set.

Without those settings narwhal logs in C++ and this module is not used. With them, the master
creates one logger object (this class, or the user's ``logger_class``) as gunicorn's Arbiter
does, workers inherit it across fork, and the C++ core hands it every error line and every
finished request (``access(resp, req, environ, request_time)``); see narwhal/_logging.py and
docs/migration.md, "Logging through Python logging".

The class follows gunicorn's (same loggers, handlers, formats, atoms and precedence of the
settings) so that a subclass written for gunicorn keeps working when it derives from this one
instead. Differences: ``capture_output`` is done by narwhal's core (not here), and statsd is
always narwhal's own.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import logging.config
import logging.handlers
import os
import socket
import sys
import threading
import time
import traceback
from typing import Any

__all__ = ["Logger", "SafeAtoms", "CONFIG_DEFAULTS"]

# gunicorn's defaults, applied before the user's configuration (dictConfig over them; the
# ini file's defaults for fileConfig).
CONFIG_DEFAULTS: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": True,
                           "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": True,
                            "qualname": "gunicorn.access"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic",
                    "stream": "ext://sys.stdout"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "generic",
                          "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                    "datefmt": "[%Y-%m-%d %H:%M:%S %z]", "class": "logging.Formatter"},
    },
}

SYSLOG_FACILITIES = {
    "auth": 4, "authpriv": 10, "cron": 9, "daemon": 3, "ftp": 11, "kern": 0, "lpr": 6,
    "mail": 2, "news": 7, "security": 4, "syslog": 5, "user": 1, "uucp": 8,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21,
    "local6": 22, "local7": 23,
}


class LogConfigError(RuntimeError):
    """A log configuration that cannot be applied; the message names the setting."""


def loggers() -> list[logging.Logger]:
    """Every logger logging knows of (gunicorn's glogging.loggers)."""
    return [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]


class SafeAtoms(dict):
    """The access-log atoms as the format sees them: '"' escaped in strings, {name}x keys
    matched case-insensitively, unknown atoms rendered as '-' (gunicorn's SafeAtoms)."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        super().__init__()
        for key, value in atoms.items():
            self[key] = value.replace('"', '\\"') if isinstance(value, str) else value

    def __getitem__(self, key: str) -> Any:
        if key.startswith("{"):
            key = key.lower()
        if key in self:
            return super().__getitem__(key)
        return "-"


def parse_syslog_address(address: str) -> tuple[Any, Any]:
    """(socket type, address) for logging.handlers.SysLogHandler, from gunicorn's syslog_addr
    forms: unix://PATH[#dgram|#stream], udp://HOST:PORT, tcp://HOST:PORT."""
    if address.startswith("unix://"):
        path, _, kind = address[len("unix://"):].partition("#")
        return (socket.SOCK_DGRAM if kind == "dgram" else None), path
    if address.startswith("udp://"):
        rest, kind = address[len("udp://"):], socket.SOCK_DGRAM
    elif address.startswith("tcp://"):
        rest, kind = address[len("tcp://"):], socket.SOCK_STREAM
    else:
        raise LogConfigError("invalid syslog_addr %r" % address)
    if rest.startswith("[") and "]" in rest:
        host, _, port = rest[1:].partition("]")
        port = port[1:] if port.startswith(":") else ""
    else:
        host, _, port = rest.partition(":")
    if port and not port.isdigit():
        raise LogConfigError("%r is not a valid port number." % port)
    return kind, ((host or "localhost").lower(), int(port) if port else 514)


class Logger:
    """gunicorn's Logger: ``gunicorn.error`` for error lines (level: loglevel), ``gunicorn.access``
    for access entries, then the user's logconfig_dict / logconfig_json / logconfig on top."""

    LOG_LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR,
                  "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
    loglevel = logging.INFO

    error_fmt = r"%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
    datefmt = r"[%Y-%m-%d %H:%M:%S %z]"
    access_fmt = "%(message)s"
    syslog_fmt = "[%(process)d] %(message)s"

    atoms_wrapper_class = SafeAtoms

    def __init__(self, cfg: Any) -> None:
        self.error_log = logging.getLogger("gunicorn.error")
        self.error_log.propagate = False
        self.access_log = logging.getLogger("gunicorn.access")
        self.access_log.propagate = False
        self.error_handlers: list[logging.Handler] = []
        self.access_handlers: list[logging.Handler] = []
        self.logfile = None
        self.lock = threading.Lock()
        self.cfg = cfg
        self.setup(cfg)

    # -- configuration ----------------------------------------------------------------------
    def setup(self, cfg: Any) -> None:
        self.loglevel = self.LOG_LEVELS.get(str(cfg.loglevel).lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self.access_log.setLevel(logging.INFO)
        # capture_output: narwhal's core points descriptors 1 and 2 at the error log file.
        self._set_handler(self.error_log, cfg.errorlog, logging.Formatter(self.error_fmt, self.datefmt))
        if cfg.accesslog is not None:
            self._set_handler(self.access_log, cfg.accesslog, logging.Formatter(self.access_fmt),
                              stream=sys.stdout)
        if cfg.syslog:
            self._set_syslog_handler(self.error_log, cfg, self.syslog_fmt, "error")
            if not cfg.disable_redirect_access_to_syslog:
                self._set_syslog_handler(self.access_log, cfg, self.syslog_fmt, "access")
        if cfg.logconfig_dict:
            self._dict_config(cfg.logconfig_dict, "logconfig_dict")
        elif getattr(cfg, "logconfig_json", None):
            path = cfg.logconfig_json
            try:
                with open(path) as file:
                    loaded = json.load(file)
            except OSError as error:
                raise LogConfigError("logconfig_json %r can't be read: %s" % (
                    path, error.strerror or error)) from None
            except ValueError as error:
                raise LogConfigError("logconfig_json %r is not valid JSON: %s" % (path, error)) from None
            if not isinstance(loaded, dict):
                raise LogConfigError("logconfig_json %r must hold a JSON object" % path)
            self._dict_config(loaded, "logconfig_json %r" % path)
        elif cfg.logconfig:
            path = cfg.logconfig
            if not os.path.exists(path):
                raise LogConfigError("logconfig %r not found" % path)
            defaults = dict(CONFIG_DEFAULTS)
            defaults["__file__"] = path
            defaults["here"] = os.path.dirname(path)
            try:
                logging.config.fileConfig(path, defaults=defaults, disable_existing_loggers=False)
            except Exception as error:
                raise LogConfigError("logconfig %r can't be applied: %s" % (path, describe(error))) from None

    def _dict_config(self, user_config: dict[str, Any], what: str) -> None:
        config = dict(CONFIG_DEFAULTS)
        config.update(user_config)  # top-level keys replace the defaults' (gunicorn)
        try:
            logging.config.dictConfig(config)
        except Exception as error:
            raise LogConfigError("%s can't be applied: %s" % (what, describe(error))) from None

    def _get_gunicorn_handler(self, log: logging.Logger) -> logging.Handler | None:
        for handler in log.handlers:
            if getattr(handler, "_gunicorn", False):
                return handler
        return None

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: logging.Formatter,
                     stream: Any = None) -> None:
        previous = self._get_gunicorn_handler(log)
        if previous is not None:
            log.handlers.remove(previous)
        if output is None:
            return
        if output == "-":
            handler: logging.Handler = logging.StreamHandler(stream)
        else:
            handler = logging.FileHandler(output)
        handler.setFormatter(fmt)
        handler._gunicorn = True  # type: ignore[attr-defined]
        log.addHandler(handler)

    def _set_syslog_handler(self, log: logging.Logger, cfg: Any, fmt: str, name: str) -> None:
        prefix = cfg.syslog_prefix or str(cfg.proc_name).replace(":", ".")
        formatter = logging.Formatter("gunicorn.%s.%s: %s" % (prefix, name, fmt))
        facility = SYSLOG_FACILITIES.get(str(cfg.syslog_facility).lower())
        if facility is None:
            raise LogConfigError("unknown syslog_facility %r" % cfg.syslog_facility)
        kind, address = parse_syslog_address(cfg.syslog_addr)
        handler = logging.handlers.SysLogHandler(address=address, facility=facility, socktype=kind)
        handler.setFormatter(formatter)
        handler._gunicorn = True  # type: ignore[attr-defined]
        log.addHandler(handler)

    # -- error log ----------------------------------------------------------------------------
    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.error_log.critical(msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.error_log.error(msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.error_log.warning(msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.error_log.info(msg, *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.error_log.debug(msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.error_log.exception(msg, *args, **kwargs)

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(lvl, str):
            lvl = self.LOG_LEVELS.get(lvl.lower(), logging.INFO)
        self.error_log.log(lvl, msg, *args, **kwargs)

    # -- access log ---------------------------------------------------------------------------
    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        seconds, micros = request_time.seconds, request_time.microseconds
        atoms = {
            "h": environ.get("REMOTE_ADDR", "-"),
            "l": "-",
            "u": self._get_user(environ) or "-",
            "t": self.now(),
            "r": "%s %s %s" % (environ["REQUEST_METHOD"], environ["RAW_URI"], environ["SERVER_PROTOCOL"]),
            "s": status,
            "m": environ.get("REQUEST_METHOD"),
            "U": environ.get("PATH_INFO"),
            "q": environ.get("QUERY_STRING"),
            "H": environ.get("SERVER_PROTOCOL"),
            "b": str(sent) if sent is not None else "-",
            "B": sent,
            "f": environ.get("HTTP_REFERER", "-"),
            "a": environ.get("HTTP_USER_AGENT", "-"),
            "T": seconds,
            "D": seconds * 1000000 + micros,
            "M": seconds * 1000 + micros // 1000,
            "L": "%d.%06d" % (seconds, micros),
            "p": "<%s>" % os.getpid(),
        }
        queue_ms = getattr(resp, "queue_ms", None)  # narwhal's Q atom (docs/metrics.md)
        if queue_ms is not None:
            atoms["Q"] = queue_ms
        headers = req.headers if hasattr(req, "headers") else req
        if hasattr(headers, "items"):
            headers = headers.items()
        atoms.update({"{%s}i" % name.lower(): value for name, value in headers})
        headers = resp.headers
        if hasattr(headers, "items"):
            headers = headers.items()
        atoms.update({"{%s}o" % name.lower(): value for name, value in headers})
        atoms.update({"{%s}e" % name.lower(): value for name, value in environ.items()})
        return atoms

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        cfg = self.cfg
        if not (cfg.accesslog or cfg.logconfig or cfg.logconfig_dict or getattr(cfg, "logconfig_json", None)
                or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)):
            return
        safe_atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        try:
            # gunicorn: the atoms are the record's args, so a Formatter or Filter reads them.
            self.access_log.info(cfg.access_log_format, safe_atoms)
        except Exception:
            self.error(traceback.format_exc())

    def now(self) -> str:
        """The date in Apache's Common Log Format."""
        return time.strftime("[%d/%b/%Y:%H:%M:%S %z]")

    # -- files --------------------------------------------------------------------------------
    def reopen_files(self) -> None:
        """USR1: FileHandlers reopen their file (logrotate moved it). capture_output's
        descriptors are reopened by narwhal's core."""
        for log in loggers() + [logging.root]:
            for handler in list(log.handlers):
                if isinstance(handler, logging.FileHandler):
                    handler.acquire()
                    try:
                        if handler.stream:
                            old, handler.stream = handler.stream, handler._open()
                            old.close()
                    finally:
                        handler.release()

    def close_on_exec(self) -> None:
        """Python opens files close-on-exec already (PEP 446); kept for the interface."""

    def _get_user(self, environ: dict[str, Any]) -> str | None:
        auth = environ.get("HTTP_AUTHORIZATION")
        if not auth:
            return None
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip()).decode("utf-8")
        except (TypeError, binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0]


def describe(error: BaseException) -> str:
    """One line for a configuration error: the exception's type and text, and its cause."""
    text = "%s: %s" % (type(error).__name__, error)
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) not in text:
        text += " (%s: %s)" % (type(cause).__name__, cause)
    return text
