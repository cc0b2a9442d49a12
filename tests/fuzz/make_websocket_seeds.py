#!/usr/bin/env python3
"""Writes seed inputs for tests/fuzz/websocket_fuzz.cpp into a directory.

Input format (see the fuzz target): byte 0 = flags, byte 1 = split seed, then either raw client
bytes (flags bit 0) or a frame program of (op, length, payload) triples.
"""
import os
import struct
import sys

MASK = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, rsv1=False, mask=True):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        head = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + MASK + bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))


def op(code, payload=b"", long=False):
    return bytes([code, len(payload) | (0x80 if long else 0)]) + payload


# op byte: bits 0-2 kind (0 data, 1 continuation, 2 control, 3 raw, 4 send text/binary (bit 3),
# 5 send binary, 6 ping, 7 close); bit 3 binary (data) / control kind; bit 4 fin; bit 5 rsv1;
# bit 6 unmasked; bit 7 deflate the payload (data) / control kind (control: bits 3 and 7 pick
# close, ping, pong, reserved 0xB). Length byte: bit 7 repeats the payload 512 times.
FIN, RSV1, DEFLATE = 0x10, 0x20, 0x80
SEEDS = {
    "raw-text": bytes([1, 0]) + frame(1, b"hello"),
    "raw-fragmented-ping": bytes([1, 3]) + frame(1, b"Hel", fin=False) + frame(9, b"p")
    + frame(0, b"lo"),
    "raw-close": bytes([1, 0]) + frame(8, b"\x03\xe8bye"),
    "raw-big": bytes([1, 0]) + frame(2, b"x" * 70000),
    "program-echo": bytes([0, 7]) + op(FIN, b"hello") + op(4, b"hello") + op(6, b"ping")
    + op(2 | FIN | 0x08, b"pong") + op(7, b"\x03\xe8done"),
    "program-deflate": bytes([2, 9]) + op(FIN | RSV1 | DEFLATE, b"compress me compress me")
    + op(4, b"compressed reply", long=True) + op(FIN | RSV1 | DEFLATE, b"again compress me"),
    "program-deflate-fragments": bytes([2 | 4 | 8, 1]) + op(RSV1 | DEFLATE, b"first part ")
    + op(1 | DEFLATE, b"second part ") + op(2 | FIN | 0x08, b"") + op(1 | FIN | DEFLATE, b"end"),
    "program-utf8": bytes([16, 5]) + op(0, "\u20ac".encode()[:2]) + op(1 | FIN, "\u20ac".encode()[2:])
    + op(FIN, b"\xc3\x28"),
    "program-close-after-send": bytes([0, 2]) + op(7, b"\x03\xe9bye") + op(FIN, b"late")
    + op(2 | FIN, b"\x03\xe8"),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
