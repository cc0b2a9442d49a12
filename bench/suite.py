#!/usr/bin/python3
"""narwhal's benchmark suite: narwhal beside gunicorn (sync, gthread), uWSGI, waitress, uvicorn and
nginx, one fresh server per measurement, server pinned to one core and wrk to the other.

  bench/suite.py                      # everything (~12 min), markdown report on stdout
  bench/suite.py --append             # ... and insert the report into bench/RESULTS.md
  bench/suite.py --only hello-keepalive,idle --servers narwhal,gunicorn-sync --runs 1 --duration 3

Every run also saves its raw rows as bench/results/<UTC stamp>/results.json and, with
python3-matplotlib, SVG charts beside it (bench/charts.py), which the report links.
See bench/README.md for what is measured and how to read it. Progress goes to stderr.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
LIB = os.path.join(HERE, "lib")
sys.path[:0] = [HERE, LIB]  # bench/charts.py, bench/lib/
import proctree  # noqa: E402  (bench/lib)
from report import parse_wrk  # noqa: E402
from suite_tables import IDLE_TITLE, SCALE_BASELINE, SCALE_NAMES, TITLES, baseline_for, idle_table, mib, rows_table  # noqa: E402

PY = "/usr/bin/python3"  # never the pyenv python3 first on PATH
NARWHAL = os.environ.get("NARWHAL", "/work/main/.venv/bin/narwhal")
NARWHAL_BEFORE = os.environ.get("NARWHAL_BEFORE")  # "narwhal-before": another build, for A/B runs
GTHREAD = ["-k", "gthread", "--threads", "4"]  # narwhal-gthread and gunicorn-gthread alike
GEVENT = ["-k", "gevent", "--worker-connections", "1000"]  # narwhal-gevent and gunicorn-gevent alike
GUNICORN = os.environ.get("GUNICORN", "/usr/bin/gunicorn")
MIB = 1024 * 1024


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Servers. Each returns (argv, environment additions, cwd) for an app given as module name.

def cmd_narwhal(app, port, ctx, workers=1, extra=(), binary=None):
    return [binary or NARWHAL, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", APPS, *extra, f"{app}:app"]


def cmd_gunicorn(app, port, ctx, worker_class="sync", extra=()):
    argv = [GUNICORN, "-w", "1", "-k", worker_class, "-b", f"127.0.0.1:{port}", "--chdir", APPS]
    if worker_class == "gthread":
        argv += GTHREAD[2:]
    if worker_class == "gevent":
        argv += GEVENT[2:]
    return argv + [*extra, f"{app}:app"]


def cmd_uwsgi(app, port, ctx):
    # --http-socket answers HTTP/1.1 but closes every connection without saying so, which wrk counts
    # as read errors: the added header makes the close explicit (a connection per request, like
    # gunicorn sync).
    return ["uwsgi", "--http-socket", f"127.0.0.1:{port}", "--plugin", "python3", "--chdir", APPS,
            "--wsgi-file", os.path.join(APPS, app + ".py"), "--callable", "app", "--master",
            "--processes", "1", "--disable-logging", "--die-on-term", "--need-app",
            "--listen", "1024", "--add-header", "Connection: close"]


def cmd_waitress(app, port, ctx):
    # waitress-serve's default is 4 threads; --backlog like the others' (its default is 1024).
    return ["waitress-serve", f"--listen=127.0.0.1:{port}", "--backlog=2048", f"{app}:app"]


ASGI = ["-k", "asgi"]  # narwhal-asgi: uvloop when importable, as uvicorn --loop uvloop


def cmd_uvicorn(app, port, ctx):
    asgi = {"hello": "hello_asgi"}.get(app, app)
    return [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--app-dir", APPS,
            "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
            "--backlog", "2048", f"{asgi}:app"]


NGINX_CONF = """\
user root;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  default_type text/plain;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000000;
  client_body_temp_path {work}/client_body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=2048;
    location = / {{ return 200 "Hello, World!"; }}
    location / {{ root {static}; }}
  }}
}}
"""


def cmd_nginx(app, port, ctx):
    work = tempfile.mkdtemp(prefix="nginx.", dir=ctx["work"])
    with open(os.path.join(work, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(work=work, port=port, static=ctx["static"]))
    return ["nginx", "-p", work, "-c", os.path.join(work, "nginx.conf"), "-g", "daemon off;"]


# The cost of observability (workload observability-cost): statsd to a UDP port nobody reads (the
# suite holds it open, so datagrams are queued then dropped, never refused), and the Prometheus
# endpoint, scraped every second while wrk runs.
def statsd_sink_port(ctx):
    if "statsd_sink" not in ctx:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        ctx["statsd_sink"] = sink
    return ctx["statsd_sink"].getsockname()[1]


def cmd_narwhal_metrics(app, port, ctx, extra=()):
    with socket.socket() as probe:  # a free port for /metrics, remembered for the scraper
        probe.bind(("127.0.0.1", 0))
        ctx["metrics_port"] = probe.getsockname()[1]
    return cmd_narwhal(app, port, ctx, 1, ["--metrics-bind", f"127.0.0.1:{ctx['metrics_port']}", *extra])


class Scraper:
    """GET /metrics every `interval` seconds in a thread (a Prometheus server's part)."""

    def __init__(self, ctx, interval=1.0):
        self.ctx, self.interval, self.stop_event, self.scrapes = ctx, interval, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_event.wait(self.interval):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.ctx["metrics_port"], timeout=5)
                connection.request("GET", "/metrics")
                if connection.getresponse().read().startswith(b"# HELP"):
                    self.scrapes += 1
                connection.close()
            except (OSError, KeyError, http.client.HTTPException):
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(10)


SERVERS = {
    "narwhal": cmd_narwhal,
    "narwhal-before": lambda a, p, c, extra=(): cmd_narwhal(a, p, c, 1, extra, binary=NARWHAL_BEFORE),
    "narwhal-gthread": lambda a, p, c, extra=(): cmd_narwhal(a, p, c, 1, GTHREAD + list(extra)),
    "gunicorn-sync": lambda a, p, c: cmd_gunicorn(a, p, c, "sync"),
    "gunicorn-gthread": lambda a, p, c: cmd_gunicorn(a, p, c, "gthread"),
    "narwhal-gevent": lambda a, p, c, extra=(): cmd_narwhal(a, p, c, 1, GEVENT + list(extra)),
    "gunicorn-gevent": lambda a, p, c: cmd_gunicorn(a, p, c, "gevent"),
    "uwsgi": cmd_uwsgi,
    "waitress": cmd_waitress,
    "uvicorn": cmd_uvicorn,
    "narwhal-asgi": lambda a, p, c, extra=(): cmd_narwhal({"hello": "hello_asgi"}.get(a, a), p, c, 1, ASGI + list(extra)),
    "narwhal-statsd": lambda a, p, c, extra=(): cmd_narwhal(a, p, c, 1, ["--statsd-host", f"127.0.0.1:{statsd_sink_port(c)}",
                                                                         *extra]),
    "narwhal-metrics": cmd_narwhal_metrics,
    "nginx": cmd_nginx,
}


