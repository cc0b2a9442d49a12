"""App-module forms: `forms_app` (default name `application`), `forms_app:app`,
`forms_app:create_app()` and `forms_app:create_app("x", n=1)`."""

import json


def _make(label, args=(), kwargs=None):
    body = json.dumps({"label": label, "args": list(args), "kwargs": kwargs or {}}).encode()

    def wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return wsgi


application = _make("application")
app = _make("app")


def create_app(*args, **kwargs):
    return _make("factory", args, kwargs)
