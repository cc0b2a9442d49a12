"""Mutated and split requests against a running narwhal (the whole worker, not just the parser).

    tests/fuzz/live_server_fuzz.py [--bin PATH] [--seconds N] [--seed N]     (make fuzz-live)

Sends seed requests (bodies, chunked, pipelining, 100-continue, file_wrapper, odd headers) with
random byte edits, in random splits, half-closing some connections; afterwards the server must
still answer, and no worker may have crashed ("was sent SIG..." / unexpected exit codes in the
error log). Exit status 1 otherwise. Run it against the ASan build (build/asan/narwhal-asan) to
have the sanitizers watch too.
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "..", "integration", "apps")
SEEDS = [
    b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /echo?mode=read HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo?mode=readline HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhel\nl\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
    b"HEAD /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /stream HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
    b"GET /filewrapper HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /environ?a=%ff%00 HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nAccept: a\r\nAccept: b\r\n\r\n",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(0, 6)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op < 0.5:
            data[pos:pos] = bytes([rng.choice(b"\r\n :;0f\x00\t-_")])
        elif op < 0.7 and data:
            del data[pos:pos + rng.randint(1, 4)]
        else:
            data[pos:pos] = rng.choice(SEEDS)
    return bytes(data)


def one_connection(rng, port):
    with socket.socket() as s:
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", port))
            payload = b"".join(mutate(rng, rng.choice(SEEDS)) for _ in range(rng.randint(1, 4)))
            cuts = sorted(rng.sample(range(len(payload) + 1), k=min(3, len(payload) + 1)))
            last = 0
            for cut in cuts + [len(payload)]:
                s.sendall(payload[last:cut])
                last = cut
            if rng.random() < 0.3:
                s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:
            pass  # resets and timeouts are fine: the server may refuse garbage


def healthy(port):
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if not s.recv(100).startswith(b"HTTP/1.1 200"):
                return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "..", ".venv", "bin", "narwhal"))
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="narwhal-live-fuzz-", suffix=".log", delete=False)
    server = subprocess.Popen([args.bin, "-w", "2", "-b", "127.0.0.1:%d" % port, "--header-timeout", "2",
                               "--chdir", APPS, "wsgi_basic:app"], stderr=log)
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(args.seed)
        connections = 0
        stop = time.time() + args.seconds
        while time.time() < stop:
            one_connection(rng, port)
            connections += 1
        ok = healthy(port)
    finally:
        server.terminate()
        server.wait(30)
    text = open(log.name, errors="replace").read()
    crashes = [line for line in text.splitlines() if "was sent" in line or "exited with code" in line]
    print("seed %d: %d connections, still serving: %s, worker crashes: %d (log: %s)"
          % (args.seed, connections, ok, len(crashes), log.name))
    for line in crashes[:20]:
        print("  " + line)
    return 0 if ok and not crashes else 1


if __name__ == "__main__":
    sys.exit(main())