def server_missing(name):
    if name == "narwhal-before" and not NARWHAL_BEFORE:
        return "NARWHAL_BEFORE (or --narwhal-before) not set"
    exe = {"narwhal": NARWHAL, "narwhal-gthread": NARWHAL, "narwhal-statsd": NARWHAL, "narwhal-metrics": NARWHAL, "narwhal-before": NARWHAL_BEFORE, "gunicorn-sync": GUNICORN, "gunicorn-gthread": GUNICORN,
           "narwhal-gevent": NARWHAL, "gunicorn-gevent": GUNICORN,
           "uwsgi": "uwsgi", "waitress": "waitress-serve", "nginx": "nginx"}.get(name)
    if exe and not shutil.which(exe):
        return f"{exe} not found"
    if name.endswith("-gevent"):
        probe = subprocess.run([PY, "-c", "import gevent"], capture_output=True)
        if probe.returncode:
            return "python3-gevent not installed"
    if name == "uvicorn":
        probe = subprocess.run([PY, "-c", "import uvicorn, httptools, uvloop"], capture_output=True)
        if probe.returncode:
            return "python3-uvicorn/httptools/uvloop not installed"
    return None


def version_of(name):
    try:
        if name in ("narwhal", "narwhal-before"):
            binary = NARWHAL if name == "narwhal" else NARWHAL_BEFORE
            return subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip() + f" ({binary})"
        if name.startswith("gunicorn"):
            return subprocess.run([GUNICORN, "--version"], capture_output=True, text=True).stdout.strip()
        if name == "uwsgi":
            return "uWSGI " + subprocess.run(["uwsgi", "--version"], capture_output=True, text=True).stdout.strip()
        if name == "nginx":
            return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        if name == "waitress":
            return "waitress " + subprocess.run([PY, "-c", "import importlib.metadata as m; print(m.version('waitress'))"],
                                                capture_output=True, text=True).stdout.strip()
        if name == "uvicorn":
            return subprocess.run([PY, "-c", "import uvicorn, httptools, uvloop; print('uvicorn', uvicorn.__version__,"
                                   " '+ httptools', httptools.__version__, '+ uvloop', uvloop.__version__)"],
                                  capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return "?"


class Server:
    """A fresh server process tree, started pinned, stopped with SIGTERM (SIGKILL for leftovers)."""

    def __init__(self, name, argv, port, ctx, cpus, ready_path="/", env=None, tls=False):
        self.name, self.port, self.ctx, self.tls = name, port, ctx, tls
        self.log_path = os.path.join(ctx["work"], f"{name}.{port}.log")
        environment = dict(os.environ, BENCH_STATIC_DIR=ctx["static"], PYTHONPATH=APPS, **(env or {}))
        self.log_file = open(self.log_path, "w")
        # taskset execs the server, so proc.pid is the master's pid.
        self.proc = subprocess.Popen(["taskset", "-c", cpus, *argv], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=APPS, env=environment,
                                     start_new_session=True)
        self.pid = self.proc.pid
        self.wait_ready(ready_path)

    def wait_ready(self, path):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{open(self.log_path).read()[-3000:]}")
            try:
                conn = (http.client.HTTPSConnection("127.0.0.1", self.port, timeout=2,
                                                    context=ssl._create_unverified_context()) if self.tls
                        else http.client.HTTPConnection("127.0.0.1", self.port, timeout=2))
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on port {self.port}:\n{open(self.log_path).read()[-3000:]}")

    def tree(self):
        return [self.pid] + proctree.descendants(self.pid)

    def cpu_seconds(self):
        return sum((proctree.read_stat(pid) or (0, 0))[1] for pid in self.tree()) / proctree.CLK_TCK

    def rss(self):
        """(master KiB, [worker KiB, ...]): workers are all descendants."""
        tree = self.tree()
        return proctree.rss_kb(tree[0]), [proctree.rss_kb(pid) for pid in tree[1:]]

    def worker_pids(self):
        return self.tree()[1:] or [self.pid]

    def stop(self):
        pids = self.tree()
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for pid in pids:  # only processes of the tree we started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log_file.close()


# ---------------------------------------------------------------------------------------------
# Load generation.

def run_wrk(url, seconds, connections, cpus, threads=1, close=False, script=None, timeout="10s"):
    """Runs wrk and returns its parsed figures plus its own CPU time (from wait4's rusage)."""
    argv = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
            "--timeout", timeout, "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    if script:
        argv += ["-s", script]
    argv.append(url)
    out = tempfile.NamedTemporaryFile("w+", suffix=".wrk.txt", delete=False)
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    text = out.read()
    out.close()
    os.unlink(out.name)
    try:
        requests, rps, errors, p50, p99 = parse_wrk_text(text)
    except (AttributeError, ValueError):
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
    return {"requests": requests, "rps": rps, "errors": errors, "p50_ms": p50, "p99_ms": p99,
            "wrk_cpu_s": usage.ru_utime + usage.ru_stime, "text": text}


def ws_load_binary():
    """bench/tools/ws_echo_load.cpp, compiled once per suite run (wrk speaks no WebSocket)."""
    binary = os.path.join(CTX["work"], "ws_echo_load")
    if not os.path.exists(binary):
        subprocess.run(["g++", "-O2", "-std=c++20", "-o", binary, os.path.join(HERE, "tools", "ws_echo_load.cpp")],
                       check=True)
    return binary


def run_ws_echo(url, seconds, connections, cpus):
    """WebSocket echo over `connections` connections: messages/s as "rps" (one message = one request)."""
    port_path = url.split("//", 1)[1].split(":", 1)[1]
    port, path = port_path.split("/", 1)
    argv = ["taskset", "-c", cpus, ws_load_binary(), "127.0.0.1", port, "/" + path, str(connections), str(seconds)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    text = proc.stdout.read()
    figures = dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)
    if "messages" not in figures:
        raise RuntimeError(f"ws_echo_load failed ({status}):\n{text}")
    return {"requests": int(figures["messages"]), "rps": float(figures["messages_per_second"]),
            "errors": int(figures["errors"]), "p50_ms": 0.0, "p99_ms": 0.0,
            "wrk_cpu_s": usage.ru_utime + usage.ru_stime, "text": text}


def run_h2load(url, seconds, connections, cpus):
    """HTTP/2 load (h2load, nghttp2-client): `connections` connections × 10 concurrent streams."""
    argv = ["taskset", "-c", cpus, "h2load", "-c", str(connections), "-m", "10", "-D", str(seconds), url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    text = proc.stdout.read()
    rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", text)
    done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    if not rps or not done:
        raise RuntimeError(f"h2load failed ({status}):\n{text}")
    return {"requests": int(done.group(3)), "rps": float(rps.group(1)),
            "errors": int(done.group(4)) + int(done.group(5)), "p50_ms": 0.0, "p99_ms": 0.0,
            "wrk_cpu_s": usage.ru_utime + usage.ru_stime, "text": text}


def parse_wrk_text(text):
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        f.write(text)
    try:
        return parse_wrk(f.name)
    finally:
        os.unlink(f.name)


def machine_busy_seconds():
    """Non-idle CPU seconds of the whole machine (all cores) from /proc/stat: with the server's and
    wrk's own CPU subtracted, what other work (other sessions, builds) took during a run."""
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    # irq/softirq time is left out: loopback TCP work done there is the benchmark's own, and the
    # kernel does not charge it to any process; steal (the hypervisor's other guests) is counted.
    return (user + nice + system + steal) / proctree.CLK_TCK


def per_cpu_ticks():
    """{cpu index: [user, nice, system, idle, iowait, irq, softirq, steal]} from /proc/stat."""
    out = {}
    for line in open("/proc/stat"):
        if line.startswith("cpu") and line[3].isdigit():
            fields = line.split()
            out[int(fields[0][3:])] = [int(x) for x in fields[1:9]]
    return out


def core_usage(before, after, cpus):
    """(busy, softirq) fractions of the given cores (a taskset list like "0" or "0,1") between two
    per_cpu_ticks() snapshots. Busy counts everything but idle/iowait, softirq included: loopback
    TCP work (handshakes, delivery) runs there and is charged to no process's utime/stime."""
    busy = softirq = total = 0
    for cpu in (int(c) for c in cpus.split(",")):
        delta = [b - a for a, b in zip(before.get(cpu, []), after.get(cpu, []))]
        if not delta:
            continue
        total += sum(delta)
        busy += sum(delta) - delta[3] - delta[4]
        softirq += delta[6]
    return (busy / total, softirq / total) if total else (0.0, 0.0)


def load_average():
    return float(open("/proc/loadavg").read().split()[0])


# ---------------------------------------------------------------------------------------------
# What an idle client core does. This machine is a VM whose kernel command line sets
# haltpoll.guest_halt_poll_ns=0: an idle vCPU halts at once, and waking it (an IPI, i.e. a VM exit)
# costs the *waking* process ≈14 µs. In a keep-alive run where wrk idles between responses (Flask:
# wrk 20% busy) every response then pays that inside the server's writev (perf: 20% of narwhal's
# worker time in sock_def_readable → waking wrk), for every server alike: the load generator's
# idleness is charged to the server under test. "poll" sets the *client* cores' PM QoS resume
# latency to 0 (sysfs pm_qos_resume_latency_us = "n/a"), so cpuidle picks its POLL state there and
# waking wrk is a memory write, as with guest halt-polling or on bare metal; server cores keep the
# machine's default. "halt" leaves every core at the default. Values are restored after the run.

def cpu_qos_path(cpu):
    return f"/sys/devices/system/cpu/cpu{cpu}/power/pm_qos_resume_latency_us"


SAVED_QOS = {}


def set_idle_mode(mode, client_cpus):
    """Applies "poll" (client cores poll, the others keep their original setting) or "halt" (all
    original); returns what is in effect: "poll", "halt" or "halt (…why poll could not be set)"."""
    clients = set(client_cpus.split(","))
    try:
        for cpu in range(os.cpu_count() or 1):
            path = cpu_qos_path(cpu)
            if path not in SAVED_QOS:
                SAVED_QOS[path] = open(path).read().strip()
            wanted = "n/a" if mode == "poll" and str(cpu) in clients else SAVED_QOS[path]
            with open(path, "w") as f:
                f.write(wanted)
    except OSError as error:
        return "halt" if mode == "halt" else f"halt (could not set poll: {error.strerror})"
    return mode


def restore_idle_mode():
    for path, value in SAVED_QOS.items():
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# One measurement: fresh server, idle RSS, warm-up, RUNS measured wrk runs, RSS after.

def measure(ctx, workload, server_name, argv, *, path="/", close=False, script=None, connections=50,
            server_cpus=None, client_cpus=None, threads=1, ready_path="/", label=None, idle=None, loader=None,
            tls=False):
    args = ctx["args"]
    server_cpus = server_cpus or args.server_cpu
    client_cpus = client_cpus or args.client_cpu
    idle_mode = set_idle_mode(idle or args.idle_mode, client_cpus)
    port = ctx["next_port"]
    ctx["next_port"] += 1
    argv = argv(port) if callable(argv) else argv
    label = label or server_name
    load = load_average()
    log(f"== {workload} / {label} on :{port} (load {load:.2f})")
    row = {"workload": workload, "server": label, "load": load, "idle_mode": idle_mode}
    try:
        server = Server(server_name, argv, port, ctx, server_cpus, ready_path=ready_path, tls=tls)
    except RuntimeError as error:
        log(f"   failed to start: {error}")
        row["skip"] = "failed to start"
        return row
    try:
        time.sleep(0.5)
        row["rss_idle"] = server.rss()
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}"
        wrk = dict(connections=connections, cpus=client_cpus, threads=threads, close=close, script=script)
        run_load = run_wrk
        if loader:  # a load generator other than wrk (WebSocket echo): same figures
            run_load, wrk = loader, dict(connections=connections, cpus=client_cpus)
        if args.warmup > 0:
            run_load(url, args.warmup, **wrk)
        runs = []
        workers_before = {pid: (proctree.read_stat(pid) or (0, 0))[1] for pid in server.worker_pids()}
        for _ in range(args.runs):
            runs.append(timed_run(server, lambda: run_load(url, args.duration, **wrk), server_cpus, client_cpus))
        row["worker_cpu_split"] = [((proctree.read_stat(pid) or (0, 0))[1] - ticks) / proctree.CLK_TCK
                                   for pid, ticks in workers_before.items()]
        row["rss_after"] = server.rss()
    finally:
        server.stop()
    summarise(row, runs)
    log(f"   {row['rps']:,.0f} req/s (runs {', '.join(f'{r:,.0f}' for r in row['rps_runs'])}), "
        f"server {row['server_us']:.1f} µs/req ({row['server_busy']:.0%} busy), "
        f"wrk {row['wrk_us']:.1f} µs/req ({row['wrk_busy']:.0%} busy), other {row['other_busy']:.0%}, "
        f"server core {row['server_core'][0]:.0%} (softirq {row['server_core'][1]:.0%}), "
        f"client core {row['client_core'][0]:.0%} (softirq {row['client_core'][1]:.0%}), "
        f"errors {row['errors']}")
    return row


def timed_run(server, run, server_cpus=None, client_cpus=None):
    server_cpus = server_cpus or CTX["args"].server_cpu
    client_cpus = client_cpus or CTX["args"].client_cpu
    cpu_before, machine_before, cores_before = server.cpu_seconds(), machine_busy_seconds(), per_cpu_ticks()
    started = time.monotonic()
    result = run()
    cores_after = per_cpu_ticks()
    result["server_core"] = core_usage(cores_before, cores_after, server_cpus)
    result["client_core"] = core_usage(cores_before, cores_after, client_cpus)
    result["wall_s"] = time.monotonic() - started
    result["server_cpu_s"] = server.cpu_seconds() - cpu_before
    result["other_cpu_s"] = max(0.0, machine_busy_seconds() - machine_before - result["server_cpu_s"] - result["wrk_cpu_s"])
    return result


def summarise(row, runs):
    by_rps = sorted(runs, key=lambda r: r["rps"])
    median = by_rps[len(by_rps) // 2]
    requests = sum(r["requests"] for r in runs)
    wall = sum(r["wall_s"] for r in runs)
    server_cpu = sum(r["server_cpu_s"] for r in runs)
    wrk_cpu = sum(r["wrk_cpu_s"] for r in runs)
    row.update({
        "rps": statistics.median(r["rps"] for r in runs),
        "rps_runs": [r["rps"] for r in runs],
        "p50_ms": median["p50_ms"], "p99_ms": median["p99_ms"],
        "errors": sum(r["errors"] for r in runs),
        "requests": requests,
        "server_us": server_cpu * 1e6 / requests if requests else 0.0,
        "server_busy": server_cpu / wall if wall else 0.0,
        "wrk_us": wrk_cpu * 1e6 / requests if requests else 0.0,
        "wrk_busy": wrk_cpu / wall if wall else 0.0,
        "other_busy": sum(r["other_cpu_s"] for r in runs) / wall if wall else 0.0,
        "server_core": tuple(statistics.mean(r["server_core"][i] for r in runs) for i in (0, 1)),
        "client_core": tuple(statistics.mean(r["client_core"][i] for r in runs) for i in (0, 1)),
    })


# ---------------------------------------------------------------------------------------------
# Workloads.

def servers_for(ctx, names):
    chosen = ctx["args"].servers
    for name in names:
        if chosen and name not in chosen:
            continue
        reason = ctx["missing"].get(name)
        if reason:
            log(f"== skipping {name}: {reason}")
            continue
        yield name


def app_argv(name, app):
    return lambda port: SERVERS[name](app, port, CTX)


def workload_hello(ctx, close):
    workload = "hello-close" if close else "hello-keepalive"
    rows = []
    for name in servers_for(ctx, ["narwhal-before", "narwhal", "gunicorn-sync", "narwhal-gthread", "gunicorn-gthread",
                                  "narwhal-gevent", "gunicorn-gevent", "uwsgi", "waitress", "uvicorn", "nginx"]):
        rows.append(measure(ctx, workload, name, app_argv(name, "hello"), close=close))
    return rows


def workload_flask(ctx):
    rows = []
    for name in servers_for(ctx, ["narwhal-before", "narwhal", "gunicorn-sync", "narwhal-gthread", "gunicorn-gthread",
                                  "uwsgi", "waitress"]):
        rows.append(measure(ctx, "flask-json", name, app_argv(name, "flask_app"), path="/json"))
    return rows


def workload_flask_halt(ctx):
    """Flask /json again with the machine's default idle (halt): what waking an idle wrk costs."""
    rows = []
    for name in servers_for(ctx, ["narwhal", "gunicorn-sync"]):
        rows.append(measure(ctx, "flask-json-halt", name, app_argv(name, "flask_app"), path="/json", idle="halt"))
    return rows


def workload_sleep(ctx):
    """apps/sleep_app.py (time.sleep(0.01) per request) with 64 connections: threads in parallel (4 threads
    give at most ≈400 req/s, one sync worker ≈100)."""
    return [measure(ctx, "sleep-10ms", name, app_argv(name, "sleep_app"), connections=64)
            for name in servers_for(ctx, ["narwhal-gthread", "gunicorn-gthread", "waitress"])]


def workload_sleep_gevent(ctx):
    """The same 10 ms-sleep app with 500 keep-alive clients on one gevent worker
    (--worker-connections 1000): every request sleeps in its own greenlet."""
    return [measure(ctx, "sleep-10ms-500", name, app_argv(name, "sleep_app"), connections=500)
            for name in servers_for(ctx, ["narwhal-gevent", "gunicorn-gevent"])]


def workload_file(ctx):
    rows = []
    for name in servers_for(ctx, ["narwhal", "gunicorn-sync", "gunicorn-gthread", "uwsgi", "nginx"]):
        rows.append(measure(ctx, "file-1mib", name, app_argv(name, "file_app"), path="/1mib.bin",
                            connections=ctx["args"].file_connections))
    return rows


def workload_upload(ctx):
    rows = []
    script = os.path.join(LIB, "upload.lua")
    for name in servers_for(ctx, ["narwhal", "gunicorn-sync", "gunicorn-gthread", "uwsgi", "waitress"]):
        rows.append(measure(ctx, "upload-10mib", name, app_argv(name, "upload_app"), script=script,
                            connections=ctx["args"].upload_connections))
    return rows


def workload_scaling(ctx):
    """-w 1 pinned to core 0 (wrk on 1) against -w 2 on cores 0,1 (wrk -t2 shares them).

    With only two cores the client shares them with the two workers, so the check is made with a
    server-heavy page (Flask + Jinja, ≈1 ms/request: wrk's share stays small); hello and Flask
    /json are shown too, where wrk's own CPU is a large part of each request."""
    rows = []
    if "narwhal" in ctx["missing"]:
        return rows
    for app, path, workload in (("flask_app", "/report", "scale-heavy"), ("hello", "/", "scale-hello"),
                                ("flask_app", "/json", "scale-flask")):
        rows.append(measure(ctx, workload, "narwhal", lambda port, a=app: cmd_narwhal(a, port, CTX, 1),
                            path=path, label="narwhal -w 1 (core 0; wrk -t1 core 1)"))
        rows.append(measure(ctx, workload, "narwhal", lambda port, a=app: cmd_narwhal(a, port, CTX, 2),
                            path=path, server_cpus="0,1", client_cpus="0,1", threads=2,
                            label="narwhal -w 2 (cores 0,1; wrk -t2 cores 0,1)"))
    return rows


def workload_idle(ctx):
    """Active wrk clients with and without N idle keep-alive connections held on the same server."""
    args = ctx["args"]
    rows = []
    long_keepalive = ["--keep-alive", "3600", "--worker-connections", str(args.idle + 1000)]
    candidates = {
        "narwhal": lambda port: cmd_narwhal("hello", port, CTX, 1, long_keepalive),
        "narwhal-before": lambda port: SERVERS["narwhal-before"]("hello", port, CTX, long_keepalive),
        "narwhal-gthread": lambda port: SERVERS["narwhal-gthread"]("hello", port, CTX, long_keepalive),
        "gunicorn-gthread": lambda port: cmd_gunicorn("hello", port, CTX, "gthread", long_keepalive),
    }
    for name in servers_for(ctx, list(candidates)):
        port = ctx["next_port"]
        ctx["next_port"] += 1
        log(f"== idle-{args.idle} / {name} on :{port} (load {load_average():.2f})")
        row = {"workload": f"idle-{args.idle}", "server": name, "load": load_average(),
               "idle_mode": set_idle_mode(args.idle_mode, args.client_cpu)}
        try:
            server = Server(name, candidates[name](port), port, ctx, args.server_cpu)
        except RuntimeError as error:
            log(f"   failed to start: {error}")
            rows.append(dict(row, skip="failed to start"))
            continue
        helper = None
        try:
            url = f"http://127.0.0.1:{port}/"
            time.sleep(0.5)
            if args.warmup > 0:
                run_wrk(url, args.warmup, 50, args.client_cpu)
            phases = {}
            for phase in ("without", "with"):
                if phase == "with":
                    rss_before = sum(server.rss()[1]) or server.rss()[0]
                    helper = subprocess.Popen(["taskset", "-c", args.client_cpu, PY,
                                               os.path.join(LIB, "idle_clients.py"), "127.0.0.1",
                                               str(port), str(args.idle)],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    ready = helper.stdout.readline().split()
                    if not ready or ready[0] != "ready":
                        raise RuntimeError(f"idle helper failed: {ready}")
                    row["idle_open"], row["idle_failed"], row["idle_setup_s"] = int(ready[1]), int(ready[2]), float(ready[3])
                    time.sleep(1.0)
                    rss_with = sum(server.rss()[1]) or server.rss()[0]
                    row["rss_worker_before_kb"], row["rss_worker_idle_kb"] = rss_before, rss_with
                runs = [timed_run(server, lambda: run_wrk(url, args.duration, 50, args.client_cpu))
                        for _ in range(args.runs)]
                phases[phase] = {}
                summarise(phases[phase], runs)
            row["rss_worker_after_kb"] = sum(server.rss()[1]) or server.rss()[0]
            helper.stdin.write("\n")
            helper.stdin.flush()
            still = helper.stdout.readline().split()
            row["idle_still_open"] = int(still[1]) if still and still[0] == "still-open" else -1
            row["without"], row["with"] = phases["without"], phases["with"]
            log(f"   {row['idle_open']} idle open ({row['idle_failed']} failed, {row['idle_setup_s']} s); "
                f"{phases['without']['rps']:,.0f} req/s without, {phases['with']['rps']:,.0f} with; "
                f"worker RSS {rss_before / 1024:.1f} -> {rss_with / 1024:.1f} MiB; "
                f"{row['idle_still_open']} still open at the end")
        except RuntimeError as error:
            log(f"   failed: {error}")
            row["skip"] = str(error)[:200]
        finally:
            if helper and helper.poll() is None:
                helper.kill()
                helper.wait()
            server.stop()
        rows.append(row)
    return rows


def workload_asgi(ctx, workload, app, path="/", loader=None):
    """The asgi worker against uvicorn (--loop uvloop --http httptools), one worker each, same app."""
    return [measure(ctx, workload, name, app_argv(name, app), path=path, loader=loader, ready_path=path)
            for name in servers_for(ctx, ["narwhal-asgi", "uvicorn"])]


def workload_observability(ctx):
    """hello keep-alive with statsd on, with the Prometheus endpoint on (and scraped every second),
    beside plain narwhal: the price of each (issue 15: < 5% req/s)."""
    rows = []
    for name in servers_for(ctx, ["narwhal", "narwhal-statsd", "narwhal-metrics"]):
        if name != "narwhal-metrics":
            rows.append(measure(ctx, "observability-cost", name, app_argv(name, "hello")))
            continue
        with Scraper(ctx) as scraper:
            row = measure(ctx, "observability-cost", name, app_argv(name, "hello"))
        row["scrapes"] = scraper.scrapes
        log(f"   /metrics scraped {scraper.scrapes} times")
        rows.append(row)
    return rows


def tls_certificate(ctx):
    """A self-signed P-256 certificate for 127.0.0.1 (the same file for every server)."""
    path = os.path.join(ctx["work"], "tls.pem")
    if not os.path.exists(path):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", path, "-out", path + ".crt"],
                       check=True, capture_output=True)
        with open(path, "a") as combined, open(path + ".crt") as certificate:
            combined.write(certificate.read())
    return path


def workload_tls(ctx, close):
    """TLS hello: keep-alive (the record layer's cost) or a connection per request (handshakes/s),
    narwhal against gunicorn sync with the same certificate."""
    workload = "tls-handshakes" if close else "tls-hello-keepalive"
    certificate = tls_certificate(ctx)
    rows = []
    for name in servers_for(ctx, ["narwhal", "gunicorn-sync"]):
        if name == "gunicorn-sync":
            argv = lambda port: cmd_gunicorn("hello", port, CTX, "sync", ["--certfile", certificate])  # noqa: E731
        else:
            argv = lambda port, name=name: SERVERS[name]("hello", port, CTX, extra=["--certfile", certificate])  # noqa: E731
        rows.append(measure(ctx, workload, name, argv, close=close, tls=True))
    return rows


def workload_http2(ctx):
    """HTTP/2 hello over TLS with h2load (100 streams: 10 connections × 10), narwhal gthread and asgi,
    beside the same servers over TLS HTTP/1.1 keep-alive with wrk (50 connections)."""
    certificate = tls_certificate(ctx)
    rows = []
    for name, app in (("narwhal-gthread", "hello"), ("narwhal-asgi", "hello")):
        if name not in servers_for(ctx, [name]):
            continue
        argv = lambda port, name=name, app=app: SERVERS[name](app, port, CTX, extra=["--certfile", certificate, "--http-protocols", "h2,h1"])  # noqa: E731
        rows.append(measure(ctx, "http2-hello", name, argv, tls=True, loader=run_h2load, connections=10,
                            label=name + " h2"))
        rows.append(measure(ctx, "http2-hello", name, argv, tls=True, label=name + " h1.1"))
    return rows


WORKLOADS = {
    "hello-keepalive": lambda ctx: workload_hello(ctx, close=False),
    "hello-close": lambda ctx: workload_hello(ctx, close=True),
    "flask-json": workload_flask,
    "flask-json-halt": workload_flask_halt,
    "sleep-10ms": workload_sleep,
    "sleep-10ms-500": workload_sleep_gevent,
    "file-1mib": workload_file,
    "upload-10mib": workload_upload,
    "idle": workload_idle,
    "scaling": workload_scaling,
    "asgi-hello": lambda ctx: workload_asgi(ctx, "asgi-hello", "hello"),
    "asgi-fastapi-json": lambda ctx: workload_asgi(ctx, "asgi-fastapi-json", "fastapi_app", "/json"),
    "asgi-ws-echo": lambda ctx: workload_asgi(ctx, "asgi-ws-echo", "ws_echo_asgi", "/ws", run_ws_echo),
    "observability-cost": workload_observability,
    "tls-hello-keepalive": lambda ctx: workload_tls(ctx, close=False),
    "tls-handshakes": lambda ctx: workload_tls(ctx, close=True),
    "http2-hello": workload_http2,
}


# ---------------------------------------------------------------------------------------------
# Report.

def find(results, workload, server):
    # "narwhal" must not match "narwhal-gthread"; "narwhal -w 1" matches the scaling rows' longer labels.
    return next((r for r in results.get(workload, []) if (r["server"] == server or r["server"].startswith(server + " "))
                 and "rps" in r), None)


def targets(results):
    """[(target, measured, verdict)] for every target whose measurements ran."""
    out = []

    def check(name, ok, measured):
        out.append((name, measured, "PASS" if ok else "FAIL"))

    n, g = find(results, "hello-keepalive", "narwhal"), find(results, "hello-keepalive", "gunicorn-sync")
    if n and g:
        check("keep-alive ≥7× gunicorn sync req/s", n["rps"] >= 7 * g["rps"],
              f"{n['rps'] / g['rps']:.1f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); narwhal core {n['server_busy']:.0%} busy")
    if n:
        check("keep-alive ≤10 µs server CPU/request", n["server_us"] <= 10, f"{n['server_us']:.1f} µs")
    n, g = find(results, "hello-close", "narwhal"), find(results, "hello-close", "gunicorn-sync")
    if n and g:
        saturated = n["server_core"][0] >= 0.9
        note = (f"{n['rps'] / g['rps']:.2f}× req/s ({n['rps']:,.0f} vs {g['rps']:,.0f}); narwhal's core {n['server_core'][0]:.0%} busy "
                f"(process {n['server_busy']:.0%} + softirq), wrk's core {n['client_core'][0]:.0%} busy "
                f"(wrk {n['wrk_busy']:.0%} + softirq {n['client_core'][1]:.0%}); "
                f"CPU/request {n['server_us']:.1f} vs {g['server_us']:.1f} µs = {g['server_us'] / n['server_us']:.1f}× less")
        if saturated:
            check("Connection: close ≥3× gunicorn sync", n["rps"] >= 3 * g["rps"], note)
        else:
            # The client is the limit: judge by CPU per request (what req/s would be if narwhal's core were full).
            verdict = "PASS (by CPU/req)" if g["server_us"] >= 3 * n["server_us"] else "FAIL (by CPU/req)"
            if n["rps"] >= 3 * g["rps"]:
                verdict = "PASS"
            out.append(("Connection: close ≥3× gunicorn sync (narwhal's core not saturated: client-bound)", note, verdict))
    n, g = find(results, "flask-json", "narwhal"), find(results, "flask-json", "gunicorn-sync")
    if n and g:
        check(f"Flask /json ≥3× gunicorn sync (idle cores: {n['idle_mode']})", n["rps"] >= 3 * g["rps"],
              f"{n['rps'] / g['rps']:.2f}× ({n['rps']:,.0f} vs {g['rps']:,.0f})")
    n, g = find(results, "flask-json-halt", "narwhal"), find(results, "flask-json-halt", "gunicorn-sync")
    if n and g:
        out.append(("Flask /json with idle cores halting (machine default; shown, not judged)",
                    f"{n['rps'] / g['rps']:.2f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); narwhal {n['server_us']:.1f} µs/req "
                    f"vs {find(results, 'flask-json', 'narwhal')['server_us']:.1f} with polling" if find(results, 'flask-json', 'narwhal')
                    else f"{n['rps'] / g['rps']:.2f}× ({n['rps']:,.0f} vs {g['rps']:,.0f})", "info"))
    n, x = find(results, "file-1mib", "narwhal"), find(results, "file-1mib", "nginx")
    if n and x:
        check("1 MiB file_wrapper ≥80% of nginx static", n["rps"] >= 0.8 * x["rps"],
              f"{n['rps'] / x['rps']:.0%} ({n['rps']:,.0f} vs {x['rps']:,.0f} req/s)")
    n, g = find(results, "hello-keepalive", "narwhal"), find(results, "hello-keepalive", "gunicorn-sync")
    if n and g and n.get("rss_idle") and g.get("rss_idle"):
        nw, gw = sum(n["rss_idle"][1]), sum(g["rss_idle"][1])
        check("idle worker RSS ≥30% below gunicorn sync", nw <= 0.7 * gw, f"{mib(nw)} vs {mib(gw)} MiB ({nw / gw - 1:+.0%})")
        nm, gm = n["rss_idle"][0], g["rss_idle"][0]
        check("idle master RSS ≥30% below gunicorn sync", nm <= 0.7 * gm, f"{mib(nm)} vs {mib(gm)} MiB ({nm / gm - 1:+.0%})")
    for server, max_mib, max_slowdown in (("narwhal", 100, 0.10), ("narwhal-gthread", 30, 0.05)):
        idle = next((r for r in results.get("idle", []) if r["server"] == server and "with" in r), None)
        if not idle:
            continue
        extra = (idle["rss_worker_idle_kb"] - idle["rss_worker_before_kb"]) / 1024
        extra_after = (idle["rss_worker_after_kb"] - idle["rss_worker_before_kb"]) / 1024
        check(f"{server}: {idle['idle_open']} idle connections cost <{max_mib} MiB extra",
              max(extra, extra_after) < max_mib and idle["idle_open"] > 0,
              f"+{extra:.1f} MiB idle, +{extra_after:.1f} MiB after load; {idle['idle_still_open']} still open")
        change = idle["with"]["rps"] / idle["without"]["rps"] - 1
        check(f"{server}: idle connections slow active clients <{max_slowdown:.0%}", change > -max_slowdown,
              f"{change:+.1%} req/s ({idle['without']['rps']:,.0f} → {idle['with']['rps']:,.0f})")
    n, g = find(results, "hello-keepalive", "narwhal-gthread"), find(results, "hello-keepalive", "gunicorn-gthread")
    if n and g:
        check("gthread keep-alive ≥5× gunicorn gthread req/s", n["rps"] >= 5 * g["rps"],
              f"{n['rps'] / g['rps']:.1f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); narwhal core {n['server_busy']:.0%} busy")
    n, g = find(results, "hello-keepalive", "narwhal-gevent"), find(results, "hello-keepalive", "gunicorn-gevent")
    if n and g:
        check("gevent keep-alive ≥3× gunicorn gevent req/s", n["rps"] >= 3 * g["rps"],
              f"{n['rps'] / g['rps']:.1f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); CPU/req {n['server_us']:.1f} vs "
              f"{g['server_us']:.1f} µs")
    n, u = find(results, "asgi-hello", "narwhal-asgi"), find(results, "asgi-hello", "uvicorn")
    if n and u:
        check("asgi hello ≥2× uvicorn req/s, less CPU/request", n["rps"] >= 2 * u["rps"] and n["server_us"] < u["server_us"],
              f"{n['rps'] / u['rps']:.2f}× ({n['rps']:,.0f} vs {u['rps']:,.0f}); CPU/req {n['server_us']:.1f} vs {u['server_us']:.1f} µs")
    n, u = find(results, "asgi-fastapi-json", "narwhal-asgi"), find(results, "asgi-fastapi-json", "uvicorn")
    if n and u:
        out.append(("asgi FastAPI JSON vs uvicorn (shown, not judged)",
                    f"{n['rps'] / u['rps']:.2f}× ({n['rps']:,.0f} vs {u['rps']:,.0f}); CPU/req {n['server_us']:.1f} vs "
                    f"{u['server_us']:.1f} µs", "info"))
    n, u = find(results, "asgi-ws-echo", "narwhal-asgi"), find(results, "asgi-ws-echo", "uvicorn")
    if n and u:
        check("asgi WebSocket echo ≥1.5× uvicorn messages/s", n["rps"] >= 1.5 * u["rps"],
              f"{n['rps'] / u['rps']:.2f}× ({n['rps']:,.0f} vs {u['rps']:,.0f} msg/s); CPU/msg {n['server_us']:.1f} vs "
              f"{u['server_us']:.1f} µs")
    n, g = find(results, "sleep-10ms-500", "narwhal-gevent"), find(results, "sleep-10ms-500", "gunicorn-gevent")
    if n and g:
        out.append(("gevent sleep-10ms, 500 clients, vs gunicorn gevent (shown, not judged)",
                    f"{n['rps'] / g['rps']:.2f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); CPU/req {n['server_us']:.1f} vs "
                    f"{g['server_us']:.1f} µs", "info"))
    for workload in ("flask-json", "sleep-10ms"):
        n, g = find(results, workload, "narwhal-gthread"), find(results, workload, "gunicorn-gthread")
        if n and g:
            out.append((f"gthread {workload} vs gunicorn gthread (shown, not judged)",
                        f"{n['rps'] / g['rps']:.2f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); CPU/req {n['server_us']:.1f} vs "
                        f"{g['server_us']:.1f} µs", "info"))
    for workload in ("hello-keepalive", "hello-close", "flask-json"):
        n, b = find(results, workload, "narwhal"), find(results, workload, "narwhal-before")
        if n and b:
            out.append((f"sync {workload}: narwhal vs narwhal-before (A/B, shown, not judged)",
                        f"{n['rps'] / b['rps'] - 1:+.1%} req/s ({n['rps']:,.0f} vs {b['rps']:,.0f}); CPU/req "
                        f"{n['server_us']:.1f} vs {b['server_us']:.1f} µs", "info"))
    n, g = find(results, "tls-hello-keepalive", "narwhal"), find(results, "tls-hello-keepalive", "gunicorn-sync")
    if n and g:
        check("TLS keep-alive ≥7× gunicorn sync req/s", n["rps"] >= 7 * g["rps"],
              f"{n['rps'] / g['rps']:.1f}× ({n['rps']:,.0f} vs {g['rps']:,.0f}); {n['server_us']:.1f} vs {g['server_us']:.1f} µs/req")
    n, g = find(results, "tls-handshakes", "narwhal"), find(results, "tls-handshakes", "gunicorn-sync")
    if n and g:
        check("TLS handshakes/s (Connection: close) above gunicorn sync", n["rps"] > g["rps"],
              f"{n['rps']:,.0f} vs {g['rps']:,.0f} handshakes/s; {n['server_us']:.0f} vs {g['server_us']:.0f} µs each")
    plain = find(results, "observability-cost", "narwhal")
    for variant, what in (("narwhal-statsd", "statsd"), ("narwhal-metrics", "Prometheus /metrics (scraped every second)")):
        measured = find(results, "observability-cost", variant)
        if plain and measured:
            change = measured["rps"] / plain["rps"] - 1
            check(f"{what} costs <5% req/s on hello keep-alive", change > -0.05,
                  f"{change:+.1%} req/s ({measured['rps']:,.0f} vs {plain['rps']:,.0f}); CPU/req {measured['server_us']:.1f} "
                  f"vs {plain['server_us']:.1f} µs")
    one, two = find(results, "scaling", "narwhal -w 1"), None
    for workload in ("scale-heavy", "scale-flask", "scale-hello"):
        w1 = next((r for r in results.get("scaling", []) if r["workload"] == workload and "-w 1" in r["server"] and "rps" in r), None)
        w2 = next((r for r in results.get("scaling", []) if r["workload"] == workload and "-w 2" in r["server"] and "rps" in r), None)
        if w1 and w2:
            measured = (f"{w2['rps'] / w1['rps']:.2f}× ({w2['rps']:,.0f} vs {w1['rps']:,.0f}); server CPU/req "
                        f"{w1['server_us']:.1f} → {w2['server_us']:.1f} µs, wrk {w1['wrk_us']:.1f} → {w2['wrk_us']:.1f} µs")
            if workload == "scale-heavy":
                check("2 workers on two cores ≥1.7× one (Flask + Jinja page, ≈1 ms/request)", w2["rps"] >= 1.7 * w1["rps"], measured)
            else:
                # wrk needs a large share of the same two cores: shown, not judged.
                out.append((f"2 workers vs one ({SCALE_NAMES[workload]}; wrk shares the two cores)", measured, "info"))
    del one, two
    return out


def run_metadata(ctx, results, started, finished):
    """What the report's header says about the run, as data (also saved in results.json)."""
    args = ctx["args"]
    try:
        commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--", "../src"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {
        "title": f"{started:%Y-%m-%d %H:%M} UTC — benchmark suite (bench/suite.py)",
        "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
        "stamp": started.strftime("%Y-%m-%dT%H%MZ"),
        "commit": commit or "?", "src_dirty": bool(dirty),
        "machine": " ".join(platform.uname()), "cpus": os.cpu_count(), "cpu_model": cpu_model,
        "load_before": ctx["load_before"],
        "max_load": max((r.get("load", 0) for rows in results.values() for r in rows), default=0),
        "versions": ctx["versions"], "wrk": ctx["wrk_version"], "python": platform.python_version(),
        "method": {"server_cpu": args.server_cpu, "client_cpu": args.client_cpu, "warmup_s": args.warmup,
                   "runs": args.runs, "duration_s": args.duration, "idle_mode": args.idle_mode,
                   "idle_connections": args.idle},
        "command": " ".join(["bench/suite.py"] + sys.argv[1:]),
    }


def results_document(meta, results):
    """results.json: the run's metadata, then per workload its title, baseline and rows as measured."""
    workloads = {}
    for workload in (w for w in WORKLOADS if w in results):  # the report's order
        rows = results[workload]
        if workload == "idle":
            title = IDLE_TITLE.format(n=meta["method"]["idle_connections"])
        else:
            title = TITLES[workload]
        baseline = SCALE_BASELINE if workload == "scaling" else baseline_for(rows)
        workloads[workload] = {"title": title, "baseline": baseline, "rows": rows}
    return {"format": 1, "source": "bench/suite.py", **meta, "workloads": workloads,
            "targets": [{"target": t, "measured": m, "verdict": v} for t, m, v in targets(results)]}


def save_results(document, directory):
    """Writes DIRECTORY/results.json (a new bench/results/<stamp>/ unless --results-dir says where)."""
    if directory is None:
        directory = base = os.path.join(HERE, "results", document["stamp"])
        suffix = 2
        while os.path.exists(os.path.join(directory, "results.json")):
            directory, suffix = f"{base}-{suffix}", suffix + 1
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "results.json")
    with open(path, "w") as f:
        json.dump(document, f, indent=1, ensure_ascii=False, default=str)
        f.write("\n")
    log(f"raw results in {path}")
    return path


