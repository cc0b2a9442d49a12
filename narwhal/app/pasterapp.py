"""PasteDeploy, as gunicorn.app.pasterapp: the app of a config file (``narwhal --paste
production.ini#name`` loads it through narwhal._glue.load_paste_app), and narwhal as a
PasteDeploy server runner, for ``pserve production.ini``::

    [server:main]
    use = egg:narwhal#main
    host = 127.0.0.1
    port = 8080
    workers = 3

As in gunicorn, ``host`` and ``port`` become ``bind`` (``host`` alone may list several
addresses, comma-separated), ``config`` names a narwhal/gunicorn config file (else
./narwhal.conf.py or ./gunicorn.conf.py is read), and every other key is a setting.
"""

from __future__ import annotations

import configparser
import os
from typing import Any, Callable

from narwhal import _core
from narwhal.app.base import Application


def get_wsgi_app(config_uri: str, name: str | None = None,
                 defaults: dict[str, str] | None = None) -> Callable[..., Any]:
    from paste.deploy import loadapp

    if ":" not in config_uri:
        config_uri = "config:%s" % config_uri
    return loadapp(config_uri, name=name, relative_to=os.getcwd(), global_conf=defaults)


def has_logging_config(config_file: str) -> bool:
    parser = configparser.ConfigParser()
    parser.read([config_file])
    return parser.has_section("loggers")


def serve(app: Callable[..., Any], global_conf: dict[str, str], **local_conf: Any) -> None:
    """The ``egg:narwhal#main`` server runner (gunicorn's ``egg:gunicorn#main``)."""
    config_file = global_conf["__file__"]
    narwhal_config_file = local_conf.pop("config", None)

    host = local_conf.pop("host", "")
    port = local_conf.pop("port", "")
    if host and port:
        local_conf["bind"] = "%s:%s" % (host, port)
    elif host:
        local_conf["bind"] = host.split(",")

    class PasterServerApplication(Application):
        def load_config(self) -> None:
            self.cfg.set("default_proc_name", config_file)
            if has_logging_config(config_file):
                self.cfg.set("logconfig", config_file)
            config_path = narwhal_config_file or _core.default_config_file()
            if config_path:
                self.load_config_from_file(config_path)
            for key, value in local_conf.items():
                if value is not None:
                    self.cfg.set(key.lower(), value)

        def load(self) -> Callable[..., Any]:
            return app

    PasterServerApplication().run()
