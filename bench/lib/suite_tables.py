"""The Markdown tables of bench/suite.py's report, written and read back.

The writers (rows_table, idle_table) are what the suite prints; the reader (parse_section) turns a
suite section of bench/RESULTS.md back into the document bench/suite.py saves as results.json, so a
run recorded only as Markdown can still be charted (bench/charts.py --backfill). Both live here so a
change to a table's columns is made next to the code that reads them.

Values read back are as rounded as the table (req/s to 1, runs to 0.1k, µs to 0.1, RSS to 0.1 MiB);
rows_table(parse(table)) gives the same table again.
"""
import datetime
import re

# Workload headings of the report ("### …"); the idle workload's heading carries its size.
TITLES = {
    "hello-keepalive": "Hello world, keep-alive (wrk -t1 -c50)",
    "hello-close": "Hello world, `Connection: close` (wrk -t1 -c50 -H 'Connection: close')",
    "flask-json": "Flask `/json` (jsonify of a small dict), keep-alive",
    "sleep-10ms": "App sleeping 10 ms per request (`apps/sleep_app.py`), keep-alive, wrk -t1 -c64",
    "sleep-10ms-500": "The same app with 500 keep-alive clients on one gevent worker (`--worker-connections 1000`), wrk -t1 -c500",
    "flask-json-halt": "Flask `/json` again, idle cores halting (the machine's default): the cost of waking an idle wrk",
    "file-1mib": "1 MiB response: wsgi.file_wrapper (narwhal: sendfile) vs nginx static, keep-alive",
    "upload-10mib": "10 MiB upload read through wsgi.input (wrk -s upload.lua: POST of 10 MiB)",
    "scaling": "One worker vs two (narwhal), keep-alive",
    "asgi-hello": "ASGI hello (`apps/hello_asgi.py`): narwhal -k asgi vs uvicorn --loop uvloop --http httptools, one worker, keep-alive",
    "asgi-fastapi-json": "FastAPI `/json` (`apps/fastapi_app.py`): narwhal -k asgi vs uvicorn, one worker, keep-alive",
    "asgi-ws-echo": "WebSocket echo, 50 connections, 32-byte text messages (`apps/ws_echo_asgi.py`, bench/tools/ws_echo_load.cpp): messages/s in the req/s column",
    "observability-cost": "Hello world, keep-alive: plain, with statsd (to a UDP port nobody reads), with Prometheus /metrics (scraped every second)",
    "tls-hello-keepalive": "TLS hello world, keep-alive (same P-256 certificate; gunicorn sync closes every connection, so each of its requests is a handshake)",
    "http2-hello": "HTTP/2 hello world over TLS: h2load, 10 connections × 10 streams (h2), beside wrk over TLS HTTP/1.1 keep-alive (h1.1), same server",
    "tls-handshakes": "TLS hello world with `Connection: close`: a full TLS 1.3 handshake (ECDHE P-256, ECDSA) per request",
}
IDLE_TITLE = "{n} idle keep-alive connections + 50 active wrk clients (hello, 1 worker)"
SCALE_NAMES = {"scale-heavy": "Flask + Jinja page /report", "scale-hello": "hello world", "scale-flask": "Flask /json"}
SCALE_BASELINE = "narwhal -w 1 (core 0; wrk -t1 core 1)"

# The "× …" column compares with the first of these the workload ran (gevent-only rows with
# gunicorn's gevent worker; an A/B run of two builds with the older one; observability-cost with
# plain narwhal).
BASELINES = ("gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent", "uvicorn", "narwhal-before", "narwhal")

ROWS_HEADER = ("| server | req/s (median) | runs | × {baseline} | p50 ms | p99 ms | server µs/req | "
               "server busy | wrk µs/req | wrk busy | server core / client core busy (softirq) | other load | "
               "RSS MiB idle: master / workers | RSS MiB after | errors |")
IDLE_HEADER = ("| server | idle conns open (failed) | req/s without | req/s with | change | server µs/req without → with | "
               "p99 ms without → with | worker RSS MiB before → with idle → after load | still open at end |")


def baseline_for(rows):
    """The server the workload's rows are compared with, or None when it ran none of BASELINES."""
    present = {r["server"] for r in rows if "rps" in r}
    return next((b for b in BASELINES if b in present), None)


# ---------------------------------------------------------------------------------------------
# Writing.

def mib(kb):
    return f"{kb / 1024:.1f}"


def rss_text(rss):
    if not rss:
        return ""
    master, workers = rss
    return mib(master) + " / " + (" + ".join(mib(w) for w in workers) if workers else "—")


def runs_text(rps_runs):
    return ", ".join(f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}" for x in rps_runs)


