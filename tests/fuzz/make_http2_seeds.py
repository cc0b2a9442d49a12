#!/usr/bin/env python3
"""Writes seed inputs for tests/fuzz/http2_fuzz.cpp into a directory.

Input format (see the fuzz target): byte 0 = flags, byte 1 = split seed, then raw client bytes
after the preface (flags bit 0) or a frame program of (op, a, b[, payload]) ops:
op % 5 == 0 any frame (type = (op >> 3) % 11, b payload bytes), 1 HEADERS from the dictionary
(b payload bytes pick fields; op & 0x40 END_STREAM, op & 0x80 split into CONTINUATION),
2 DATA of b bytes, 3 deliver + server action ((op >> 3) % 6), 4 control frames (b % 4).
"""
import os
import struct
import sys

# Dictionary indices (kDictionary in the fuzz target).
GET, POST, HEAD, CONNECT, OPTIONS, HTTPS, HTTP, ROOT, QUERY, STAR, AUTH, USERINFO = range(12)
HOST, HOST_OTHER, CL5, CL0, CLX, COOKIE_A, COOKIE_B, TE_TRAILERS, TE_GZIP, CONNECTION = range(12, 22)


def headers(stream_index, fields, end_stream=True, split=False):
    op = 1 | (0x40 if end_stream else 0) | (0x80 if split else 0)
    return bytes([op, stream_index, len(fields)]) + bytes(fields)


def data(stream_index, length, end_stream=True):
    return bytes([2 | (0x40 if end_stream else 0), stream_index, length])


def act(action, argument):
    return bytes([3 | (action << 3), 0, argument])


def control(kind, a=0):
    return bytes([4, a, kind])


def raw_frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


SEEDS = {
    "get": bytes([0, 1]) + headers(0, [GET, HTTPS, AUTH, ROOT]) + act(0, 0x80),
    "post_body": bytes([0, 2]) + headers(0, [POST, HTTPS, AUTH, QUERY, CL5], end_stream=False)
    + data(0, 5) + act(3, 10) + act(0, 0) + act(1, 3),
    "cookies_split": bytes([0, 3]) + headers(1, [GET, HTTPS, AUTH, ROOT, COOKIE_A, COOKIE_B], split=True)
    + act(0, 0) + act(1, 201),
    "malformed": bytes([0, 4]) + headers(0, [GET, HTTPS, ROOT]) + headers(1, [GET, HTTPS, AUTH, ROOT, CONNECTION])
    + headers(2, [CONNECT, AUTH]) + headers(3, [GET, HTTPS, AUTH, STAR]) + headers(4, [HEAD, HTTP, HOST, ROOT]),
    "rapid_reset": bytes([2, 5]) + b"".join(headers(i, [GET, HTTPS, AUTH, ROOT]) + control(2, i) for i in range(15)),
    "floods": bytes([6, 6]) + control(0) * 30 + control(1) * 30 + control(3, 0x80) * 5,
    "small_limits": bytes([2, 7]) + headers(0, [POST, HTTPS, AUTH, ROOT], end_stream=False)
    + data(0, 200, end_stream=False) + act(0, 0) + data(0, 200) + act(1, 100) + act(4, 0),
    "raw_window": bytes([1, 8]) + raw_frame(4, 0, 0, b"") + raw_frame(8, 0, 0, struct.pack(">I", 0x7FFFFFFF)),
    "raw_continuation": bytes([1, 9]) + raw_frame(1, 0, 1, b"\x82\x87") + raw_frame(9, 0, 1, b"\x84") * 20,
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, seed in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(seed)


if __name__ == "__main__":
    main()
