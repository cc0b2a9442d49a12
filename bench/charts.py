#!/usr/bin/python3
"""Charts of a benchmark suite run, as SVG, from its results.json (written by bench/suite.py).

  bench/charts.py bench/results/<stamp>/results.json      # SVGs next to it
  bench/charts.py --backfill "2026-12-03 07:25"            # a run recorded only in RESULTS.md: its
                                                          # tables -> bench/results/<stamp>/results.json + SVGs

Per workload one SVG (<workload>.svg; scaling: scale-*.svg): req/s and server CPU µs/request per
server, side by side (idle: req/s and µs without/with the idle connections, and worker RSS). One
overview.svg: each workload's req/s relative to its baseline server (the report's "× gunicorn …"
column). narwhal in blues, gunicorn in greys, other peers in warm greys.

Needs Debian's python3-matplotlib (bench/install-deps.sh). Output is deterministic: the same JSON
gives byte-identical SVGs (fixed svg.hashsalt, no date in the metadata, text kept as text).
"""
import argparse
import datetime
import importlib.util
import json
import os
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from suite_tables import SCALE_NAMES, baseline_for, find_section, parse_section  # noqa: E402

# Fixed colours per server, so a server looks the same in every chart.
NARWHAL_BLUES = {"narwhal": "#1f5fa8", "narwhal-gthread": "#3d85c6", "narwhal-gevent": "#6fa8dc",
                 "narwhal-before": "#a9c6e8"}
PEER_GREYS = {"gunicorn-sync": "#4d4d4d", "gunicorn-gthread": "#737373", "gunicorn-gevent": "#999999",
              "uwsgi": "#a08c78", "waitress": "#b8a58c", "uvicorn": "#8c7b6b", "nginx": "#cbbfae"}
STYLE = {
    "svg.fonttype": "none",            # text stays <text>: small files, no embedded glyphs
    "svg.hashsalt": "narwhal-bench",   # stable clip-path ids
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}
SAVE = {"format": "svg", "metadata": {"Date": None, "Creator": "bench/charts.py"}}
TITLE_WIDTH = 100  # characters per title line
ROW_INCHES = 0.32  # height of one server's bar


def missing():
    """None when charts can be drawn, else why not."""
    if importlib.util.find_spec("matplotlib") is None:
        return "python3-matplotlib is not installed (bench/install-deps.sh)"
    return None


def colour(server):
    """narwhal rows in blues, peers in greys; labels like "narwhal -w 2 (…)" by their first word."""
    if server in NARWHAL_BLUES or server in PEER_GREYS:
        return NARWHAL_BLUES.get(server) or PEER_GREYS[server]
    if server.startswith("narwhal"):
        return NARWHAL_BLUES["narwhal-gthread"] if "-w 2" in server else NARWHAL_BLUES["narwhal"]
    return "#b3b3b3"


def plain(title):
    """A report heading without its Markdown (backticks)."""
    return title.replace("`", "")


def wrapped(text, width=TITLE_WIDTH):
    return "\n".join(textwrap.wrap(text, width))


def footnote(doc):
    started = datetime.datetime.fromisoformat(doc["started"])
    method = doc.get("method", {})
    parts = [f"{started:%Y-%m-%d %H:%M} UTC", f"commit {doc.get('commit', '?')}" + (" (src/ modified)" if doc.get("src_dirty") else "")]
    machine = doc.get("machine", "?").strip()
    if doc.get("cpus"):
        machine += f", {doc['cpus']} × {doc.get('cpu_model', '?')}"
    parts.append(machine)
    line2 = []
    if method.get("runs"):
        line2.append(f"median of {method['runs']} runs × {method.get('duration_s', '?')} s")
    if method.get("server_cpu") is not None:
        line2.append(f"server on core {method['server_cpu']}, wrk on core {method.get('client_cpu', '?')}")
    if method.get("idle_mode"):
        line2.append(f"idle client cores: {method['idle_mode']}")
    line2.append("source: " + doc.get("source", "bench/suite.py") + " · all columns: bench/RESULTS.md")
    return " · ".join(parts) + "\n" + " · ".join(line2)


def new_figure(rows, panels, width=11.0, extra=1.55):
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, extra + ROW_INCHES * max(rows, 2)), layout="constrained")
    axes = figure.subplots(1, panels, sharey=True, squeeze=False)[0]
    return figure, axes


def finish(figure, title, doc, path):
    figure.suptitle(wrapped(title), x=0.01, ha="left", fontsize=11, fontweight="bold")
    figure.supxlabel(footnote(doc), x=0.01, ha="left", fontsize=7, color="#555555")
    figure.savefig(path, **SAVE)
    return path


def label_bars(axis, positions, values, texts, extents=None):
    """Value labels just past each bar's end (or past the highest run shown on it)."""
    for y, value, text, end in zip(positions, values, texts, extents or values):
        if value is None:
            continue
        axis.annotate(text, (end, y), xytext=(4, 0), textcoords="offset points", va="center", ha="left", fontsize=8)