def render_charts(json_path):
    """{"overview"|workload: svg path} rendered by bench/charts.py, or the reason there are none."""
    import charts  # bench/charts.py; imports matplotlib only when rendering
    reason = charts.missing()
    if reason:
        log(f"charts skipped: {reason}")
        return f"skipped: {reason}"
    try:
        rendered = charts.render(json_path)
    except Exception as error:  # a chart must never cost the run's results: they are saved already
        log(f"charts failed: {error!r}")
        return f"failed ({type(error).__name__}: {error})"
    log(f"charts: {', '.join(sorted(rendered)) or 'none'} in {os.path.dirname(json_path)}")
    return rendered


def shown_path(path, start=None):
    """path relative to start (default bench/, where RESULTS.md is: links), absolute when outside the repository."""
    relative = os.path.relpath(path, start or HERE)
    return os.path.abspath(path) if os.path.relpath(path, os.path.dirname(HERE)).startswith("..") else relative


def chart_line(charts, name, what):
    """A Markdown image of one chart, or nothing."""
    if not isinstance(charts, dict) or name not in charts:
        return []
    return [f"![{what}]({shown_path(charts[name])})", ""]


def report(ctx, results, meta, json_path=None, charts=None):
    """The Markdown report; json_path/charts (from save_results/render_charts) add links to them."""
    args = ctx["args"]
    started, finished = (datetime.datetime.fromisoformat(meta[k]) for k in ("started", "finished"))
    lines = [f"## {meta['title']}", ""]
    lines += [
        f"- commit: {meta['commit']}{' (src/ has uncommitted changes)' if meta['src_dirty'] else ''}; run took {(finished - started).total_seconds() / 60:.1f} min",
        f"- machine: `{meta['machine']}`, {meta['cpus']} × {meta['cpu_model']}",
        f"- load average before the run: {' '.join(meta['load_before'])}; highest 1-min load seen before a measurement: "
        f"{meta['max_load']:.2f}",
        "- versions: " + "; ".join(f"{name}: {meta['versions'][name]}" for name in meta["versions"]) +
        f"; wrk: {meta['wrk']}; Python {meta['python']} (/usr/bin/python3)",
        f"- method: server pinned with `taskset -c {args.server_cpu}`, wrk with `taskset -c {args.client_cpu}`; fresh server per row; "
        f"{args.warmup} s warm-up, then {args.runs} runs × {args.duration} s; req/s = median run, p50/p99 from the median run; "
        "server µs/req = utime+stime of the whole server tree over the runs ÷ requests; wrk µs/req = wrk's own "
        "rusage; busy = CPU ÷ wall time (100% = one core saturated); RSS = VmRSS, idle = after start-up "
        "(one readiness request), after = at the end of the runs",
        f"- idle client cores: {args.idle_mode} (rows that differ say so) — `poll` sets wrk's cores' PM QoS resume latency "
        "to 0 (sysfs `pm_qos_resume_latency_us` = n/a), so an idle wrk polls instead of halting and waking it costs the "
        "server no VM exit; `halt` is this VM's default (`haltpoll.guest_halt_poll_ns=0`). See bench/README.md.",
        f"- command: `{meta['command']}`",
    ]
    if json_path:
        raw = shown_path(json_path)
        command = f"`bench/charts.py {shown_path(json_path, os.path.dirname(HERE))}`"
        data = f"raw numbers in [{os.path.basename(raw)}]({raw})"
        if isinstance(charts, dict) and charts:
            lines.append(f"- charts: the overview below and one per workload, rendered by {command} from the {data}")
        elif isinstance(charts, dict):
            lines.append(f"- charts: none (no workload was measured); {data}")
        else:
            lines.append(f"- charts: {charts or 'not rendered (--no-charts)'}; render them with {command} "
                         f"(python3-matplotlib: bench/install-deps.sh); {data}")
    lines.append("")
    lines += chart_line(charts, "overview", "req/s relative to the baseline server, per workload")
    for workload in WORKLOADS:
        if workload not in results:
            continue
        if workload == "idle":
            lines += [f"### {IDLE_TITLE.format(n=args.idle)}", ""]
            lines += chart_line(charts, "idle", f"{args.idle} idle connections: req/s, server µs/request and worker RSS")
            lines += idle_table(results[workload])
            lines += ["", "narwhal: `--keep-alive 3600 --worker-connections N+1000` (so the idle connections are not "
                      "expired or refused); narwhal-gthread and gunicorn gthread: the same flags with `-k gthread --threads 4`. The idle helper "
                      "(bench/lib/idle_clients.py, pinned beside wrk) opens the connections, does one request on each "
                      "and then holds them silent. Worker RSS 'before' is after the 'without' runs.", ""]
            continue
        lines += [f"### {TITLES[workload]}", ""]
        if workload != "scaling":
            lines += chart_line(charts, workload, f"{workload}: req/s and server CPU µs/request per server")
        if workload == "scaling":
            for sub in ("scale-heavy", "scale-hello", "scale-flask"):
                rows = [r for r in results[workload] if r["workload"] == sub]
                if rows:
                    lines += [f"{SCALE_NAMES[sub]}:", ""]
                    lines += chart_line(charts, sub, f"{sub}: req/s and server CPU µs/request, one worker vs two")
                    lines += [l.replace(f"| × {SCALE_BASELINE} |", "| × |")
                              for l in rows_table(rows, baseline=SCALE_BASELINE, idle_mode=args.idle_mode)]
                    lines.append("")
                    for r in rows:
                        if len(r.get("worker_cpu_split", [])) > 1:
                            lines += [f"CPU seconds per worker over the runs ({r['server']}): "
                                      + ", ".join(f"{x:.2f}" for x in r["worker_cpu_split"]), ""]
            lines += ["Caveat: with two workers the server and wrk share both cores, so the client's own CPU "
                      "(wrk µs/req) comes out of the same budget; the one-worker row is the usual pinned layout.", ""]
            continue
        # a run without gunicorn sync (gthread or gevent rows, an A/B run) compares with what it has
        baseline = baseline_for(results[workload]) or "gunicorn-sync"
        lines += rows_table(results[workload], baseline, idle_mode=args.idle_mode)
        lines.append("")
    checks = targets(results)
    if checks:
        lines += ["### Targets", "", "| target | measured | verdict |", "|---|---|---|"]
        lines += [f"| {name} | {measured} | {verdict} |" for name, measured, verdict in checks]
        lines.append("")
    return "\n".join(lines)


