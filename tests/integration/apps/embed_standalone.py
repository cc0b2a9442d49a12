"""gunicorn's "custom application" pattern on narwhal.app.base, for test_embedding.py: a
BaseApplication subclass taking an options dict, its load_config() feeding them to cfg.set(),
its load() returning the WSGI callable itself (no import string).

    python embed_standalone.py OPTIONS.json

OPTIONS.json holds the options dict (bind, workers...); it is read by load_config(), so a HUP
(which runs load_config() again) picks up a changed file. The app answers with JSON: the pid
that ran load(), the pid serving, $GREETING, and what load() read from self.cfg.
"""

import json
import os
import sys

import narwhal.app.base

seen = {}


def report_app(environ, start_response):
    body = json.dumps({"loaded_in": seen.get("pid"), "pid": os.getpid(),
                       "greeting": os.environ.get("GREETING"), "cfg": seen.get("cfg")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class StandaloneApplication(narwhal.app.base.BaseApplication):
    def __init__(self, app, options=None):
        self.options = options or {}
        self.application = app
        super().__init__()

    def load_config(self):
        config = {key: value for key, value in self.options.items()
                  if key in self.cfg.settings and value is not None}
        for key, value in config.items():
            self.cfg.set(key.lower(), value)

    def load(self):
        seen["pid"] = os.getpid()
        seen["cfg"] = {"workers": self.cfg.workers, "bind": self.cfg.bind, "proc_name": self.cfg.proc_name}
        return self.application


class FileOptionsApplication(StandaloneApplication):
    """The options come from a file, read again on every load_config() (HUP)."""

    def __init__(self, app, path):
        self.path = path
        super().__init__(app)

    def load_config(self):
        with open(self.path) as file:
            self.options = json.load(file)
        if self.options.pop("when_ready_hook", False):
            self.options["when_ready"] = lambda server: print("when_ready hook: %d workers"
                                                              % server.cfg.workers, file=sys.stderr)
        if self.options.pop("set_unknown", False):
            self.cfg.set("no_such_setting", 1)  # gunicorn: AttributeError
        super().load_config()


if __name__ == "__main__":
    FileOptionsApplication(report_app, sys.argv[1]).run()