def bar_panel(axis, names, values, texts, heading, runs=None, skips=None):
    """Horizontal bars, first server at the top; runs (if given) as small ticks on the bars."""
    positions = list(range(len(names)))
    shown = [v if v is not None else 0 for v in values]
    axis.barh(positions, shown, color=[colour(n) for n in names], height=0.7)
    extents = list(shown)
    if runs:
        for y, points in zip(positions, runs):
            if points:
                axis.plot(points, [y] * len(points), linestyle="none", marker="|", markersize=9, color="black", alpha=0.55)
                extents[y] = max([extents[y]] + list(points))
    label_bars(axis, positions, values, texts, extents)
    for y, skip in zip(positions, skips or [None] * len(names)):
        if skip:
            axis.text(0, y, f"  {skip}", va="center", ha="left", fontsize=8, style="italic", color="#777777")
    axis.set_title(heading)
    axis.set_xlim(0, max(extents + [1]) * 1.22)
    axis.set_yticks(positions, names)
    if not axis.yaxis_inverted():  # panels share the y axis: invert it once
        axis.invert_yaxis()
    axis.grid(axis="x", color="#e6e6e6", linewidth=0.6)
    axis.set_axisbelow(True)


def thousands(value):
    return f"{value:,.0f}"


def short_number(value, _position=None):
    """Axis ticks: 20k rather than 20000."""
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def render_workload(doc, name, title, rows, path):
    names = [r["server"] for r in rows]
    measured = ["rps" in r for r in rows]
    skips = [None if ok else f"skipped: {r.get('skip', '?')}" for r, ok in zip(rows, measured)]
    figure, (left, right) = new_figure(len(rows), 2)
    rps = [r["rps"] if ok else None for r, ok in zip(rows, measured)]
    bar_panel(left, names, rps, [thousands(v) if v is not None else "" for v in rps],
              "req/s (median; ticks: each run) — higher is better",
              runs=[r.get("rps_runs") if ok else None for r, ok in zip(rows, measured)], skips=skips)
    left.xaxis.set_major_formatter(short_number)
    us = [r["server_us"] if ok else None for r, ok in zip(rows, measured)]
    bar_panel(right, names, us, [f"{v:.1f} µs" if v is not None else "" for v in us],
              "server CPU µs per request — lower is better")
    return finish(figure, title, doc, path)


def render_idle(doc, title, rows, path):
    """Without/with the idle connections: req/s, server µs/request; and the worker's RSS."""
    rows = [r for r in rows if "with" in r]
    idle = doc.get("method", {}).get("idle_connections") or (rows[0]["idle_open"] if rows else "N")
    names = [r["server"] for r in rows]
    figure, (rate, cost, memory) = new_figure(2 * len(rows), 3, width=12.0)
    positions = list(range(len(rows)))
    for axis, key, text, heading in (
            (rate, "rps", thousands, "req/s of 50 active clients — higher is better"),
            (cost, "server_us", lambda v: f"{v:.1f} µs", "server CPU µs per request — lower is better")):
        for offset, phase, alpha in ((-0.2, "without", 0.45), (0.2, "with", 1.0)):
            values = [r[phase][key] for r in rows]
            ys = [p + offset for p in positions]
            axis.barh(ys, values, height=0.38, color=[colour(n) for n in names], alpha=alpha,
                      label=f"{phase} {idle:,} idle connections" if isinstance(idle, int) else phase)
            label_bars(axis, ys, values, [text(v) for v in values])
        axis.set_title(heading)
        axis.set_xlim(0, max([r[p][key] for r in rows for p in ("without", "with")] + [1]) * 1.25)
    rate.xaxis.set_major_formatter(short_number)
    memory.barh([p - 0.2 for p in positions], [r["rss_worker_before_kb"] / 1024 for r in rows], height=0.38,
                color=[colour(n) for n in names], alpha=0.45)
    memory.barh([p + 0.2 for p in positions], [r["rss_worker_idle_kb"] / 1024 for r in rows], height=0.38,
                color=[colour(n) for n in names])
    label_bars(memory, [p - 0.2 for p in positions], [r["rss_worker_before_kb"] / 1024 for r in rows],
               [f"{r['rss_worker_before_kb'] / 1024:.1f} MiB" for r in rows])
    label_bars(memory, [p + 0.2 for p in positions], [r["rss_worker_idle_kb"] / 1024 for r in rows],
               [f"{r['rss_worker_idle_kb'] / 1024:.1f} MiB (+{(r['rss_worker_idle_kb'] - r['rss_worker_before_kb']) / 1024:.1f})"
                for r in rows])
    memory.set_title("worker RSS MiB — lower is better")
    memory.set_xlim(0, max([r["rss_worker_idle_kb"] / 1024 for r in rows] + [1]) * 1.6)
    for axis in (rate, cost, memory):
        axis.grid(axis="x", color="#e6e6e6", linewidth=0.6)
        axis.set_axisbelow(True)
    rate.set_yticks(positions, names)
    rate.invert_yaxis()
    rate.legend(loc="lower right", fontsize=7, frameon=False)
    return finish(figure, title + " — pale: without, full: with the idle connections", doc, path)


