#!/usr/bin/env bash
# Profiles one narwhal sync worker under load and counts its system calls per request.
# For each scenario (keepalive, close: hello world; flask: Flask /json keep-alive):
#   - perf record (DWARF call graphs) of the worker while wrk runs: perf report --stdio top entries
#     (self time by symbol, and by DSO), folded stacks and an SVG flame graph (bench/lib/flamegraph.py);
#   - strace -c -f of the worker for one wrk run: calls per request = calls ÷ wrk's request count
#     (strace slows the server down a lot; the ratios per request stay exact).
# Output goes to bench/profiles/ (OUT=...). Server pinned to CPU 0, wrk to CPU 1 as in the suite.
#
#   bench/profile.sh                 # all scenarios (~1.5 min)
#   SCENARIOS="close" PERF_SECONDS=8 bench/profile.sh
set -eu  # no pipefail: `perf report | head` ends perf with SIGPIPE by design

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
NARWHAL=${NARWHAL:-/work/main/.venv/bin/narwhal}
OUT=${OUT:-$HERE/profiles}
SCENARIOS=${SCENARIOS:-"keepalive close flask"}
PERF_SECONDS=${PERF_SECONDS:-5}
STRACE_SECONDS=${STRACE_SECONDS:-4}
PORT=${PORT:-19500}
WORK=$(mktemp -d /tmp/narwhal-profile.XXXXXX)
SERVER_PID=""

log() { printf '%s\n' "$*" >&2; }
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  local pids
  pids=$("$PY" "$HERE/lib/proctree.py" pids "$SERVER_PID" 2>/dev/null || true)
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

command -v perf >/dev/null && command -v strace >/dev/null || { log "run bench/install-deps.sh first"; exit 1; }
[[ -x "$NARWHAL" ]] || { log "$NARWHAL not found"; exit 1; }
mkdir -p "$OUT"
# perf needs to see user-space symbols of other processes.
echo -1 >/proc/sys/kernel/perf_event_paranoid 2>/dev/null || true

for scenario in $SCENARIOS; do
  case "$scenario" in
    keepalive) app=hello; path=/; headers=() ;;
    close) app=hello; path=/; headers=(-H "Connection: close") ;;
    flask) app=flask_app; path=/json; headers=() ;;
    *) log "unknown scenario $scenario"; exit 1 ;;
  esac
  PORT=$((PORT + 1))
  taskset -c 0 "$NARWHAL" -w 1 -b "127.0.0.1:$PORT" --chdir "$HERE/apps" "$app:app" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT$path" >/dev/null && break; sleep 0.1; done
  worker=$("$PY" "$HERE/lib/proctree.py" pids "$SERVER_PID" | sed -n 2p)
  url="http://127.0.0.1:$PORT$path"
  log "== $scenario: worker $worker on :$PORT"
  taskset -c 1 wrk -t1 -c50 -d1s "${headers[@]}" "$url" >/dev/null  # warm-up

  # --- perf: the worker only, DWARF unwinding (neither libpython nor narwhal keep frame pointers).
  taskset -c 1 wrk -t1 -c50 -d$((PERF_SECONDS + 2))s "${headers[@]}" "$url" >"$WORK/wrk.perf.txt" &
  wrk_pid=$!
  sleep 1
  perf record -q -F 999 --call-graph dwarf,16384 -p "$worker" -o "$WORK/perf.data" -- sleep "$PERF_SECONDS" 2>/dev/null
  wait "$wrk_pid"
  {
    echo "# narwhal sync worker, $scenario ($url), wrk -t1 -c50 ${headers[*]}; perf record -F 999 --call-graph dwarf, ${PERF_SECONDS}s"
    echo "# load: $(grep Requests/sec "$WORK/wrk.perf.txt")"
    echo "# --- self time by DSO"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -v '^$' | grep -v '^# [A-Z]' | sed -E 's/ {3,}/  /g; /^#\s*$/d; /^# \.\.\./d' | head -25
    echo "# --- self time by symbol (top 60)"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.2 2>/dev/null \
      | grep -v '^$' | grep -v '^# [A-Z]' | sed -E 's/ {3,}/  /g; /^#\s*$/d; /^# \.\.\./d' | head -70
  } >"$OUT/$scenario.perf.txt"
  # Children (inclusive) view of narwhal's own symbols: where the request's time goes.
  perf report -i "$WORK/perf.data" --stdio --children --sort symbol -g none --percent-limit 1 2>/dev/null \
    | grep -v '^$' | head -80 >"$OUT/$scenario.perf-inclusive.txt"
  perf script -i "$WORK/perf.data" 2>/dev/null | "$PY" "$HERE/lib/flamegraph.py" collapse >"$OUT/$scenario.folded"
  "$PY" "$HERE/lib/flamegraph.py" svg "narwhal sync worker — $scenario ($(grep Requests/sec "$WORK/wrk.perf.txt" | tr -s ' '))" \
    <"$OUT/$scenario.folded" >"$OUT/$scenario.svg"

  # --- strace -c: syscalls per request over exactly one wrk run.
  strace -c -f -q -p "$worker" -o "$WORK/strace.txt" &
  strace_pid=$!
  sleep 0.5
  taskset -c 1 wrk -t1 -c50 -d"${STRACE_SECONDS}s" "${headers[@]}" "$url" >"$WORK/wrk.strace.txt"
  sleep 0.3
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
  requests=$(grep -oE '^ *[0-9]+ requests in' "$WORK/wrk.strace.txt" | grep -oE '[0-9]+')
  {
    echo "# narwhal sync worker, $scenario: strace -c -f during one ${STRACE_SECONDS}s wrk run = $requests requests"
    echo "# calls/request = calls ÷ $requests (the 1-second epoll_wait timeouts and heartbeat are included)"
    "$PY" - "$WORK/strace.txt" "$requests" <<'PYEOF'
import sys
path, requests = sys.argv[1], int(sys.argv[2])
rows = []
for line in open(path):
    parts = line.split()
    if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total",):
        calls = int(parts[3])
        errors = int(parts[4]) if len(parts) == 6 else 0
        rows.append((calls, parts[-1], errors))
total = sum(r[0] for r in rows)
print(f"{'syscall':<16} {'calls':>9} {'errors':>7} {'per request':>12}")
for calls, name, errors in sorted(rows, reverse=True):
    print(f"{name:<16} {calls:>9} {errors:>7} {calls / requests:>12.3f}")
print(f"{'total':<16} {total:>9} {'':>7} {total / requests:>12.3f}")
PYEOF
    echo
    echo "# raw strace -c output"
    cat "$WORK/strace.txt"
  } >"$OUT/$scenario.strace.txt"
  log "   $(grep Requests/sec "$WORK/wrk.perf.txt") under perf; strace: $requests requests"
  stop_server
done
log "profiles written to $OUT"
