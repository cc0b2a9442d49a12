"""Falcon (3.x, falcon.App) smoke app."""

import falcon


class HelloResource:
    def on_get(self, req, resp, name):
        resp.media = {"hello": name, "framework": "falcon", "q": req.get_param("q")}


class EchoResource:
    def on_post(self, req, resp):
        data = req.get_media()
        resp.status = falcon.HTTP_201
        resp.media = {"echo": data, "length": req.content_length}


app = falcon.App()
app.add_route("/hello/{name}", HelloResource())
app.add_route("/echo", EchoResource())
