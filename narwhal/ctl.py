"""``narwhalc``: the control socket's client (gunicorn 25's ``gunicornc``, plus ``top``).

The master serves the socket in C++ (src/control, docs/control.md); this is only framing
(4-byte big-endian length + JSON), a few tables, and ``narwhalc top``. It speaks gunicorn's
protocol, so it also drives a gunicorn 25 master (without narwhal's ``show requests`` and
``dump``), and gunicorn's ``gunicornc`` drives narwhal.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shlex
import shutil
import socket
import struct
import sys
import time
from typing import Any, Callable, Sequence

MAX_REPLY_BYTES = 64 * 1024 * 1024


def default_socket() -> str:
    """gunicorn's default control_socket: $XDG_RUNTIME_DIR/gunicorn.ctl, else
    $HOME/.gunicorn/gunicorn.ctl."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "gunicorn.ctl")
    return os.path.join(os.path.expanduser("~"), ".gunicorn", "gunicorn.ctl")


class ControlError(Exception):
    """The server answered with an error, or could not be reached."""


class ControlClient:
    """One connection to a control socket; ``command`` sends a request and returns its data."""

    def __init__(self, path: str, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._next_id = 0

    def __enter__(self) -> "ControlClient":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def connect(self) -> None:
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as error:
            sock.close()
            raise ControlError(f"Failed to connect to {self.path}: {error}") from None
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _read_exactly(self, size: int) -> bytes:
        assert self._sock is not None
        chunks = []
        while size:
            chunk = self._sock.recv(min(size, 65536))
            if not chunk:
                raise ConnectionError("connection closed by the server")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def request(self, command: str, args: Sequence[Any] = ()) -> dict:
        """Sends one request and returns the whole reply ({"id", "status", "data"|"error"})."""
        self.connect()
        assert self._sock is not None
        self._next_id += 1
        payload = json.dumps({"id": self._next_id, "command": command, "args": list(args)}).encode()
        try:
            self._sock.sendall(struct.pack(">I", len(payload)) + payload)
            (length,) = struct.unpack(">I", self._read_exactly(4))
            if length > MAX_REPLY_BYTES:
                raise ConnectionError(f"reply too large: {length}")
            return json.loads(self._read_exactly(length).decode("utf-8", "replace"))
        except (OSError, ValueError) as error:
            self.close()
            raise ControlError(f"Communication error: {error}") from None

    def command(self, command: str, args: Sequence[Any] = ()) -> Any:
        reply = self.request(command, args)
        if reply.get("status") == "error":
            raise ControlError(reply.get("error", "Unknown error"))
        return reply.get("data", {})


# ---- plain-text replies (the tables gunicornc prints, plus narwhal's commands) -------------

def _heartbeat(value: Any) -> str:
    return "n/a" if value is None else f"{value}s ago"


def format_workers(data: dict) -> str:
    workers = data.get("workers", [])
    if not workers:
        return "No workers running"
    rows = [f"{'PID':<10} {'AGE':<6} {'BOOTED':<8} {'LAST_BEAT':<12} {'REQUESTS':<9} IN_FLIGHT", "-" * 58]
    for worker in workers:
        booted = "yes" if worker.get("booted") else "no"
        rows.append(f"{worker.get('pid', '?'):<10} {worker.get('age', '?'):<6} {booted:<8} "
                    f"{_heartbeat(worker.get('last_heartbeat')):<12} {worker.get('requests', '-'):<9} "
                    f"{worker.get('in_flight', '-')}")
    rows += ["", f"Total: {data.get('count', len(workers))} workers"]
    return "\n".join(rows)


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "unknown"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {seconds}s"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


def format_stats(data: dict) -> str:
    rows = [("Uptime", _duration(data.get("uptime"))), ("PID", data.get("pid", "unknown")),
            ("Workers current", data.get("workers_current", 0)),
            ("Workers target", data.get("workers_target", 0)),
            ("Workers spawned", data.get("workers_spawned", 0)),
            ("Workers killed", data.get("workers_killed", 0)), ("Reloads", data.get("reloads", 0))]
    if "requests_total" in data:
        rows += [("Requests", data["requests_total"]), ("In flight", data.get("requests_in_flight", 0))]
    return "\n".join(f"{label + ':':<17} {value}" for label, value in rows)


def format_listeners(data: dict) -> str:
    listeners = data.get("listeners", [])
    if not listeners:
        return "No listeners bound"
    rows = [f"{'ADDRESS':<40} {'TYPE':<8} FD", "-" * 55]
    rows += [f"{item.get('address', '?'):<40} {item.get('type', '?'):<8} {item.get('fd', '?')}"
             for item in listeners]
    rows += ["", f"Total: {data.get('count', len(listeners))} listeners"]
    return "\n".join(rows)


def format_config(data: dict) -> str:
    def text(value: Any) -> str:
        return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "\n".join(f"{key}: {text(data[key])}" for key in sorted(data))


def format_help(data: dict) -> str:
    commands = data.get("commands", {})
    width = max((len(name) for name in commands), default=0) + 2
    return "\n".join(["Available commands:", ""] +
                     [f"  {name:<{width}} {text}" for name, text in sorted(commands.items())])


def format_all(data: dict) -> str:
    arbiter = data.get("arbiter") or {}
    workers = data.get("web_workers", [])
    rows = ["ARBITER (master)", f"  PID: {arbiter.get('pid', '?')}", "",
            f"WEB WORKERS ({data.get('web_worker_count', len(workers))})"]
    if workers:
        rows += [f"  {'PID':<10} {'AGE':<6} {'BOOTED':<8} LAST_BEAT", "  " + "-" * 38]
        rows += [f"  {w.get('pid', '?'):<10} {w.get('age', '?'):<6} {'yes' if w.get('booted') else 'no':<8} "
                 f"{_heartbeat(w.get('last_heartbeat'))}" for w in workers]
    else:
        rows.append("  (none)")
    return "\n".join(rows)


def _size(count: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if count < 1024 or unit == "G":
            return f"{count}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    return str(count)


def request_rows(requests: list, width: int) -> list:
    rows = [f"{'PID':<8} {'AGE':>8} {'METHOD':<7} {'CLIENT':<22} {'READ':>7} {'WRITTEN':>8}  PATH"]
    for item in requests:
        path = item.get("path", "")
        if item.get("query"):
            path += "?" + item["query"]
        line = (f"{item.get('pid', '?'):<8} {item.get('elapsed', 0):>7.1f}s {item.get('method', ''):<7} "
                f"{item.get('client', ''):<22} {_size(item.get('bytes_read', 0)):>7} "
                f"{_size(item.get('bytes_written', 0)):>8}  {path}")
        rows.append(line[:width] if width > 0 else line)
    return rows


def format_requests(data: dict) -> str:
    requests = data.get("requests", [])
    if not requests:
        return "No requests in flight"
    rows = request_rows(requests, 0)
    hidden = data.get("in_flight", len(requests)) - len(requests)
    rows += ["", f"Total: {data.get('in_flight', len(requests))} in flight" +
             (f" ({hidden} not shown)" if hidden > 0 else "")]
    return "\n".join(rows)


def format_dump(data: dict) -> str:
    text = data.get("stacks", "")
    if data.get("truncated"):
        text += "\n[truncated]"
    return f"Worker {data.get('pid', '?')}:\n{text}"


FORMATS: dict[str, Callable[[dict], str]] = {
    "show all": format_all, "show workers": format_workers, "show stats": format_stats,
    "show listeners": format_listeners, "show config": format_config, "show requests": format_requests,
    "help": format_help,
}


def format_reply(command: str, data: Any) -> str:
    words = shlex.split(command.lower())
    if words and words[0] == "dump" and isinstance(data, dict):
        return format_dump(data)
    formatter = FORMATS.get(" ".join(words[:2]))
    if formatter is not None and isinstance(data, dict):
        return formatter(data)
    return json.dumps(data, indent=2) if data else "OK"


def run_command(path: str, command: str, as_json: bool) -> int:
    try:
        with ControlClient(path) as client:
            data = client.command(command)
    except ControlError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2) if as_json else format_reply(command, data))
    return 0


