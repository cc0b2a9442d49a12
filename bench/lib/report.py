#!/usr/bin/python3
"""Parsing wrk output and printing the result table, for bench/run.sh.

  report.py wrk FILE       -> "REQUESTS RPS ERRORS P50_MS P99_MS" from a `wrk --latency` output
  report.py table TSV SECONDS -> markdown table (+ narwhal/gunicorn ratios) from run.sh's rows:
                              mode server requests rps cpu_s rss_master_kb rss_workers_kb
                              workers errors p50_ms p99_ms   (tab-separated, "skip" rows allowed)
"""
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(path):
    text = open(path).read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    latency = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        latency[pct] = float(value) * UNITS_MS[unit]
    return requests, rps, errors, latency.get("50", 0.0), latency.get("99", 0.0)


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def table(path, seconds):
    rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
    modes = []
    by_key = {}
    print("| mode | server | req/s | server CPU µs/req | server CPU busy | RSS master MiB | "
          "RSS worker MiB | p50 ms | p99 ms | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mode, server = row[0], row[1]
        if mode not in modes:
            modes.append(mode)
        if row[2] == "skip":
            print(f"| {mode} | {server} | skipped: {row[3]} | | | | | | | |")
            continue
        requests, rps, cpu_s = int(row[2]), float(row[3]), float(row[4])
        master_kb, workers_kb, workers = int(row[5]), int(row[6]), int(row[7])
        errors, p50, p99 = int(row[8]), float(row[9]), float(row[10])
        cpu_us = cpu_s * 1e6 / requests if requests else 0.0
        by_key[(mode, server)] = (rps, cpu_us, master_kb, workers_kb)
        worker_mib = f"{workers_kb / 1024:.1f}" + (f" ({workers} procs)" if workers != 1 else "")
        busy = f"{100 * cpu_s / seconds:.0f}%"
        print(f"| {mode} | {server} | {rps:,.0f} | {cpu_us:.1f} | {busy} | {master_kb / 1024:.1f} | "
              f"{worker_mib} | {p50:.2f} | {p99:.2f} | {errors} |")
    print()
    print("| mode | narwhal/gunicorn req/s | narwhal/gunicorn CPU per request | "
          "narwhal/gunicorn RSS master | narwhal/gunicorn RSS worker |")
    print("|---|---:|---:|---:|---:|")
    for mode in modes:
        n, g = by_key.get((mode, "narwhal")), by_key.get((mode, "gunicorn"))
        if not n or not g:
            print(f"| {mode} | n/a | n/a | n/a | n/a |")
            continue
        print(f"| {mode} | {ratio(n[0], g[0])} | {ratio(n[1], g[1])} | {ratio(n[2], g[2])} | "
              f"{ratio(n[3], g[3])} |")


def main():
    if sys.argv[1] == "wrk":
        requests, rps, errors, p50, p99 = parse_wrk(sys.argv[2])
        print(requests, f"{rps:.2f}", errors, f"{p50:.3f}", f"{p99:.3f}")
    elif sys.argv[1] == "table":
        table(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")


if __name__ == "__main__":
    main()
