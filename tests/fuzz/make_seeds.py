#!/usr/bin/python3
"""Write the gunicorn corpus's raw requests as libFuzzer seeds.

Usage: make_seeds.py SEED_DIR
Each seed is <options byte><split seed byte><raw bytes> (see http_parser_fuzz.cpp); every case
is written with default options, with the Host check off (flag 16) and with every relaxation on
(flags 64 | 128: permit_obsolete_folding, strip_header_spaces, permit_unconventional_http_version,
tolerate_dangerous_framing), plus a few pipelined pairs of cases.
"""
import base64
import json
import pathlib
import sys

CASES = pathlib.Path(__file__).resolve().parent.parent / "corpus" / "gunicorn-requests" / "cases"


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    raws = []
    for path in sorted(CASES.glob("*/*.json")):
        case = json.loads(path.read_text())
        raw = base64.b64decode(case["raw_b64"])
        raws.append(raw)
        name = case["id"].replace("/", "_")
        (out / f"{name}").write_bytes(bytes([0, 7]) + raw)
        (out / f"{name}_nohost").write_bytes(bytes([16, 13]) + raw)
        (out / f"{name}_relaxed").write_bytes(bytes([16 | 64 | 128, 29]) + raw)
    for i in range(0, len(raws) - 1, 5):
        (out / f"pipelined_{i}").write_bytes(bytes([16, i % 256]) + raws[i] + raws[i + 1])
    print(f"{len(list(out.iterdir()))} seeds in {out}")


if __name__ == "__main__":
    main()
