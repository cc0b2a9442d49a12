"""App factories for the app-loading tests (test_process.py)."""

NOT_CALLABLE = 42


def create_app(greeting):
    def app(environ, start_response):
        body = greeting.encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    return app


def failing_factory():
    raise TypeError("narwhal-test-factory-broke")  # inside the factory: a traceback


def returns_none():
    return None
