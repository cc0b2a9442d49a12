#!/usr/bin/python3
"""`perf script` output -> folded stacks and a self-contained SVG flame graph (no external tools:
Debian 12 ships no FlameGraph package).

  perf script -i perf.data | flamegraph.py collapse > out.folded
  flamegraph.py svg "title" < out.folded > out.svg

Folded format (Brendan Gregg's): `root;caller;callee COUNT` per line, so the files also work with
any FlameGraph/speedscope/inferno tool.
"""
import collections
import html
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def clean(symbol, dso):
    symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
    if symbol == "[unknown]":
        symbol = "[" + dso.rsplit("/", 1)[-1] + "]"
    return symbol.replace(";", ":")


def collapse(lines):
    counts = collections.Counter()
    comm, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                counts[";".join([comm] + frames[::-1])] += 1
            comm, frames = None, []
            continue
        if comm is None and not line.startswith((" ", "\t")):
            comm = line.split()[0]
            continue
        match = FRAME.match(line)
        if match:
            frames.append(clean(match.group(1), match.group(2)))
    if comm is not None:
        counts[";".join([comm] + frames[::-1])] += 1
    for stack, count in sorted(counts.items()):
        print(stack, count)


def color(name):
    h = sum(ord(c) for c in name)
    if name.startswith("narwhal::") or "narwhal" in name:
        return f"rgb(80,{140 + h % 60},{200 + h % 50})"  # narwhal's own code: blue
    if name.startswith("_Py") or name.startswith("Py") or "python" in name:
        return f"rgb({200 + h % 50},{180 + h % 60},60)"  # CPython: yellow
    return f"rgb({220 + h % 30},{90 + h % 90},50)"  # kernel/libc/other: red-orange


def svg(title, lines, width=1600, row=16):
    root = {"children": {}, "count": 0}
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        count = int(count)
        node = root
        node["count"] += count
        for frame in stack.split(";"):
            node = node["children"].setdefault(frame, {"children": {}, "count": 0})
            node["count"] += count
    total = root["count"] or 1
    rects = []

    def walk(node, name, x, depth):
        w = node["count"] / total * (width - 20)
        if w < 0.3:
            return
        rects.append((name, x, depth, w, node["count"]))
        child_x = x
        for child_name, child in sorted(node["children"].items()):
            walk(child, child_name, child_x, depth + 1)
            child_x += child["count"] / total * (width - 20)

    walk(root, "all", 10, 0)
    depth = max(r[2] for r in rects) + 1
    height = depth * row + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">',
           f'<rect width="100%" height="100%" fill="#f8f8f8"/><text x="10" y="20" font-size="15">{html.escape(title)}</text>']
    for name, x, d, w, count in rects:
        y = height - (d + 1) * row - 10
        label = html.escape(name)
        out.append(f'<g><title>{label} ({count} samples, {100 * count / total:.1f}%)</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="{color(name)}"/>')
        if w > 40:
            text = name[: int(w / 6.6)]
            out.append(f'<text x="{x + 2:.1f}" y="{y + row - 4}">{html.escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    if sys.argv[1] == "collapse":
        collapse(sys.stdin)
    elif sys.argv[1] == "svg":
        svg(sys.argv[2] if len(sys.argv) > 2 else "flame graph", sys.stdin)
    else:
        sys.exit(__doc__)
