"""gunicorn's custom-application API (``gunicorn.app.base``), served by narwhal's core.

    from narwhal.app.base import BaseApplication      # was: from gunicorn.app.base import ...

    class StandaloneApplication(BaseApplication):
        def __init__(self, app, options=None):
            self.options = options or {}
            self.application = app
            super().__init__()

        def load_config(self):
            for key, value in self.options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key.lower(), value)

        def load(self):
            return self.application

    StandaloneApplication(app, {"bind": "127.0.0.1:8080", "workers": 4}).run()

Nothing here validates or serves: ``cfg.set`` asks the core's settings table (the one table the
command line and config files go through), and ``run()`` hands the values set to the core, which
applies them like a config file's values and serves what ``load()`` returns with the same master
and workers as the ``narwhal`` command. See docs/embedding.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
from typing import Any, Callable, Sequence

from narwhal import _core, _glue, _server

__all__ = ["BaseApplication", "Application", "Config"]


class Config(_server.Config):
    """gunicorn's Config as a custom application uses it: ``set(name, value)``, ``settings``
    (name → setting, with ``.value`` and ``.get()``), ``cfg.workers``-style reads and gunicorn's
    derived properties (``address``, ``uid``, ``proc_name``...).

    ``set`` validates with the core's settings table: AttributeError for a name that is not a
    setting (as gunicorn), ValueError with the table's message for a bad value. Reads show the
    defaults and the values set until ``run()``, then the final settings (config file,
    environment and command line applied)."""

    def __init__(self, usage: str | None = None, prog: str | None = None) -> None:
        super().__init__(_core.default_settings())
        self.__dict__["usage"] = usage
        self.__dict__["prog"] = prog or os.path.basename(sys.argv[0])
        self.__dict__["_given"] = {}  # name → the value last given to set(), as given
        # Application: the command line the core reads after these values; BaseApplication: None.
        self.__dict__["_narwhal_command_line"] = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._values:
            raise AttributeError("Invalid access!")  # gunicorn: use cfg.set(name, value)
        self.__dict__[name] = value

    def set(self, name: str, value: Any) -> None:
        normalised = _core.validate_setting(name, value)
        self._given[name] = value
        self._values[name] = normalised
        self.settings[name].value = normalised

    def parser(self) -> "_Parser":
        return _Parser(self.usage, self.prog, list(self._values))

    def get_cmd_args_from_env(self) -> list[str]:
        return shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))

    @property
    def reuse_port(self) -> bool:
        return bool(self._values.get("reuse_port"))

    @property
    def paste_global_conf(self) -> dict[str, str]:
        conf = {}
        for entry in self._values.get("raw_paste_global_conf") or []:
            key, value = _split_unescaped_equals(entry)
            conf[key.replace("\\=", "=")] = value.replace("\\=", "=")
        return conf

    def __str__(self) -> str:
        return _core.print_config(dict(self._given))  # --print-config's text

    # ---- the core's side (narwhal._glue) ----
    def _narwhal_values(self) -> dict[str, Any]:
        return dict(self._given)

    def _narwhal_configured(self, values: dict[str, Any]) -> None:
        self._values.update(values)
        for name, value in values.items():
            if name in self.settings:
                self.settings[name].value = value


def _split_unescaped_equals(entry: str) -> tuple[str, str]:
    for index, char in enumerate(entry):
        if char == "=" and (index == 0 or entry[index - 1] != "\\"):
            return entry[:index], entry[index + 1:]
    raise RuntimeError("environment setting %r invalid" % entry)  # refused by the table already


class _Parser:
    """What gunicorn's ``init(parser, opts, args)`` and ``cfg.parser()`` give: narwhal's own
    command-line parser (the core's), with argparse's ``parse_args``, ``error`` and
    ``print_help``. ``parse_args`` returns every setting name (None unless given) plus ``args``."""

    def __init__(self, usage: str | None, prog: str, names: list[str]) -> None:
        self.usage = usage
        self.prog = prog
        self._names = names

    def parse_args(self, args: Sequence[str] | None = None) -> argparse.Namespace:
        values, positional = _core.parse_command_line(list(sys.argv[1:] if args is None else args))
        opts = argparse.Namespace(**{name: None for name in self._names})
        for name, value in values.items():
            setattr(opts, name, value)
        opts.args = positional
        return opts

    def print_help(self) -> None:
        try:
            _core.parse_command_line(["--help"])
        except SystemExit:
            pass

    def error(self, message: str) -> None:
        usage = self.usage or "%(prog)s [OPTIONS] [APP_MODULE]"
        sys.stderr.write("usage: %s\n%s: error: %s\n" % (usage % {"prog": self.prog}, self.prog, message))
        sys.exit(2)


class BaseApplication:
    """gunicorn's BaseApplication: subclasses implement ``load_config()`` (``self.cfg.set(...)``)
    and ``load()`` (returns the WSGI callable); ``run()`` serves it and does not return."""

    def __init__(self, usage: str | None = None, prog: str | None = None) -> None:
        self.usage = usage
        self.cfg: Config = None  # type: ignore[assignment]
        self.callable: Callable[..., Any] | None = None
        self.prog = prog
        self.logger = None
        self.do_load_config()

    def do_load_config(self) -> None:
        try:
            self.load_default_config()
            self.load_config()
        except Exception as error:
            print("\nError: %s" % str(error), file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)

    def load_default_config(self) -> None:
        self.cfg = Config(self.usage, prog=self.prog)

    def init(self, parser: Any, opts: argparse.Namespace, args: list[str]) -> dict[str, Any] | None:
        raise NotImplementedError

    def load(self) -> Callable[..., Any]:
        raise NotImplementedError

    def load_config(self) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        """HUP: the configuration is loaded again (the core reinstalls --spew itself)."""
        self.do_load_config()

    def wsgi(self) -> Callable[..., Any]:
        if self.callable is None:
            self.callable = self.load()
        return self.callable

    def run(self) -> None:
        """Serves until the master stops (TERM, INT...), then exits with its status, as gunicorn's
        Arbiter does. In the master with preload_app, else in each worker, ``wsgi()`` calls
        ``load()`` once."""
        sys.exit(_core.run_application(self, list(sys.argv)))


class Application(BaseApplication):
    """gunicorn's Application: ``load_config()`` reads the command line, lets ``init(parser,
    opts, args)`` return settings of its own, and then — applied by the core at ``run()`` over
    those, in gunicorn's order — the config file (``-c``, else ./narwhal.conf.py or
    ./gunicorn.conf.py), GUNICORN_CMD_ARGS / NARWHAL_CMD_ARGS and the command line. Positional
    arguments are the application's own (``args``)."""

    def chdir(self) -> None:
        os.chdir(self.cfg.chdir)
        if self.cfg.chdir not in sys.path:
            sys.path.insert(0, self.cfg.chdir)

    def get_config_from_filename(self, filename: str) -> dict[str, Any]:
        try:
            return _glue.load_config(filename)
        except Exception:
            import traceback

            print("Failed to read config file: %s" % filename, file=sys.stderr)
            traceback.print_exc()
            sys.stderr.flush()
            sys.exit(1)

    def get_config_from_module_name(self, module_name: str) -> dict[str, Any]:
        return vars(importlib.import_module(module_name))

    def load_config_from_module_name_or_filename(self, location: str) -> dict[str, Any]:
        if location.startswith("python:"):
            values = self.get_config_from_module_name(location[len("python:"):])
        else:
            filename = location[len("file:"):] if location.startswith("file:") else location
            values = self.get_config_from_filename(filename)
        for name, value in values.items():
            if name not in self.cfg.settings:  # other names are the config file's own business
                continue
            try:
                self.cfg.set(name.lower(), value)
            except Exception:
                print("Invalid value for %s: %s\n" % (name, value), file=sys.stderr)
                sys.stderr.flush()
                raise
        return values

    def load_config_from_file(self, filename: str) -> dict[str, Any]:
        return self.load_config_from_module_name_or_filename(location=filename)

    def load_config(self) -> None:
        argv = list(sys.argv)
        parser = self.cfg.parser()
        opts = parser.parse_args(argv[1:])
        values = self.init(parser, opts, opts.args)
        if values:
            for name, value in values.items():
                self.cfg.set(name.lower(), value)
        self.cfg._narwhal_command_line = argv
