#!/usr/bin/env python3
"""Seeds for the PROXY protocol and uwsgi fuzz targets: `make_edge_seeds.py proxy|uwsgi DIR`.
PROXY seeds: byte 0 = mode (0 v1, 1 v2, 2 auto), then a header and a request. uwsgi seeds:
byte 0 = flags, byte 1 = split seed, then packets and bodies as nginx sends them."""
import socket
import struct
import sys
from pathlib import Path

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def v2(command, family, block):
    return SIG + struct.pack("!BBH", 0x20 | command, family, len(block)) + block


def proxy_seeds():
    ip4 = socket.inet_pton(socket.AF_INET, "192.0.2.1") + socket.inet_pton(socket.AF_INET, "198.51.100.2")
    ip6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1") + socket.inet_pton(socket.AF_INET6, "::1")
    tlvs = struct.pack("!BH", 1, 2) + b"h2" + struct.pack("!BH", 0x20, 5) + b"\x07\0\0\0\0"
    headers = [
        (0, b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"),
        (0, b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n"),
        (0, b"PROXY UNKNOWN\r\n"),
        (1, v2(1, 0x11, ip4 + struct.pack("!HH", 1, 2) + tlvs)),
        (1, v2(1, 0x21, ip6 + struct.pack("!HH", 3, 4))),
        (1, v2(1, 0x31, b"/a".ljust(108, b"\0") + b"/b".ljust(108, b"\0"))),
        (1, v2(0, 0x00, b"")),
        (2, v2(1, 0x00, b"xyz")),
        (2, b""),
    ]
    return [bytes([mode]) + header + REQUEST for mode, header in headers]


def packet(variables, modifier1=0):
    block = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in variables)
    return struct.pack("<BHB", modifier1, len(block), 0) + block


def uwsgi_seeds():
    nginx = [(b"QUERY_STRING", b"a=1"), (b"REQUEST_METHOD", b"POST"), (b"CONTENT_TYPE", b""),
             (b"CONTENT_LENGTH", b"5"), (b"PATH_INFO", b"/p"), (b"HTTPS", b"on"), (b"HTTP_HOST", b"x")]
    return [b"\0\x07" + packet(nginx) + b"hello" + packet([(b"PATH_INFO", b"/2")]),
            b"\x01\x21" + packet([(b"HTTP_CONNECTION", b"close")]),
            b"\0\0" + packet([(b"CONTENT_LENGTH", b"x")]),
            b"\0\x03" + packet([], modifier1=5)]


def main():
    kind, directory = sys.argv[1], Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(proxy_seeds() if kind == "proxy" else uwsgi_seeds()):
        (directory / ("seed-%02d" % i)).write_bytes(seed)


if __name__ == "__main__":
    main()