def rows_table(rows, baseline="gunicorn-sync", idle_mode=None):
    """The per-server table; rows measured with another idle mode than the run's say so."""
    lines = [ROWS_HEADER.format(baseline=baseline.replace("-", " ")),
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|---:|"]
    base = next((r for r in rows if r["server"] == baseline and "rps" in r), None)
    for r in rows:
        if "rps" not in r:
            lines.append(f"| {r['server']} | skipped: {r.get('skip', '?')} |" + " |" * 13)
            continue
        ratio = f"{r['rps'] / base['rps']:.2f}" if base else "n/a"
        idle = r.get("idle_mode")
        name = r["server"] + (f" (idle cores: {idle})" if idle and idle_mode and idle != idle_mode else "")
        lines.append(f"| {name} | {r['rps']:,.0f} | {runs_text(r['rps_runs'])} | {ratio} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['server_us']:.1f} | {r['server_busy']:.0%} | {r['wrk_us']:.1f} | {r['wrk_busy']:.0%} | "
                     f"{r['server_core'][0]:.0%} ({r['server_core'][1]:.0%}) / {r['client_core'][0]:.0%} ({r['client_core'][1]:.0%}) | "
                     f"{r['other_busy']:.0%} | "
                     f"{rss_text(r.get('rss_idle'))} | {rss_text(r.get('rss_after'))} | {r['errors']} |")
    return lines


def idle_table(rows):
    lines = [IDLE_HEADER, "|---|---|---:|---:|---:|---|---|---|---:|"]
    for r in rows:
        if "with" not in r:
            lines.append(f"| {r['server']} | skipped: {r.get('skip', '?')} |" + " |" * 7)
            continue
        a, b = r["without"], r["with"]
        lines.append(f"| {r['server']} | {r['idle_open']} ({r['idle_failed']}) | {a['rps']:,.0f} | {b['rps']:,.0f} | "
                     f"{b['rps'] / a['rps'] - 1:+.1%} | {a['server_us']:.1f} → {b['server_us']:.1f} | "
                     f"{a['p99_ms']:.2f} → {b['p99_ms']:.2f} | {mib(r['rss_worker_before_kb'])} → "
                     f"{mib(r['rss_worker_idle_kb'])} → {mib(r['rss_worker_after_kb'])} | {r['idle_still_open']} |")
    return lines


# ---------------------------------------------------------------------------------------------
# Reading.

def find_section(markdown, heading=None):
    """The text of the "## …" section whose heading starts with `heading` (e.g. "2026-12-03 07:25"),
    or of the first (newest) "## <date> … — benchmark suite" section; ValueError when there is none."""
    sections = re.split(r"(?m)^(?=## )", markdown)
    for section in sections:
        first = section.split("\n", 1)[0]
        if not first.startswith("## "):
            continue
        title = first[3:]
        if heading is not None and title.startswith(heading):
            return section
        if heading is None and re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC — benchmark suite", title):
            return section
    raise ValueError(f"no section {heading!r} in the results" if heading else "no benchmark suite section")


def cells(line):
    return [c.strip() for c in line.strip()[1:-1].split("|")]


def number(text):
    return float(text.replace(",", ""))


def percent(text):
    return float(text.rstrip("%")) / 100


def run_value(text):
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


def core_pair(text):
    busy, softirq = re.fullmatch(r"(\d+)% \((\d+)%\)", text).groups()
    return [int(busy) / 100, int(softirq) / 100]


def rss_value(text):
    if not text:
        return None
    master, workers = (part.strip() for part in text.split("/"))
    kb = [] if workers == "—" else [float(w) * 1024 for w in workers.split("+")]
    return [float(master) * 1024, kb]


def parse_rows_table(lines, workload, idle_mode=None):
    """(rows, baseline) from a rows_table; baseline is the server named in the "× …" column, if any."""
    header = cells(lines[0])
    baseline_text = header[3][2:] if header[3].startswith("× ") else ""
    rows = []
    for line in lines[2:]:
        c = cells(line)
        if c[1].startswith("skipped: "):
            rows.append({"workload": workload, "server": c[0], "skip": c[1][len("skipped: "):]})
            continue
        name, mode = c[0], idle_mode
        match = re.fullmatch(r"(.*) \(idle cores: (.*)\)", name)
        if match:
            name, mode = match.groups()
        server_core, client_core = (core_pair(t.strip()) for t in c[10].split(" / "))
        row = {"workload": workload, "server": name, "rps": number(c[1]),
               "rps_runs": [run_value(x.strip()) for x in c[2].split(",")],
               "p50_ms": float(c[4]), "p99_ms": float(c[5]), "server_us": float(c[6]), "server_busy": percent(c[7]),
               "wrk_us": float(c[8]), "wrk_busy": percent(c[9]), "server_core": server_core, "client_core": client_core,
               "other_busy": percent(c[11]), "rss_idle": rss_value(c[12]), "rss_after": rss_value(c[13]),
               "errors": int(c[14])}
        if mode:
            row["idle_mode"] = mode
        rows.append(row)
    baseline = next((r["server"] for r in rows if r["server"].replace("-", " ") == baseline_text and "rps" in r), None)
    return rows, baseline


def parse_idle_table(lines, idle):
    rows = []
    for line in lines[2:]:
        c = cells(line)
        row = {"workload": f"idle-{idle}", "server": c[0]}
        if c[1].startswith("skipped: "):
            row["skip"] = c[1][len("skipped: "):]
            rows.append(row)
            continue
        opened, failed = re.fullmatch(r"(\d+) \((\d+)\)", c[1]).groups()
        us = [float(x) for x in c[5].split(" → ")]
        p99 = [float(x) for x in c[6].split(" → ")]
        rss = [float(x) * 1024 for x in c[7].split(" → ")]
        row.update({"idle_open": int(opened), "idle_failed": int(failed),
                    "without": {"rps": number(c[2]), "server_us": us[0], "p99_ms": p99[0]},
                    "with": {"rps": number(c[3]), "server_us": us[1], "p99_ms": p99[1]},
                    "rss_worker_before_kb": rss[0], "rss_worker_idle_kb": rss[1], "rss_worker_after_kb": rss[2],
                    "idle_still_open": int(c[8])})
        rows.append(row)
    return rows


def parse_header(lines):
    """The run's description from the section's "- key: value" lines (what bench/suite.py writes)."""
    meta = {"method": {}}
    method = meta["method"]
    for line in lines:
        if line.startswith("- commit: "):
            meta["commit"] = line[len("- commit: "):].split(";")[0].split(" ")[0]
            meta["src_dirty"] = "uncommitted" in line
        elif match := re.match(r"- machine: `(.*?)\s*`, (\d+) × (.*)", line):
            meta["machine"], meta["cpus"], meta["cpu_model"] = match.group(1), int(match.group(2)), match.group(3)
        elif match := re.match(r"- load average before the run: ([\d. ]+);", line):
            meta["load_before"] = match.group(1).split()
        elif line.startswith("- versions: "):
            versions = {}
            for part in line[len("- versions: "):].split("; "):
                if part.startswith("Python "):
                    meta["python"] = part.split()[1]
                elif ": " in part:
                    name, value = part.split(": ", 1)
                    if name == "wrk":
                        meta["wrk"] = value
                    else:
                        versions[name] = value
            meta["versions"] = versions
        elif line.startswith("- method: "):
            if match := re.search(r"server pinned with `taskset -c ([\d,]+)`, wrk with `taskset -c ([\d,]+)`", line):
                method["server_cpu"], method["client_cpu"] = match.groups()
            if match := re.search(r"(\d+) s warm-up, then (\d+) runs × (\d+) s", line):
                method["warmup_s"], method["runs"], method["duration_s"] = (int(x) for x in match.groups())
        elif match := re.match(r"- idle client cores: (\w+)", line):
            method["idle_mode"] = match.group(1)
        elif match := re.match(r"- command: `(.*)`", line):
            meta["command"] = match.group(1)
    return meta


def parse_section(section):
    """The results.json document (see bench/README.md) of one suite section of RESULTS.md."""
    lines = section.split("\n")
    title = lines[0][3:].strip()
    match = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC", title)
    if not match:
        raise ValueError(f"not a dated section: {title}")
    started = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=datetime.timezone.utc)
    header_end = next((i for i, line in enumerate(lines) if line.startswith("### ")), len(lines))
    doc = {"format": 1, "source": "bench/RESULTS.md (back-filled from the report's tables)", "title": title,
           "started": started.isoformat(), "stamp": started.strftime("%Y-%m-%dT%H%MZ")}
    doc.update(parse_header(lines[1:header_end]))
    idle_mode = doc["method"].get("idle_mode")
    by_title = {text: name for name, text in TITLES.items()}
    by_scale_name = {text + ":": name for name, text in SCALE_NAMES.items()}
    workloads, targets = {}, []
    workload, sub, i = None, None, header_end
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            heading, sub = line[4:].strip(), None
            idle = re.match(r"(\d+) idle keep-alive connections", heading)
            workload = "idle" if idle else "targets" if heading == "Targets" else by_title.get(heading)
            if idle:
                doc["method"]["idle_connections"] = int(idle.group(1))
            if workload and workload != "targets":
                workloads[workload] = {"title": heading, "baseline": None, "rows": []}
            i += 1
            continue
        if line in by_scale_name:
            sub = by_scale_name[line]
        if not line.startswith("|") or workload is None:
            i += 1
            continue
        table = []
        while i < len(lines) and lines[i].startswith("|"):
            table.append(lines[i])
            i += 1
        if workload == "targets":
            targets += [dict(zip(("target", "measured", "verdict"), cells(l))) for l in table[2:]]
        elif workload == "idle":
            workloads[workload]["rows"] += parse_idle_table(table, doc["method"].get("idle_connections"))
        elif table[0].startswith("| server | req/s (median) |"):
            rows, baseline = parse_rows_table(table, sub or workload, idle_mode)
            if workload == "scaling":
                baseline = SCALE_BASELINE
            workloads[workload]["rows"] += rows
            workloads[workload]["baseline"] = workloads[workload]["baseline"] or baseline
    doc["workloads"] = workloads
    doc["targets"] = targets
    return doc