def run_interactive(path: str, as_json: bool) -> int:
    try:
        import readline
    except ImportError:  # pragma: no cover - readline is part of Debian's python3
        readline = None  # type: ignore[assignment]
    client = ControlClient(path)
    try:
        client.connect()
    except ControlError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    history = os.path.expanduser("~/.narwhalc_history")
    if readline is not None:
        try:
            readline.read_history_file(history)
        except OSError:
            pass
    print(f"Connected to {path}")
    print("Type 'help' for available commands, 'quit' to exit.\n")
    status = 0
    try:
        while True:
            try:
                line = input("narwhal> ").strip()
            except EOFError:
                print()
                break
            if not line:
                continue
            if line.lower() in ("quit", "exit", "q"):
                break
            if line.lower() == "top":
                top(client)
                continue
            try:
                data = client.command(line)
                print(json.dumps(data, indent=2) if as_json else format_reply(line, data))
            except ControlError as error:
                print(f"Error: {error}")
                try:  # the server may have closed the connection: once more
                    client.close()
                    client.connect()
                except ControlError:
                    print("Connection lost. Exiting.")
                    status = 1
                    break
            print()
    except KeyboardInterrupt:
        print()
        status = 130
    finally:
        client.close()
        if readline is not None:
            try:
                readline.write_history_file(history)
            except OSError:
                pass
    return status


