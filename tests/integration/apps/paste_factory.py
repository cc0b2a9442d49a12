"""PasteDeploy app factories for test_paste.py: ``use = call:paste_factory:app_factory``.

The app answers with what PasteDeploy gave its factory (JSON): ``global_conf`` (the file's
[DEFAULT] section, ``here``, ``__file__`` and --paste-global's variables), ``local_conf`` (its
app section's keys), the pid that ran the factory and the pid serving the request.
"""

import json
import os


def app_factory(global_conf, **local_conf):
    loaded_in = os.getpid()

    def app(environ, start_response):
        body = json.dumps({"global_conf": dict(global_conf), "local_conf": local_conf,
                           "loaded_in": loaded_in, "pid": os.getpid()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app
