"""Settings gunicorn 23 has and narwhal implements like it: sendfile (--no-sendfile, $SENDFILE),
forwarder_headers with forwarded_allow_ips, and --spew. (The start-up order of the hooks is in
test_hooks.py.)"""

import os
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from harness import Server, base_env, narwhal_binary

# --------------------------------------------------------------------------- sendfile
# /file?path=P[&offset=O][&length=L]: wsgi.file_wrapper over P, seeked to O first; with L, a
# Content-Length of L (a byte range), else none (the server frames it).
FILE_APP = '''
import os
from urllib.parse import parse_qs


def app(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    f = open(q["path"], "rb")
    f.seek(int(q.get("offset", "0")))
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in q:
        headers.append(("Content-Length", q["length"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, 32768)
'''


class StracedServer(Server):
    """The server run under `strace -f -e trace=sendfile`: every sendfile(2) of the master and
    its workers lands in `trace_path`."""

    def __init__(self, trace_path, args, **kw):
        super().__init__(args, **kw)
        self.trace_path = Path(trace_path)

    def _spawn(self):
        cmd = ["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(self.trace_path),
               str(narwhal_binary()), "-b", "127.0.0.1:%d" % self.port] + self.args
        self.cmd = cmd
        self._stderr = open(self._stderr_path, "wb")
        self._stdout = open(self._stdout_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=str(self.cwd), env=base_env(self.extra_env),
                                     stdin=subprocess.DEVNULL, stdout=self._stdout,
                                     stderr=self._stderr, start_new_session=True)

    def terminate(self, timeout=8.0):
        """SIGTERM to the narwhal master (strace's child): strace exits after its tracees."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                children = Path("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read_text()
            except OSError:
                children = ""
            for pid in children.split():
                os.kill(int(pid), signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return super().terminate(timeout)

    def sendfile_calls(self):
        """sendfile(2) calls traced so far; call after stop() so strace has flushed."""
        try:
            text = self.trace_path.read_text()
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if "sendfile(" in line]


@pytest.fixture
def straced(server_factory, tmp_path):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", os.devnull, "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    if probe.returncode != 0:
        pytest.skip("strace cannot trace here (ptrace not permitted)")
    (tmp_path / "file_app.py").write_text(FILE_APP)

    def start(*args, env=None):
        env = dict({"SENDFILE": None}, **(env or {}))  # not the runner's $SENDFILE
        srv = StracedServer(tmp_path / ("trace-%d.txt" % len(server_factory.servers)),
                            ["-w", "1"] + list(args) + ["file_app:app"], cwd=tmp_path, env=env)
        server_factory.servers.append(srv)  # stopped and cleaned up with the fixture
        srv.start(ready_timeout=30)
        return srv
    return start


@pytest.fixture
def big_file(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    return path, data


def fetch_file(srv, path, **query):
    extra = "".join("&%s=%s" % item for item in query.items())
    with srv.raw(timeout=20) as conn:
        return conn.request("GET", "/file?path=%s%s" % (quote(str(path)), extra))


def test_sendfile_is_used_by_default(straced, big_file):
    # The control for the tests below: strace does see the worker's sendfile(2).
    path, data = big_file
    srv = straced()
    resp = fetch_file(srv, path)
    assert resp.status == 200 and resp.body == data
    srv.stop()
    assert srv.sendfile_calls(), "strace saw no sendfile(2) with sendfile enabled"


@pytest.mark.parametrize("how", ["--no-sendfile", "SENDFILE=0"])
def test_no_sendfile_reads_and_writes_the_file(straced, big_file, how):
    path, data = big_file
    srv = straced(env={"SENDFILE": "0"}) if how == "SENDFILE=0" else straced(how)
    whole = fetch_file(srv, path)
    # gunicorn iterates the wrapper: the app gave no length, so HTTP/1.1 gets chunked.
    assert whole.status == 200 and whole.framing == "chunked"
    assert whole.body == data
    # A range: the file object is positioned at an offset and the app declares the length.
    part = fetch_file(srv, path, offset=1000003, length=1048576)
    assert part.status == 200 and part.header("Content-Length") == "1048576"
    assert part.body == data[1000003:1000003 + 1048576]
    tail = fetch_file(srv, path, offset=len(data) - 5)
    assert tail.body == data[-5:]
    srv.stop()
    assert srv.sendfile_calls() == []


def test_sendfile_and_no_sendfile_send_the_same_bytes_for_a_range(straced, big_file):
    path, data = big_file
    bodies = []
    for args in ([], ["--no-sendfile"]):
        srv = straced(*args)
        resp = fetch_file(srv, path, offset=12345, length=2000000)
        assert resp.status == 200 and resp.header("Content-Length") == "2000000"
        bodies.append(resp.body)
        srv.stop()
    assert bodies[0] == bodies[1] == data[12345:12345 + 2000000]


def test_sendfile_env_yes_keeps_sendfile(straced, big_file):
    path, data = big_file
    srv = straced(env={"SENDFILE": "yes"})
    assert fetch_file(srv, path).body == data
    srv.stop()
    assert srv.sendfile_calls()


# --------------------------------------------------------------------------- forwarder_headers
def env_of(srv, target, headers):
    with srv.raw() as conn:
        resp = conn.request("GET", target, headers=headers)
    assert resp.status == 200, resp.raw
    return resp.json()["env"]


FORWARDED = [("SCRIPT_NAME", "/env"), ("PATH_INFO", "/from-header"), ("X-Plain", "1")]


@pytest.mark.parametrize("allow", ["127.0.0.1", "*", "10.0.0.0/8,127.0.0.0/8"])
def test_forwarder_headers_from_a_trusted_peer(server_factory, allow):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", allow, "wsgi_basic:app")
    env = env_of(srv, "/env/env/sub%20dir?q=1", FORWARDED)
    # gunicorn 23 (http/wsgi.py create): the SCRIPT_NAME header becomes SCRIPT_NAME and is cut
    # off the path; a PATH_INFO header is only HTTP_PATH_INFO, PATH_INFO comes from the path.
    assert env["SCRIPT_NAME"] == "/env"
    assert env["PATH_INFO"] == "/env/sub dir"
    assert env["HTTP_SCRIPT_NAME"] == "/env"
    assert env["HTTP_PATH_INFO"] == "/from-header"
    assert env["HTTP_X_PLAIN"] == "1"


@pytest.mark.parametrize("allow", ["10.1.2.3", "127.0.0.2", "10.0.0.0/8,::1"])
def test_forwarder_headers_from_an_untrusted_peer_are_dropped(server_factory, allow):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", allow, "wsgi_basic:app")
    env = env_of(srv, "/env/sub", FORWARDED)
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env/sub"
    assert "HTTP_SCRIPT_NAME" not in env and "HTTP_PATH_INFO" not in env
    assert env["HTTP_X_PLAIN"] == "1"


def test_underscore_header_not_listed_is_dropped_even_when_trusted(server_factory):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "127.0.0.1", "wsgi_basic:app")
    env = env_of(srv, "/env/env", [("REMOTE_USER", "alice"), ("X_Custom", "v"), ("Script_Name", "/env")])
    assert "HTTP_REMOTE_USER" not in env and "REMOTE_USER" not in env
    assert "HTTP_X_CUSTOM" not in env
    assert env["SCRIPT_NAME"] == "/env"  # listed names match case-insensitively on the wire
    assert env["PATH_INFO"] == "/env"


def test_remote_user_when_listed(server_factory):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "127.0.0.1",
                         "--forwarder-headers", "SCRIPT_NAME,PATH_INFO,REMOTE_USER", "wsgi_basic:app")
    env = env_of(srv, "/env", [("REMOTE_USER", "alice")])
    # gunicorn maps it like any field: HTTP_REMOTE_USER (REMOTE_USER stays the app's business).
    assert env["HTTP_REMOTE_USER"] == "alice"
    assert "REMOTE_USER" not in env


def test_forwarder_headers_with_header_map_refuse(server_factory):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "127.0.0.1", "--header-map", "refuse",
                         "wsgi_basic:app")
    assert env_of(srv, "/env/env/x", [("SCRIPT_NAME", "/env")])["SCRIPT_NAME"] == "/env"
    with srv.raw() as conn:
        resp = conn.request("GET", "/env", headers=[("X_Custom", "v")])
        assert resp.status == 400
        assert conn.is_closed()
    untrusted = server_factory("-w", "1", "--forwarded-allow-ips", "10.1.2.3", "--header-map", "refuse",
                               "wsgi_basic:app")
    with untrusted.raw() as conn:
        assert conn.request("GET", "/env", headers=[("SCRIPT_NAME", "/env")]).status == 400


def test_header_map_dangerous_maps_everything_for_everyone(server_factory):
    # gunicorn's create() honours any SCRIPT_NAME header that got through parsing.
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "10.1.2.3", "--header-map", "dangerous",
                         "wsgi_basic:app")
    env = env_of(srv, "/env/env/x", [("SCRIPT_NAME", "/env"), ("X_Custom", "v")])
    assert env["SCRIPT_NAME"] == "/env" and env["PATH_INFO"] == "/env/x"
    assert env["HTTP_X_CUSTOM"] == "v"


def test_filtered_requests_keep_the_connection_alive(server_factory):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "127.0.0.1", "wsgi_basic:app")
    with srv.raw() as conn:
        for _ in range(3):
            resp = conn.request("GET", "/env/env/a", headers=[("SCRIPT_NAME", "/env"), ("X_Drop", "1")])
            assert resp.status == 200
            env = resp.json()["env"]
            assert env["PATH_INFO"] == "/env/a" and "HTTP_X_DROP" not in env
        assert conn.is_open()


def test_empty_forwarder_headers_drop_script_name(server_factory):
    srv = server_factory("-w", "1", "--forwarded-allow-ips", "*", "--forwarder-headers", "",
                         "wsgi_basic:app")
    env = env_of(srv, "/env/x", [("SCRIPT_NAME", "/env")])
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/env/x"


# --------------------------------------------------------------------------- spew
SPEW_APP = '''
def app(environ, start_response):
    marker = "spewed-" + environ["PATH_INFO"].strip("/")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [marker.encode()]
'''


def test_spew_traces_the_apps_lines(server_factory, tmp_path):
    (tmp_path / "spew_app.py").write_text(SPEW_APP)
    srv = server_factory("-w", "1", "--spew", "spew_app:app", cwd=tmp_path)
    assert srv.get("/now").text == "spewed-now"
    srv.stop()
    out = srv.stdout_text()
    # gunicorn's debug.Spew: "module:lineno: source line" for every line executed.
    assert 'spew_app:3:     marker = "spewed-" + environ["PATH_INFO"].strip("/")' in out
    assert 'spew_app:5:     return [marker.encode()]' in out


def test_no_spew_by_default(server_factory, tmp_path):
    (tmp_path / "spew_app.py").write_text(SPEW_APP)
    srv = server_factory("-w", "1", "spew_app:app", cwd=tmp_path)
    assert srv.get("/now").text == "spewed-now"
    srv.stop()
    assert "spew_app:" not in srv.stdout_text()
