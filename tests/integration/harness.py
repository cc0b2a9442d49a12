"""Harness (server process + helpers) for the narwhal integration suite.

Starts the REAL server binary as a subprocess (NARWHAL_BIN, default
<repo>/.venv/bin/narwhal), on a free port of 127.0.0.1, with its cwd in
tests/integration/apps, and drives it over real sockets.

To validate the harness without narwhal, point NARWHAL_BIN at gunicorn:
    NARWHAL_BIN=/usr/bin/gunicorn /usr/bin/python3 -m pytest -q tests/integration
"""

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APPS_DIR = HERE / "apps"
DEFAULT_BIN = REPO / ".venv" / "bin" / "narwhal"

sys.path.insert(0, str(HERE))  # make `import rawhttp` work from every test module
from rawhttp import RawConnection  # noqa: E402

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 8.0
HTTP_TIMEOUT = 10.0


# ---------------------------------------------------------------------------
# binary location
# ---------------------------------------------------------------------------
def narwhal_binary():
    return Path(os.environ.get("NARWHAL_BIN") or DEFAULT_BIN)


def timing_factor():
    """How much slower the server under test is: the ASan/UBSan build (make test-sanitize)
    gets 4x the time in latency assertions."""
    return 4.0 if "asan" in str(narwhal_binary()) else 1.0


def _binary_problem():
    path = narwhal_binary()
    if not path.exists():
        how = ("NARWHAL_BIN=%s" % os.environ["NARWHAL_BIN"]) if os.environ.get("NARWHAL_BIN") \
            else "default location (set NARWHAL_BIN to override)"
        return ("narwhal binary not found: %s [%s]. Build and install it first "
                "(e.g. `make` creates .venv and pip-installs narwhal), or point "
                "NARWHAL_BIN at the binary." % (path, how))
    if not os.access(path, os.X_OK):
        return "narwhal binary is not executable: %s" % path
    return None


def narwhal_python():
    """How to run a Python script that embeds narwhal (narwhal.app.base) with the same install
    as the binary under test: (the interpreter of its console script, extra environment). Under
    the ASan build (make test-sanitize) NARWHAL_BIN is a wrapper that preloads the sanitizer
    runtimes; a script importing narwhal._core needs the same LD_PRELOAD."""
    script, env = narwhal_binary(), {}
    text = script.read_text(errors="replace") if script.stat().st_size < 65536 else ""
    preload = re.search(r'LD_PRELOAD="([^"]*)"', text)
    target = re.search(r"exec (\S+)", text)
    if preload and target:  # the wrapper: the real console script is what it executes
        env["LD_PRELOAD"] = preload.group(1)
        script = Path(target.group(1))
        text = script.read_text(errors="replace")
    shebang = text.splitlines()[0] if text.startswith("#!") else "#!" + sys.executable
    return shebang[2:].strip().split()[0], env


# ---------------------------------------------------------------------------
# ports
# ---------------------------------------------------------------------------
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# the server under test
# ---------------------------------------------------------------------------
class ServerStartError(Exception):
    pass


