"""A real nginx in front of narwhal, for the integration suite (issue 14 "Edge").

Two parts:

* `site_config(...)` renders the nginx site configuration docs/deploy.md recommends: the
  `upstream` block with its keep-alive pool, the `map` for WebSocket upgrades and the `server`
  block. It is the one source of truth: docs/deploy.md shows its output for the documented
  example values (`python3 tests/integration/nginx.py` prints those blocks, `... --update-doc`
  rewrites them in docs/deploy.md) and
  test_nginx.py::test_deploy_doc_shows_the_tested_config fails when the two differ.
* `Nginx` runs `nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'` in the foreground with every
  path (pid, logs, temp files) inside a temporary DIR, wrapping the site configuration in a
  test-only main context (`main_config`). As root (CI) nginx's workers switch to the
  `user` directive's account: it is set to the current user and group so they can reach DIR
  and unix sockets in it; as a normal user the directive is left out (nginx would ignore it).

Hook for other front-end protocols: `site_config(extra_locations=[...])` adds location blocks
inside the server block, e.g. the `uwsgi_pass` location for narwhal's `--protocol uwsgi`
(`uwsgi_location()` renders the one docs/deploy.md shows; Nginx copies nginx's `uwsgi_params`
into DIR so `include uwsgi_params;` resolves there).
"""

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

NGINX_BIN = os.environ.get("NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# The example values docs/deploy.md uses (its blocks are site_config() rendered with these).
DOC_EXAMPLE = {"upstream": "127.0.0.1:8000", "listen": "80", "server_name": "example.com"}
DOC_UNIX_SOCKET = "unix:/run/narwhal/narwhal.sock"
DOC_TLS = ("/etc/ssl/certs/example.com.pem", "/etc/ssl/private/example.com.key")


def site_config(upstream="127.0.0.1:8000", listen="80", server_name="example.com",
                keepalive=16, tls=None, extra_locations=()):
    """The site configuration of docs/deploy.md.

    upstream:  "HOST:PORT" or "unix:/path/to.sock" (narwhal's --bind)
    listen:    nginx's `listen` address
    keepalive: idle connections to narwhal each nginx worker keeps (0: none, a connection per
               request — the test's control case, not a recommendation)
    tls:       (certificate, key) to terminate TLS at nginx (`listen ... ssl http2`)
    extra_locations: more `location` blocks (text, indented by 4) inside the server block
    """
    pool = ("    keepalive %d;\n"
            "    keepalive_timeout 4s;  # below narwhal's --keep-alive 5: nginx closes idle ones\n"
            % keepalive) if keepalive else ""
    if tls:
        listen_lines = ("    listen %s ssl http2;\n"
                        "    ssl_certificate     %s;\n"
                        "    ssl_certificate_key %s;\n" % (listen, tls[0], tls[1]))
    else:
        listen_lines = "    listen %s;\n" % listen
    extra = "".join("\n" + block.rstrip("\n") + "\n" for block in extra_locations)
    return (
        "upstream narwhal {\n"
        "    server %(upstream)s fail_timeout=0;\n"
        "%(pool)s"
        "}\n"
        "\n"
        "# WebSocket upgrades get `Connection: upgrade`; every other request gets no Connection\n"
        "# header at all, so its upstream connection goes back to the keep-alive pool.\n"
        "map $http_upgrade $narwhal_connection {\n"
        "    default upgrade;\n"
        "    ''      '';\n"
        "}\n"
        "\n"
        "# The client's Host, port included; for an HTTP/1.0 request without one, server_name\n"
        "# (narwhal answers 400 to the HTTP/1.1 request without Host nginx would send).\n"
        "map $http_host $narwhal_host {\n"
        "    default $http_host;\n"
        "    ''      $host;\n"
        "}\n"
        "\n"
        "server {\n"
        "%(listen_lines)s"
        "    server_name %(server_name)s;\n"
        "    client_max_body_size 100m;\n"
        "\n"
        "    proxy_http_version 1.1;\n"
        "    proxy_set_header Connection $narwhal_connection;\n"
        "    proxy_set_header Upgrade $http_upgrade;\n"
        "    proxy_set_header Host $narwhal_host;\n"
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "    proxy_set_header X-Forwarded-Proto $scheme;\n"
        "    proxy_redirect off;\n"
        "\n"
        "    location / {\n"
        "        proxy_pass http://narwhal;\n"
        "    }\n"
        "\n"
        "    # Uploads the app reads while they arrive (see \"Buffering\").\n"
        "    location /upload/ {\n"
        "        proxy_pass http://narwhal;\n"
        "        proxy_request_buffering off;\n"
        "    }\n"
        "\n"
        "    # Responses that must reach the client as they are produced: server-sent events,\n"
        "    # long polls, progress streams.\n"
        "    location /stream/ {\n"
        "        proxy_pass http://narwhal;\n"
        "        proxy_buffering off;\n"
        "    }\n"
        "%(extra)s"
        "}\n"
    ) % {"upstream": upstream, "pool": pool, "listen_lines": listen_lines,
         "server_name": server_name, "extra": extra}


def uwsgi_location(path="/uwsgi/", upstream="unix:/run/narwhal/narwhal-uwsgi.sock"):
    """A uwsgi_pass location (narwhal's `--protocol uwsgi`): the block docs/deploy.md shows, run by
    test_nginx.py::test_uwsgi_pass; pass it to site_config(extra_locations=...)."""
    return ("    location %s {\n"
            "        include uwsgi_params;\n"
            "        uwsgi_pass %s;\n"
            "    }\n" % (path, upstream))


def main_config(directory, site_file, worker_processes=1):
    """The test-only main context around a site file: everything inside `directory`."""
    d = str(directory)
    user = ""
    if os.geteuid() == 0:
        user = "user %s %s;\n" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)
    return (
        "# generated by tests/integration/nginx.py for one test\n"
        "%(user)s"
        "worker_processes %(workers)d;\n"
        "pid %(d)s/nginx.pid;\n"
        "error_log %(d)s/error.log info;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    log_format upstream '$remote_addr \"$request\" $status $body_bytes_sent '\n"
        "                        'upstream=$upstream_addr upstream_status=$upstream_status '\n"
        "                        'connect=$upstream_connect_time';\n"
        "    access_log %(d)s/access.log upstream;\n"
        "    client_body_temp_path %(d)s/client_body;\n"
        "    proxy_temp_path %(d)s/proxy;\n"
        "    fastcgi_temp_path %(d)s/fastcgi;\n"
        "    uwsgi_temp_path %(d)s/uwsgi;\n"
        "    scgi_temp_path %(d)s/scgi;\n"
        "    include %(site)s;\n"
        "}\n"
    ) % {"user": user, "workers": worker_processes, "d": d, "site": site_file}


