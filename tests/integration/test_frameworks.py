"""Real framework apps (Flask, Django, Pyramid, Falcon, Bottle) and the bundled
example served by the real server."""

import hashlib
import os

import pytest

from harness import APPS_DIR, REPO

SAMPLE = APPS_DIR / "data" / "sample.txt"


# --------------------------------------------------------------------------- Flask
@pytest.fixture(scope="module")
def flask_server(module_server_factory):
    return module_server_factory("-w", "1", "flask_app:app")


def test_flask_index(flask_server):
    r = flask_server.get("/")
    assert r.status_code == 200
    assert r.text == "flask ok"
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Length"] == str(len("flask ok"))


def test_flask_route_with_variable_and_query(flask_server):
    r = flask_server.get("/user/n%C3%A4rhval?x=1&y=two")
    assert r.status_code == 200
    assert r.json() == {"user": "närhval", "args": {"x": "1", "y": "two"}}


def test_flask_404(flask_server):
    r = flask_server.get("/no/such/route")
    assert r.status_code == 404


def test_flask_json_get(flask_server):
    r = flask_server.get("/json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"hello": "flask", "n": 1, "items": [1, 2, 3]}


def test_flask_json_post(flask_server):
    payload = {"a": [1, 2, {"b": "ü"}], "ok": True}
    r = flask_server.post("/json", json=payload)
    assert r.status_code == 200
    assert r.json() == {"received": payload, "content_type": "application/json"}


def test_flask_form_post(flask_server):
    r = flask_server.post("/form", data={"name": "narwhal", "tags": ["a", "b"]})
    assert r.status_code == 200
    assert r.json() == {"form": {"name": ["narwhal"], "tags": ["a", "b"]}}


def test_flask_multipart_upload(flask_server):
    data = os.urandom(3 * 1024 * 1024 + 17)  # > any single socket buffer
    r = flask_server.post("/upload", files={"file": ("blob.bin", data)},
                          data={"note": "hi"})
    assert r.status_code == 200
    assert r.json() == {"filename": "blob.bin", "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(), "note": "hi"}


def test_flask_streaming_generator(flask_server):
    r = flask_server.get("/stream?n=50")
    assert r.status_code == 200
    assert r.text == "".join("line %d\n" % i for i in range(50))
    # unknown length on HTTP/1.1: chunked, no Content-Length
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.headers


def test_flask_send_file(flask_server):
    expected = SAMPLE.read_bytes()
    r = flask_server.get("/file")
    assert r.status_code == 200
    assert r.content == expected
    assert r.headers["Content-Length"] == str(len(expected))
    assert r.headers["Content-Type"].startswith("text/plain")


def test_flask_204(flask_server):
    r = flask_server.get("/status/204")
    assert r.status_code == 204
    assert r.content == b""


# --------------------------------------------------------------------------- Django
@pytest.fixture(scope="module")
def django_server(module_server_factory):
    return module_server_factory("-w", "1", "djproject.wsgi:application")


def test_django_get(django_server):
    r = django_server.get("/hello/?q=whale", headers={"Host": "example.test"})
    assert r.status_code == 200
    assert r.json() == {"framework": "django", "path": "/hello/", "q": "whale",
                        "method": "GET"}


def test_django_append_slash_redirect(django_server):
    r = django_server.get("/hello")
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/hello/")


def test_django_post_form(django_server):
    r = django_server.post("/echo/", data={"a": "1", "b": "zwei"})
    assert r.status_code == 200
    assert r.json() == {"received": {"a": "1", "b": "zwei"}, "method": "POST"}


def test_django_post_json(django_server):
    r = django_server.post("/echo/", json={"x": [1, 2]})
    assert r.status_code == 200
    assert r.json() == {"received": {"x": [1, 2]}, "method": "POST"}


def test_django_csrf_still_enforced(django_server):
    r = django_server.post("/protected/", data={"a": "1"})
    assert r.status_code == 403


# --------------------------------------------------------------------------- Pyramid
@pytest.fixture(scope="module")
def pyramid_server(module_server_factory):
    return module_server_factory("-w", "1", "pyramid_app:app")


def test_pyramid_get(pyramid_server):
    r = pyramid_server.get("/hello/world")
    assert r.status_code == 200
    assert r.text == "pyramid ok world"


def test_pyramid_post(pyramid_server):
    r = pyramid_server.post("/echo", data={"k": "v"})
    assert r.status_code == 200
    assert r.json() == {"method": "POST", "body": "k=v", "params": {"k": "v"}}


# --------------------------------------------------------------------------- Falcon
@pytest.fixture(scope="module")
def falcon_server(module_server_factory):
    return module_server_factory("-w", "1", "falcon_app:app")


def test_falcon_get(falcon_server):
    r = falcon_server.get("/hello/narwhal?q=1")
    assert r.status_code == 200
    assert r.json() == {"hello": "narwhal", "framework": "falcon", "q": "1"}


def test_falcon_post(falcon_server):
    r = falcon_server.post("/echo", json={"n": 42})
    assert r.status_code == 201
    assert r.json() == {"echo": {"n": 42}, "length": len('{"n": 42}')}


# --------------------------------------------------------------------------- Bottle
@pytest.fixture(scope="module")
def bottle_server(module_server_factory):
    return module_server_factory("-w", "1", "bottle_app:app")


def test_bottle_get(bottle_server):
    r = bottle_server.get("/hello/pod")
    assert r.status_code == 200
    assert r.text == "bottle ok pod"


def test_bottle_post(bottle_server):
    r = bottle_server.post("/echo", json={"tusk": True})
    assert r.status_code == 200
    assert r.json() == {"json": {"tusk": True}, "method": "POST"}


# --------------------------------------------------------------------------- examples/
def test_bundled_example_hello(server_factory):
    # exactly what `make run` serves
    srv = server_factory("-w", "2", "--chdir", str(REPO / "examples"), "hello:app")
    r = srv.get("/")
    assert r.status_code == 200
    assert r.text == "Hello, World!\n"
    r = srv.get("/json")
    assert r.status_code == 200
    assert r.json()["message"] == "Hello, World!"
    assert srv.get("/nope").status_code == 404
