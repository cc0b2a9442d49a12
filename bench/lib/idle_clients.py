#!/usr/bin/python3
"""Holds N idle HTTP/1.1 keep-alive connections open against a server, for bench/suite.py.

  idle_clients.py HOST PORT N [PATH]

Opens N sockets (non-blocking, at most 500 connects in flight so the listen backlog never
overflows), sends one `GET PATH` on each, reads each full response (Content-Length framed),
then prints `ready OPEN FAILED SECONDS` and keeps every socket open and silent. When a line (or
EOF) arrives on stdin it checks how many sockets the server has since closed, prints
`still-open OPEN CLOSED` and exits. Cheap: a few hundred ms of CPU for 10k connections, nothing
while idle (it sleeps in stdin's read), so it does not disturb the measurement it runs beside.
"""
import errno
import os
import resource
import selectors
import socket
import sys
import time


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, min(hard, 65536)), max(hard, want)))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    started = time.monotonic()
    pending = count
    in_flight = 0
    open_sockets = []
    failed = 0
    state = {}  # socket -> [phase, buffer]

    def launch():
        nonlocal pending, in_flight, failed
        while pending and in_flight < 500:
            pending -= 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            state[s] = ["connect", b""]
            sel.register(s, selectors.EVENT_WRITE)
            in_flight += 1

    def done(s, ok):
        nonlocal in_flight, failed
        in_flight -= 1
        sel.unregister(s)
        del state[s]
        if ok:
            open_sockets.append(s)
        else:
            failed += 1
            s.close()

    launch()
    deadline = time.monotonic() + 120
    while in_flight and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            phase = state[s]
            if phase[0] == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    done(s, False)
                    continue
                try:
                    s.send(request)
                except OSError:
                    done(s, False)
                    continue
                phase[0] = "response"
                sel.modify(s, selectors.EVENT_READ)
            else:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    done(s, False)
                    continue
                if not data:
                    done(s, False)
                    continue
                phase[1] += data
                head, sep, body = phase[1].partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(body) >= length:
                    done(s, head.startswith(b"HTTP/1.1 200"))
        launch()
    for s in list(state):
        done(s, False)
    print(f"ready {len(open_sockets)} {failed} {time.monotonic() - started:.2f}", flush=True)
    sys.stdin.readline()
    closed = 0
    for s in open_sockets:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if not data:
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    print(f"still-open {len(open_sockets) - closed} {closed}", flush=True)
    os._exit(0)  # closing 10k sockets one by one is needless work


if __name__ == "__main__":
    main()