def append_to_results(text):
    """Inserts the report into bench/RESULTS.md, newest first (just before the first dated section)."""
    path = os.path.join(HERE, "RESULTS.md")
    content = open(path).read()
    match = re.search(r"^## \d{4}-\d\d-\d\d", content, re.M)
    if match:
        content = content[:match.start()] + text.rstrip() + "\n\n" + content[match.start():]
    else:
        content = content.rstrip() + "\n\n" + text.rstrip() + "\n"
    with open(path, "w") as f:
        f.write(content)
    log(f"report inserted into {path}")


CTX = {}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    parser.add_argument("--servers", help="comma-separated servers: " + ",".join(SERVERS))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", 3)))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 5)))
    parser.add_argument("--warmup", type=int, default=int(os.environ.get("WARMUP", 1)))
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--idle-mode", choices=["poll", "halt"], default=os.environ.get("IDLE_MODE", "poll"),
                        help="what idle benchmark cores do (see set_idle_mode): poll (default) or halt")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 19000)))
    parser.add_argument("--idle", type=int, default=10000, help="idle connections for the idle workload")
    parser.add_argument("--file-connections", type=int, default=10)
    parser.add_argument("--upload-connections", type=int, default=4)
    parser.add_argument("--append", action="store_true", help="insert the report into bench/RESULTS.md")
    parser.add_argument("--json", help="also write the raw results (results.json) there")
    parser.add_argument("--results-dir", help="where results.json and the charts go (default: bench/results/<UTC stamp>/)")
    parser.add_argument("--no-charts", action="store_true", help="save results.json but render no charts")
    parser.add_argument("--narwhal-before", default=NARWHAL_BEFORE,
                        help="binary of the narwhal-before server (A/B runs; env NARWHAL_BEFORE)")
    args = parser.parse_args()
    globals()["NARWHAL_BEFORE"] = args.narwhal_before
    args.servers = set(args.servers.split(",")) if args.servers else None
    workloads = args.only.split(",") if args.only else list(WORKLOADS)
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w}")

    # 10k idle connections (and the servers' listeners) need file descriptors: children inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # like `ulimit -n 65536`; without CAP_SYS_RESOURCE only up to the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 65536), max(hard, 65536)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < args.idle + 1100:
        log(f"warning: RLIMIT_NOFILE is {soft}: too low for {args.idle} idle connections")
    if not shutil.which("wrk"):
        sys.exit("wrk not found: run bench/install-deps.sh")
    if (os.cpu_count() or 1) < 2:
        log("warning: fewer than 2 CPUs: server and wrk share a core")

    work = tempfile.mkdtemp(prefix="narwhal-suite.")
    static = os.path.join(work, "static")
    os.makedirs(static)
    with open(os.path.join(static, "1mib.bin"), "wb") as f:
        f.write(os.urandom(MIB))
    os.chmod(work, 0o755)
    CTX.update(args=args, work=work, static=static, next_port=args.port,
               load_before=open("/proc/loadavg").read().split()[:3],
               wrk_version=subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split(" [")[0])
    CTX["missing"] = {name: reason for name in SERVERS if (reason := server_missing(name))}
    CTX["versions"] = {name: version_of(name) for name in ["narwhal-before", "narwhal", "gunicorn-sync", "uwsgi", "waitress", "uvicorn", "nginx"]
                       if name not in CTX["missing"]}
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {}
    # SIGTERM unwinds like Ctrl-C, so the cores' idle setting is restored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for workload in workloads:
            results[workload] = WORKLOADS[workload](CTX)
    finally:
        restore_idle_mode()
        finished = datetime.datetime.now(datetime.timezone.utc)
        shutil.rmtree(work, ignore_errors=True)
    meta = run_metadata(CTX, results, started, finished)
    document = results_document(meta, results)
    json_path = save_results(document, args.results_dir)
    if args.json:
        shutil.copyfile(json_path, args.json)
    charts = None if args.no_charts else render_charts(json_path)
    text = report(CTX, results, meta, json_path, charts)
    print(text)
    if args.append:
        append_to_results(text)


if __name__ == "__main__":
    main()