class NginxStartError(Exception):
    pass


def nginx_problem():
    """Why nginx cannot run here (None when it can)."""
    if not os.access(NGINX_BIN, os.X_OK):
        return ("nginx not found (%s): install Debian's nginx-light (scripts/install-deps.sh, "
                "`make deps`) or set NGINX_BIN" % NGINX_BIN)
    return None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    """One foreground nginx serving `site` (site_config()'s text, with "{listen}" replaced by
    its own 127.0.0.1:PORT) from a temporary directory."""

    def __init__(self, site, worker_processes=1, port=None):
        self.dir = Path(tempfile.mkdtemp(prefix="narwhal-nginx-"))
        os.chmod(self.dir, 0o755)  # nginx's workers (the `user`) must enter it
        self.port = port or _free_port()
        self.site = site.replace("{listen}", "127.0.0.1:%d" % self.port)
        self.worker_processes = worker_processes
        self.proc = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout=READY_TIMEOUT):
        (self.dir / "site.conf").write_text(self.site)
        (self.dir / "nginx.conf").write_text(
            main_config(self.dir, self.dir / "site.conf", self.worker_processes))
        with contextlib.suppress(OSError):
            shutil.copy("/etc/nginx/uwsgi_params", self.dir / "uwsgi_params")
        self._stderr = open(self.dir / "stderr.log", "wb")
        self.cmd = [NGINX_BIN, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"),
                    "-g", "daemon off;"]
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._stderr,
                                     stderr=self._stderr, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NginxStartError("nginx exited with %s\n%s" % (self.proc.returncode, self.logs()))
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.05)
        raise NginxStartError("nginx did not accept on 127.0.0.1:%d within %ss\n%s"
                              % (self.port, timeout, self.logs()))

    def stop(self):
        """QUIT (graceful), then TERM, then KILL of the whole process group."""
        if self.proc is None:
            return
        try:
            for sig in (signal.SIGQUIT, signal.SIGTERM):
                if self.proc.poll() is not None:
                    break
                self.proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(STOP_TIMEOUT)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self._stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- observation -------------------------------------------------------------------------
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _read(self, name):
        with contextlib.suppress(FileNotFoundError):
            return (self.dir / name).read_text(errors="replace")
        return ""

    def error_log(self):
        return self._read("error.log")

    def access_log(self):
        return self._read("access.log").splitlines()

    def logs(self):
        return "--- nginx stderr ---\n%s\n--- nginx error.log ---\n%s" % (
            self._read("stderr.log")[-3000:], self.error_log()[-3000:])


class NginxFactory:
    """nginx_factory(site_text) -> a started Nginx; all stopped when the fixture ends."""

    def __init__(self):
        self.instances = []

    def __call__(self, site, worker_processes=1):
        instance = Nginx(site, worker_processes=worker_processes)
        self.instances.append(instance)
        instance.start()
        return instance

    def cleanup(self):
        for instance in self.instances:
            with contextlib.suppress(Exception):
                instance.cleanup()


def doc_blocks():
    """The nginx blocks docs/deploy.md shows, rendered from site_config() and uwsgi_location()."""
    return {
        "tcp": site_config(**DOC_EXAMPLE),
        "unix-upstream": site_config(**dict(DOC_EXAMPLE, upstream=DOC_UNIX_SOCKET)).split("\n\n")[0] + "\n",
        # the lines that differ when nginx terminates TLS (the rest is the "tcp" block)
        "tls": "".join(line for line in site_config(**dict(DOC_EXAMPLE, listen="443", tls=DOC_TLS)).splitlines(True)
                       if line not in site_config(**DOC_EXAMPLE).splitlines(True)),
        "uwsgi": uwsgi_location(),
    }


def update_doc(path):
    """Rewrites each `<!-- nginx-config: NAME -->` block of docs/deploy.md from doc_blocks()."""
    import re
    text = Path(path).read_text()
    for name, block in doc_blocks().items():
        pattern = re.compile(r"(<!-- nginx-config: %s -->\n```nginx\n).*?(```)" % re.escape(name), re.S)
        text, count = pattern.subn(lambda m: m.group(1) + block + m.group(2), text)
        if count != 1:
            raise SystemExit("%s: %d blocks named %r (expected 1)" % (path, count, name))
    Path(path).write_text(text)


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--update-doc"]:  # python3 tests/integration/nginx.py --update-doc
        update_doc(Path(__file__).resolve().parents[2] / "docs" / "deploy.md")
    else:
        for name, text in doc_blocks().items():
            print("<!-- nginx-config: %s -->\n```nginx\n%s```\n" % (name, text))
