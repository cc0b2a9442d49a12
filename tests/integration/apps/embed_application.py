"""gunicorn's Application pattern on narwhal.app.base, for test_embedding.py: init(parser, opts,
args) returns the application's own settings; the config file (-c, ./gunicorn.conf.py),
GUNICORN_CMD_ARGS and the command line are applied over them.

    python embed_application.py [NARWHAL FLAGS] [ARGS...]

init() returns {"workers": 1, "raw_env": ["GREETING=from-init", "ARGS=<args>",
"OPT_WORKERS=<opts.workers>"]}. The app answers with JSON: $GREETING, $ARGS, $OPT_WORKERS and
self.cfg.workers as load() saw it.
"""

import json
import os

from narwhal.app.base import Application

seen = {}


def report_app(environ, start_response):
    body = json.dumps({"greeting": os.environ.get("GREETING"), "args": os.environ.get("ARGS"),
                       "opt_workers": os.environ.get("OPT_WORKERS"), "workers": seen.get("workers")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class EmbeddedApplication(Application):
    def init(self, parser, opts, args):
        return {"workers": 1,
                "raw_env": ["GREETING=from-init", "ARGS=%s" % ",".join(args),
                            "OPT_WORKERS=%s" % opts.workers]}

    def load(self):
        seen["workers"] = self.cfg.workers
        return report_app


if __name__ == "__main__":
    EmbeddedApplication().run()
