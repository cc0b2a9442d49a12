"""Pyramid smoke app."""

from pyramid.config import Configurator
from pyramid.response import Response


def hello(request):
    return Response("pyramid ok " + request.matchdict["name"], content_type="text/plain")


def echo(request):
    return {"method": request.method, "body": request.body.decode("utf-8"),
            "params": dict(request.POST)}


def make_app():
    with Configurator() as config:
        config.add_route("hello", "/hello/{name}")
        config.add_view(hello, route_name="hello", request_method="GET")
        config.add_route("echo", "/echo")
        config.add_view(echo, route_name="echo", request_method="POST", renderer="json")
        return config.make_wsgi_app()


app = make_app()