def base_env(extra=None):
    env = dict(os.environ)
    env.pop("GUNICORN_CMD_ARGS", None)
    env.pop("NARWHAL_CMD_ARGS", None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
    return env


class Server:
    """A running narwhal process. Use via the `server_factory` fixtures."""

    def __init__(self, args, cwd=APPS_DIR, env=None, bind=True, port=None, command=None):
        self.args = list(args)
        self.command = list(command) if command else None  # default: [narwhal_binary()]
        self.cwd = Path(cwd)
        self.extra_env = env or {}
        self.bind = bind
        self.port = port or free_port()
        self.proc = None
        self._logdir = tempfile.TemporaryDirectory(prefix="narwhal-it-")
        self._stderr_path = Path(self._logdir.name) / "stderr.log"
        self._stdout_path = Path(self._logdir.name) / "stdout.log"
        self.cmd = None

    # -- lifecycle --------------------------------------------------------
    def _spawn(self):
        cmd = self.command or [str(narwhal_binary())]
        if self.bind:
            cmd += ["-b", "127.0.0.1:%d" % self.port]
        # extra flags for every server, e.g. NARWHAL_TEST_EXTRA_ARGS="-k gthread"
        # when validating the suite against gunicorn's keep-alive capable worker
        cmd += shlex.split(os.environ.get("NARWHAL_TEST_EXTRA_ARGS", ""))
        cmd += self.args
        self.cmd = cmd
        self._stderr = open(self._stderr_path, "wb")
        self._stdout = open(self._stdout_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=str(self.cwd), env=base_env(self.extra_env),
            stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr,
            start_new_session=True)  # own process group: teardown can reap workers

    def start(self, ready_timeout=READY_TIMEOUT):
        attempts = 3 if self.bind else 1
        for attempt in range(attempts):
            self._spawn()
            try:
                self.wait_ready(ready_timeout)
                return self
            except ServerStartError:
                text = self.stderr_text()
                self.stop()
                in_use = "in use" in text.lower() or "EADDRINUSE" in text
                if in_use and attempt + 1 < attempts:
                    self.port = free_port()
                    continue
                raise

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerStartError(
                    "server exited with code %s before accepting connections\n"
                    "cmd: %s\ncwd: %s\n--- stderr ---\n%s" % (
                        rc, " ".join(self.cmd), self.cwd, self.stderr_text()))
            if port_accepts(self.port):
                if self.proc.poll() is None:
                    return
            time.sleep(0.05)
        raise ServerStartError(
            "server did not accept connections on 127.0.0.1:%d within %.0fs\n"
            "cmd: %s\ncwd: %s\n--- stderr ---\n%s" % (
                self.port, timeout, " ".join(self.cmd), self.cwd, self.stderr_text()))

    def terminate(self, timeout=STOP_TIMEOUT):
        """SIGTERM the master and wait; returns the exit code (None if it hung)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        return self.proc.returncode

    def stop(self):
        """SIGTERM, wait, SIGKILL; always reaps the whole process group."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.terminate()
            if self.proc.poll() is None:
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            # workers orphaned by a killed master live on in our process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            for f in (getattr(self, "_stderr", None), getattr(self, "_stdout", None)):
                if f and not f.closed:
                    f.close()

    def cleanup(self):
        self.stop()
        self._logdir.cleanup()

    # -- observation --------------------------------------------------------
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        try:
            return self._stderr_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout_text(self):
        try:
            return self._stdout_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for_stderr(self, needle, timeout=5.0):
        """Poll the error log until `needle` shows up; returns the log text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr_text()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError("%r not found in server stderr within %ss:\n%s"
                                     % (needle, timeout, text[-4000:]))
            time.sleep(0.05)

    # -- clients ------------------------------------------------------------
    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        with requests.Session() as s:
            return s.request(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def raw(self, timeout=HTTP_TIMEOUT):
        return RawConnection("127.0.0.1", self.port, timeout)

    def __repr__(self):
        return "<Server port=%s cmd=%s>" % (self.port, self.cmd)


class ServerFactory:
    """Start servers; all of them are stopped when the owning fixture ends."""

    def __init__(self, worker_args=()):
        self.servers = []
        # The worker type the suites run against (conftest's worker_type parametrization):
        # these come first, so a test's own -k/--threads still win.
        self.worker_args = tuple(worker_args)

    def __call__(self, *args, cwd=APPS_DIR, env=None, bind=True, port=None, start=True,
                 ready_timeout=READY_TIMEOUT, command=None):
        srv = Server(self.worker_args + tuple(args), cwd=cwd, env=env, bind=bind, port=port,
                     command=command)
        self.servers.append(srv)
        if start:
            error = None
            try:
                srv.start(ready_timeout)
            except ServerStartError as e:
                error = str(e)
            if error:
                pytest.fail(error, pytrace=False)
        return srv

    def cleanup(self):
        for srv in self.servers:
            with contextlib.suppress(Exception):
                srv.cleanup()


def run_cli(*args, cwd=APPS_DIR, env=None, timeout=20, command=None):
    """Run the binary (or `command`) to completion (for --version, --check-config, ...).
    On timeout the whole process group is killed and the test fails."""
    cmd = list(command or [str(narwhal_binary())]) + list(args)
    proc = subprocess.Popen(cmd, cwd=str(cwd), env=base_env(env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("%s did not exit within %ss\nstdout:%s\nstderr:%s"
                % (" ".join(cmd), timeout, out, err), pytrace=False)


def wait_until(predicate, timeout=5.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, message))
        time.sleep(interval)


# The smuggling checks of the HTTP suites: a request that must never reach the app, and how many
# requests wsgi_basic's /count route has seen.
SMUGGLED = b"GET /count HTTP/1.1\r\nHost: smuggled\r\n\r\n"


def app_calls(server):
    with server.raw(timeout=5) as conn:
        # HTTP/1.0 without fields: fits every limit a test server may set (e.g. 10-byte fields)
        conn.send(b"GET /count HTTP/1.0\r\n\r\n")
        resp = conn.read_response()
    assert resp.status == 200, resp
    return int(resp.body)


def worker_rss_kib(server):
    """The resident memory of a server's workers (the master's children), in KiB."""
    total = 0
    for pid in os.popen("pgrep -P %d" % server.pid).read().split():
        with open("/proc/%s/status" % pid) as f:
            total += int(next(line for line in f if line.startswith("VmRSS")).split()[1])
    return total
