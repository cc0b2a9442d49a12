"""The few things the C++ core asks Python to do: run a config file, load the app (import it,
load it with PasteDeploy, or ask an embedding application for it).

Kept small on purpose: parsing, validation and serving are all in the core (narwhal._core).
"""

from __future__ import annotations

import ast
import configparser
import importlib
import importlib.util
import linecache
import os
import sys
from typing import Any, Callable


def load_config(path: str) -> dict[str, Any]:
    """Executes a gunicorn-style config file (or ``python:module``) and returns its namespace."""
    if path.startswith("python:"):
        name = path[len("python:"):]
        # HUP re-reads the config: a module imported before must be executed again.
        module = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
        return dict(vars(module))
    if not os.path.exists(path):
        raise FileNotFoundError(f"config file {path!r} does not exist")
    spec = importlib.util.spec_from_file_location("__config__", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load config file {path!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["__config__"] = module
    spec.loader.exec_module(module)
    return dict(vars(module))


def set_env(name: str, value: str) -> None:
    os.environ[name] = value


def prepare_path(chdir: str, pythonpath: str) -> None:
    """gunicorn's order: chdir first (and put it on sys.path), then each pythonpath entry."""
    if chdir:
        os.chdir(chdir)
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    for entry in filter(None, (pythonpath or "").split(",")):
        path = os.path.abspath(entry.strip())
        if path not in sys.path:
            sys.path.insert(0, path)


class AppImportError(Exception):
    """gunicorn's errors.AppImportError: the app cannot be loaded for a reason one line says
    (the worker prints it and exits with status 4, "App failed to load."). Errors raised by the
    app's own code (an import error inside it, a failing factory) keep their traceback."""


def _parse_call(expression: str) -> tuple[str, list[Any], dict[str, Any]] | None:
    """``factory("x", n=1)`` → ("factory", ["x"], {"n": 1}); literal arguments only."""
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise AppImportError(f"Failed to parse {expression!r} as an attribute name or function call.")
    if isinstance(node, ast.Name):
        return None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise AppImportError(f"Failed to parse {expression!r} as an attribute name or function call.")
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except ValueError:
        raise AppImportError(f"Failed to parse arguments as literal values: {expression!r}")
    return node.func.id, args, kwargs


def _called_with_wrong_args(factory: Any) -> bool:
    """gunicorn's util._called_with_wrong_args: the TypeError came from calling `factory`
    (bad arguments), not from inside it."""
    traceback = sys.exc_info()[2]
    try:
        while traceback is not None:
            if traceback.tb_frame.f_code is getattr(factory, "__code__", None):
                return False  # raised inside the factory
            traceback = traceback.tb_next
        return True
    finally:
        del traceback


def import_app(uri: str) -> Callable[..., Any]:
    """gunicorn's ``util.import_app``: ``module``, ``module:name`` or ``module:factory(args)``,
    with gunicorn's one-line reasons (AppImportError) where the app's own code is not at fault."""
    module_name, _, expression = uri.partition(":")
    expression = expression or "application"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        if module_name.endswith(".py") and os.path.exists(module_name):
            raise AppImportError(f"Failed to find application, did you mean "
                                 f"'{module_name.rsplit('.', 1)[0]}:{expression}'?")
        raise
    call = _parse_call(expression)
    name = call[0] if call else expression.strip()
    try:
        app = getattr(module, name)
    except AttributeError:
        raise AppImportError(f"Failed to find attribute {name!r} in {module_name!r}.")
    if call:
        try:
            app = app(*call[1], **call[2])
        except TypeError as error:
            if _called_with_wrong_args(app):
                raise AppImportError(f"{type(error).__name__}: {error}")
            raise
    if app is None:
        raise AppImportError(f"Failed to find application object: {expression!r}")
    if not callable(app):
        raise AppImportError("Application object must be callable.")
    return app


def paste_config(paste: str) -> tuple[str, str, bool]:
    """--paste, as gunicorn's WSGIApplication.init reads it: the absolute config URI
    ("/srv/app.ini#name"), its file, and whether the file configures logging ([loggers])."""
    uri = os.path.abspath(paste)
    path = uri.split("#")[0]
    if not os.path.exists(path):
        raise FileNotFoundError("%r not found" % path)
    parser = configparser.ConfigParser()
    parser.read([path])
    return uri, path, parser.has_section("loggers")


def load_paste_app(uri: str, global_conf: dict[str, str]) -> Callable[..., Any]:
    """gunicorn's pasterapp.get_wsgi_app: PasteDeploy's loadapp on the config URI (an app section
    after '#'), with the --paste-global variables as its global_conf."""
    try:
        from paste.deploy import loadapp
    except ImportError:
        raise AppImportError("--paste needs PasteDeploy (Debian: python3-pastedeploy; pip: PasteDeploy)")
    if ":" not in uri:
        uri = "config:%s" % uri
    app = loadapp(uri, name=None, relative_to=os.getcwd(), global_conf=global_conf)
    if not callable(app):
        raise AppImportError("Application object must be callable.")
    return app


def load_application(application: Any) -> Callable[..., Any]:
    """Embedding (narwhal.app.base): the WSGI callable the application's load() returns, through
    its wsgi() as gunicorn's workers call it (once per process)."""
    app = application.wsgi()
    if app is None:
        raise AppImportError("%s.load() returned None, not a WSGI application" % type(application).__name__)
    if not callable(app):
        raise AppImportError("Application object must be callable.")
    return app


def application_settings(application: Any, reload: bool) -> tuple[dict[str, Any], list[str] | None]:
    """Embedding: the values the application's load_config() set (fed to the core like a config
    file's), and for an Application the command line the core reads after them (config file,
    environment, command line), else None. On HUP its configuration is loaded again first
    (gunicorn's BaseApplication.reload)."""
    if reload:
        application.reload()
    cfg = application.cfg
    return cfg._narwhal_values(), cfg._narwhal_command_line


def application_configured(application: Any, values: dict[str, Any]) -> None:
    """Embedding: the final settings (every source applied), for the application's cfg."""
    application.cfg._narwhal_configured(values)


def flush_stdio() -> None:
    """Workers leave with _exit(): flush what the app printed first."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def reload_files(extra_files: list[str]) -> list[str]:
    """--reload: absolute paths of the loaded modules' sources, plus reload_extra_files and the
    files of an app that failed to import (so that fixing it reloads the worker)."""
    from narwhal import _server

    names = [os.path.abspath(name) for name in extra_files]
    names += [os.path.abspath(name) for name in getattr(_server, "_failed_files", [])]
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if name:
            names.append(os.path.abspath(name[:-1] if name.endswith(".pyc") else name))
    return sorted(set(names))


class _Spew:
    """gunicorn's ``debug.Spew`` as ``--spew`` installs it (no values): prints every line of
    Python the process executes, as ``module:lineno: source``, to stdout."""

    def __init__(self) -> None:
        import inspect  # now: inside the trace function it could be half-imported

        self._inspect = inspect

    def __call__(self, frame: Any, event: str, arg: Any) -> "_Spew":
        if event == "line":
            lineno = frame.f_lineno
            if "__file__" in frame.f_globals:
                filename = frame.f_globals["__file__"] or ""
                if filename.endswith((".pyc", ".pyo")):
                    filename = filename[:-1]
                name = frame.f_globals.get("__name__", "[unknown]")
                line = linecache.getline(filename, lineno)
            else:
                name = "[unknown]"
                try:
                    lines, start = self._inspect.getsourcelines(frame)
                    line = lines[lineno - max(start, 1)]
                except Exception:  # an exception here would end the tracing for good
                    line = "Unknown code named [%s].  VM instruction #%d" % (frame.f_code.co_name, frame.f_lasti)
            print("%s:%s: %s" % (name, lineno, line.rstrip()))
        return self


def spew() -> None:
    """``--spew`` (gunicorn's ``debug.spew``): trace every line from now on. Installed in the
    master's main thread, so the workers forked from it inherit it."""
    sys.settrace(_Spew())