# ---- narwhalc top ---------------------------------------------------------------------------

def render_top(stats: dict, workers: dict, requests: dict, rate: float | None, size: os.terminal_size) -> str:
    width, height = size.columns, size.lines
    lines = [
        f"narwhal {stats.get('pid', '?')} - up {_duration(stats.get('uptime'))} - "
        f"workers {stats.get('workers_current', 0)}/{stats.get('workers_target', 0)} - "
        f"{'-' if rate is None else f'{rate:.1f}'} req/s - "
        f"{stats.get('requests_in_flight', 0)} in flight - {stats.get('requests_total', 0)} served",
        "",
        f"{'PID':<8} {'AGE':<5} {'REQUESTS':>9} {'IN_FLIGHT':>9} {'LAST_BEAT':>10}",
    ]
    for worker in workers.get("workers", []):
        lines.append(f"{worker.get('pid', '?'):<8} {worker.get('age', '?'):<5} {worker.get('requests', 0):>9} "
                     f"{worker.get('in_flight', 0):>9} {worker.get('last_heartbeat', 0):>9}s")
    lines += ["", "IN-FLIGHT REQUESTS (slowest first)"]
    in_flight = requests.get("requests", [])
    lines += request_rows(in_flight, width) if in_flight else ["(none)"]
    lines = [line[:width] for line in lines[: max(height - 1, 1)]]
    return "\x1b[H\x1b[2J" + "\r\n".join(lines) + "\r\n" + "q: quit"[:width]


def top(client: ControlClient, interval: float = 1.0) -> int:
    """A live view, refreshed every `interval` seconds, until q or Ctrl-C."""
    stdin = sys.stdin
    interactive = stdin.isatty()
    saved = None
    if interactive:
        import termios
        import tty
        saved = termios.tcgetattr(stdin.fileno())
        tty.setcbreak(stdin.fileno())
    out = sys.stdout
    previous: tuple[float, int] | None = None
    try:
        out.write("\x1b[?25l")  # no cursor
        while True:
            stats = client.command("show stats")
            workers = client.command("show workers")
            requests = client.command("show requests")
            now = time.monotonic()
            total = int(stats.get("requests_total", 0))
            rate = None
            if previous is not None and now > previous[0]:
                rate = max(total - previous[1], 0) / (now - previous[0])
            previous = (now, total)
            out.write(render_top(stats, workers, requests, rate, shutil.get_terminal_size()))
            out.flush()
            deadline = now + interval
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([stdin] if interactive else [], [], [], left)
                if ready:
                    key = os.read(stdin.fileno(), 1)
                    if key in (b"q", b"Q", b"\x03"):
                        return 0
    except KeyboardInterrupt:
        return 0
    except ControlError as error:
        out.write("\x1b[?25h\r\n")
        print(f"Error: {error}", file=sys.stderr)
        return 1
    finally:
        out.write("\x1b[?25h\r\n")
        out.flush()
        if saved is not None:
            import termios
            termios.tcsetattr(stdin.fileno(), termios.TCSADRAIN, saved)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="narwhalc", description="narwhal's (and gunicorn's) control interface",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  narwhalc                      interactive\n"
               "  narwhalc -c 'show workers'    one command\n"
               "  narwhalc -c 'show stats' -j   JSON, for scripts\n"
               "  narwhalc top                  live view (q quits)\n"
               "  narwhalc show requests        words after the options are a command too")
    parser.add_argument("-s", "--socket", default=default_socket(),
                        help="control socket path (default: %(default)s)")
    parser.add_argument("-c", "--command", help="run this command and exit")
    parser.add_argument("-j", "--json", action="store_true", help="print the raw JSON reply")
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    parser.add_argument("words", nargs="*", help="a command (`top` for the live view)")
    options = parser.parse_args(argv)
    if options.version:
        from narwhal import __version__
        print(f"narwhalc (narwhal {__version__})")
        return 0
    path = os.path.abspath(options.socket)
    command = options.command or " ".join(options.words)
    if command.strip().lower() == "top":
        try:
            with ControlClient(path) as client:
                return top(client)
        except ControlError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 1
    if command.strip():
        return run_command(path, command, options.json)
    return run_interactive(path, options.json)


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