def overview_entries(doc):
    """[(title, baseline, [(server, ratio)])] for each workload compared with a baseline server."""
    entries = []
    for name, workload in doc["workloads"].items():
        rows = [r for r in workload["rows"] if "rps" in r]
        baseline = workload.get("baseline")
        if baseline not in {r["server"] for r in rows}:
            baseline = baseline_for(rows)  # e.g. a back-filled table whose "× gunicorn sync" said n/a
        base = next((r for r in rows if r["server"] == baseline), None)
        if name in ("idle", "scaling") or not base:
            continue  # idle and scaling have their own charts and no peer to compare with
        entries.append((f"{name}: {plain(workload['title'])}", baseline,
                        [(r["server"], r["rps"] / base["rps"]) for r in rows]))
    return entries


def render_overview(doc, path):
    from matplotlib.figure import Figure
    entries = overview_entries(doc)
    if not entries:
        return None
    heights = [len(servers) + 1.6 for _, _, servers in entries]
    figure = Figure(figsize=(10.0, 1.4 + ROW_INCHES * sum(heights)), layout="constrained")
    axes = figure.subplots(len(entries), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    top = max(ratio for _, _, servers in entries for _, ratio in servers)
    for axis, (title, baseline, servers) in zip(axes, entries):
        names = [s for s, _ in servers]
        ratios = [r for _, r in servers]
        positions = list(range(len(names)))
        axis.barh(positions, ratios, color=[colour(n) for n in names], height=0.7)
        label_bars(axis, positions, ratios, [f"{r:.2f}×" for r in ratios])
        axis.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        axis.set_yticks(positions, names)
        axis.invert_yaxis()
        axis.set_title(wrapped(f"{title} — × {baseline}", 110), fontsize=9)
        axis.grid(axis="x", color="#e6e6e6", linewidth=0.6)
        axis.set_axisbelow(True)
    axes[-1].set_xlim(0, top * 1.15)
    axes[-1].set_xlabel("req/s relative to the workload's baseline server (dashed line: 1×) — higher is better")
    return finish(figure, "Where narwhal stands: req/s per workload, relative to the workload's gunicorn baseline", doc, path)


def render(json_path, out_dir=None):
    """Renders every chart of one results.json into out_dir (default: its directory);
    returns {"overview" | workload | scale-*: svg path}."""
    import matplotlib
    import matplotlib.style
    with open(json_path) as f:
        doc = json.load(f)
    out_dir = out_dir or os.path.dirname(os.path.abspath(json_path))
    os.makedirs(out_dir, exist_ok=True)
    rendered = {}
    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        for name, workload in doc["workloads"].items():
            rows = workload["rows"]
            if name == "idle":
                if any("with" in r for r in rows):
                    rendered[name] = render_idle(doc, f"idle: {plain(workload['title'])}", rows, os.path.join(out_dir, "idle.svg"))
            elif name == "scaling":
                for sub in dict.fromkeys(r["workload"] for r in rows):
                    sub_rows = [r for r in rows if r["workload"] == sub]
                    title = f"{sub}: {plain(workload['title'])}, {SCALE_NAMES.get(sub, sub)}"
                    rendered[sub] = render_workload(doc, sub, title, sub_rows, os.path.join(out_dir, f"{sub}.svg"))
            elif rows:
                rendered[name] = render_workload(doc, name, f"{name}: {plain(workload['title'])}", rows,
                                                 os.path.join(out_dir, f"{name}.svg"))
        overview = render_overview(doc, os.path.join(out_dir, "overview.svg"))
        if overview:
            rendered["overview"] = overview
    return rendered


def backfill(results_md, heading, out_dir=None):
    """results.json of a RESULTS.md section (tables parsed back); returns its path."""
    with open(results_md) as f:
        doc = parse_section(find_section(f.read(), heading))
    out_dir = out_dir or os.path.join(HERE, "results", doc["stamp"])
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="*", help="results.json files (SVGs go next to each)")
    parser.add_argument("--backfill", metavar="HEADING",
                        help='parse the RESULTS.md section whose heading starts with HEADING (e.g. "2026-12-03 07:25"; '
                             '"newest": the newest benchmark suite section) into results.json first')
    parser.add_argument("--results-md", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--out", help="directory for --backfill's results.json and charts (default bench/results/<stamp>/)")
    args = parser.parse_args()
    paths = list(args.results)
    if args.backfill:
        path = backfill(args.results_md, None if args.backfill == "newest" else args.backfill, args.out)
        print(f"wrote {os.path.relpath(path)}", file=sys.stderr)
        paths.append(path)
    if not paths:
        parser.error("give a results.json or --backfill")
    reason = missing()
    if reason:
        sys.exit(f"charts.py: {reason}")
    for path in paths:
        for name, svg in sorted(render(path).items()):
            print(os.path.relpath(svg))


if __name__ == "__main__":
    main()
