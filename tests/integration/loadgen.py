"""Zero-drop load generator: client threads hammer a server while it is reloaded (HUP),
upgraded (USR2, then TERM to the old master) and finally stopped (TERM).

A request counts as *failed* when it got no complete, correct response (`200` + body `hello`):
connection refused or reset, timeout, bad or short response. Each one is timed when the whole
request had been handed to the kernel (or, if that never happened, when it failed). Failures of
requests sent before the final TERM are the ones that must not happen; those sent after it are
expected (the server is going away, new connections are refused).

Used by test_zero_drop.py and on its own, against narwhal or gunicorn:

    .venv/bin/python tests/integration/loadgen.py --seconds 60
    /usr/bin/python3 tests/integration/loadgen.py --bin /usr/bin/gunicorn --seconds 60
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS_DIR = HERE / "apps"
REQUEST_TIMEOUT = 10.0
CLOSE_REQUEST = b"GET /hello HTTP/1.1\r\nHost: loadgen\r\nConnection: close\r\n\r\n"


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []  # (sent or failed at, kind, error text)

    def success(self):
        with self.lock:
            self.ok += 1

    def failure(self, sent_at, kind, error):
        at = sent_at if sent_at is not None else time.monotonic()
        with self.lock:
            self.failures.append((at, kind, "%s: %s" % (type(error).__name__, error)))


class LoadGenerator:
    """`keepalive` threads reuse one HTTP/1.1 connection (http.client reconnects after a
    `Connection: close` answer); `close` threads open a new connection per request."""

    def __init__(self, port, keepalive=3, close=3):
        self.port = port
        self.stats = Stats()
        self.stop_sending = threading.Event()
        self.threads = [threading.Thread(target=self._keepalive_client, daemon=True) for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self._close_client, daemon=True) for _ in range(close)]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout=15.0):
        self.stop_sending.set()
        for thread in self.threads:
            thread.join(timeout)

    def _keepalive_client(self):
        connection = None
        while not self.stop_sending.is_set():
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            sent_at = None
            try:
                connection.request("GET", "/hello")
                sent_at = time.monotonic()
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or body != b"hello":
                    raise ValueError("unexpected response %s %r" % (response.status, body[:80]))
                self.stats.success()
            except Exception as error:  # every failure is counted, none is retried
                self.stats.failure(sent_at, "keepalive", error)
                connection.close()
                connection = None
                time.sleep(0.01)
        if connection is not None:
            connection.close()

    def _close_client(self):
        while not self.stop_sending.is_set():
            sent_at = None
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT) as sock:
                    sock.sendall(CLOSE_REQUEST)
                    sent_at = time.monotonic()
                    chunks = []
                    while True:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        chunks.append(chunk)
                data = b"".join(chunks)
                if not data.startswith(b"HTTP/1.1 200 ") or not data.endswith(b"\r\n\r\nhello"):
                    raise ValueError("unexpected response %r" % data[:120])
                self.stats.success()
            except Exception as error:
                self.stats.failure(sent_at, "close", error)
                time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# the scenario
# ---------------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def read_pid(path):
    try:
        return int(Path(path).read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def run_scenario(binary, seconds=12.0, workers=2, hups=5, upgrade=True, log=print):
    """Starts `binary -w workers wsgi_basic:app` under load, then repeats (hups x HUP, USR2 +
    TERM to the old master) until `seconds` have passed, then sends the final TERM. Returns a
    dict of counts; `failed_before_stop` must be 0."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="narwhal-zero-drop-")
    pidfile = os.path.join(workdir, "master.pid")
    stderr_path = os.path.join(workdir, "stderr.log")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    for name in ("GUNICORN_CMD_ARGS", "NARWHAL_CMD_ARGS", "GUNICORN_PID", "GUNICORN_FD", "LISTEN_FDS", "LISTEN_PID"):
        env.pop(name, None)
    command = [str(binary), "-w", str(workers), "-b", "127.0.0.1:%d" % port, "-p", pidfile,
               "--graceful-timeout", "10", "wsgi_basic:app"]
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(command, cwd=str(APPS_DIR), env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
    master = proc.pid
    load = None
    result = {"server": str(binary), "hups": 0, "upgrades": 0}
    try:
        wait_for(lambda: read_pid(pidfile) == master, 15, "the pid file")
        wait_for(lambda: len(children_of(master)) >= workers, 15, "the workers")
        time.sleep(1.0)  # the workers import the app
        load = LoadGenerator(port).start()
        began = time.monotonic()
        time.sleep(1.0)
        while True:
            for _ in range(hups):
                os.kill(master, signal.SIGHUP)
                result["hups"] += 1
                time.sleep(0.5)
            if upgrade:
                master = upgrade_master(master, pidfile, workers, log)
                result["upgrades"] += 1
            if time.monotonic() - began >= seconds - 1.0:
                break
        time.sleep(1.0)
        stop_time = time.monotonic()
        os.kill(master, signal.SIGTERM)
        time.sleep(0.3)  # clients go on a little: refusals after the stop are expected
        load.stop()
        wait_for(lambda: not pid_alive(master), 20, "the master to exit")
        proc.poll()
    finally:
        if load is not None:
            load.stop()
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(5)
        result["stderr_tail"] = Path(stderr_path).read_text(errors="replace")[-3000:]
    before = [f for f in load.stats.failures if f[0] < stop_time]
    after = [f for f in load.stats.failures if f[0] >= stop_time]
    result.update(seconds=round(time.monotonic() - began, 1), requests=load.stats.ok + len(load.stats.failures),
                  ok=load.stats.ok, failed_before_stop=len(before), failed_after_stop=len(after),
                  connection_errors_before_stop=sum(1 for f in before if "Error" in f[2].split(":")[0]),
                  first_failures=["%+.3fs %s %s" % (f[0] - began, f[1], f[2]) for f in before[:5]],
                  stop_at="%+.3fs" % (stop_time - began))
    return result


def upgrade_master(old, pidfile, workers, log):
    """USR2, wait for the new master and its workers, TERM the old one, wait for promotion."""
    os.kill(old, signal.SIGUSR2)
    new = wait_for(lambda: read_pid(pidfile + ".2"), 15, "the new master's pid file")
    wait_for(lambda: len(children_of(new)) >= workers, 15, "the new master's workers")
    time.sleep(1.0)  # its workers import the app
    os.kill(old, signal.SIGTERM)
    wait_for(lambda: not pid_alive(old), 20, "the old master to exit")
    wait_for(lambda: read_pid(pidfile) == new, 10, "the new master to take the pid file over")
    log("upgraded master %d -> %d" % (old, new))
    return new


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(HERE.parents[1] / ".venv" / "bin" / "narwhal"))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("ZERO_DROP_SECONDS", 30)))
    parser.add_argument("--no-upgrade", action="store_true", help="HUPs only")
    args = parser.parse_args()
    result = run_scenario(args.bin, seconds=args.seconds, upgrade=not args.no_upgrade,
                          log=lambda m: print(m, file=sys.stderr))
    tail = result.pop("stderr_tail")
    print(json.dumps(result, indent=2))
    if result["failed_before_stop"]:
        print(tail, file=sys.stderr)
    return 1 if result["failed_before_stop"] else 0


if __name__ == "__main__":
    sys.exit(main())
