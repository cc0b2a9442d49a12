#!/usr/bin/env bash
# narwhal vs gunicorn on a hello-world WSGI app: one sync worker each, server pinned to one core,
# wrk pinned to the other. See bench/README.md. Every knob is an environment variable:
#
#   NARWHAL=/work/main/.venv/bin/narwhal  GUNICORN=/usr/bin/gunicorn
#   SERVERS="gunicorn narwhal"  MODES="keepalive close"
#   DURATION=10 WARMUP=2 CONNECTIONS=50 SERVER_CPU=0 CLIENT_CPU=1 PORT=18080
#   TSV=path   (also keep the raw rows)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3  # never the pyenv python3 first on PATH
NARWHAL=${NARWHAL:-/work/main/.venv/bin/narwhal}
GUNICORN=${GUNICORN:-/usr/bin/gunicorn}
SERVERS=${SERVERS:-"gunicorn narwhal"}
MODES=${MODES:-"keepalive close"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-50}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18080}
TSV=${TSV:-}

WORK=$(mktemp -d /tmp/narwhal-bench.XXXXXX)
SERVER_PID=""

log() { printf '%s\n' "$*" >&2; }

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  local pids
  pids=$("$PY" "$HERE/lib/proctree.py" pids "$SERVER_PID" 2>/dev/null || true)
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  # Whatever survived a graceful stop (only processes of the tree we started).
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

require_wrk() {
  command -v wrk >/dev/null && return 0
  if [[ $(id -u) -eq 0 ]]; then
    log "wrk not found: installing it (apt-get install -y wrk)"
    apt-get install -y wrk >/dev/null
  else
    log "wrk not found: install it with 'sudo apt-get install -y wrk'"
    exit 1
  fi
}

# server_command NAME PORT -> prints nothing, fills the array CMD
server_command() {
  local name=$1 port=$2
  case "$name" in
    gunicorn) CMD=("$GUNICORN" -w 1 -k sync -b "127.0.0.1:$port" --chdir "$HERE/apps" hello:app) ;;
    narwhal) CMD=("$NARWHAL" -w 1 -b "127.0.0.1:$port" --chdir "$HERE/apps" hello:app) ;;
    *) log "unknown server $name"; exit 1 ;;
  esac
}

# Why a server cannot run here (empty when it can).
unavailable_reason() {
  case "$1" in
    gunicorn) [[ -x "$GUNICORN" ]] || echo "$GUNICORN not found" ;;
    narwhal) [[ -x "$NARWHAL" ]] || echo "$NARWHAL not found (build narwhal into the venv first)" ;;
  esac
}

start_server() {
  local name=$1 port=$2
  server_command "$name" "$port"
  # taskset execs the server, so $! is the master's pid.
  taskset -c "$SERVER_CPU" "${CMD[@]}" >"$WORK/$name.$port.log" 2>&1 &
  SERVER_PID=$!
  local body
  for _ in $(seq 200); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "$name exited during start-up; its log:"; cat "$WORK/$name.$port.log" >&2
      SERVER_PID=""
      return 1
    fi
    body=$(curl -s --max-time 1 "http://127.0.0.1:$port/" || true)
    if [[ "$body" == "Hello, World!" ]]; then return 0; fi
    sleep 0.1
  done
  log "$name did not answer 'Hello, World!' on port $port within 20 s; its log:"
  cat "$WORK/$name.$port.log" >&2
  stop_server
  return 1
}

# Other work on the machine skews req/s far more than CPU per request; say so in the output.
warn_if_busy() {
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  if "$PY" -c "import sys; sys.exit(0 if float('$load') > 1.0 else 1)"; then
    log "   warning: 1-minute load average is $load before this run: the machine is busy, numbers will be noisy"
    BUSY_WARNINGS=$((BUSY_WARNINGS + 1))
  fi
}

run_wrk() {  # seconds output_file
  local headers=()
  [[ "$MODE" == close ]] && headers=(-H "Connection: close")
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$1s" --timeout 5s --latency \
    "${headers[@]}" "http://127.0.0.1:$PORT_IN_USE/" >"$2"
}

measure() {  # name -> appends one row to $WORK/rows.tsv
  local name=$1 reason
  reason=$(unavailable_reason "$name")
  if [[ -n "$reason" ]]; then
    log "== $MODE / $name: SKIPPED — $reason"
    printf '%s\t%s\tskip\t%s\n' "$MODE" "$name" "$reason" >>"$WORK/rows.tsv"
    return 0
  fi
  PORT_IN_USE=$((PORT + RUN_INDEX))
  RUN_INDEX=$((RUN_INDEX + 1))
  log "== $MODE / $name on 127.0.0.1:$PORT_IN_USE (warm-up ${WARMUP}s, run ${DURATION}s, ${CONNECTIONS} connections)"
  warn_if_busy
  if ! start_server "$name" "$PORT_IN_USE"; then
    printf '%s\t%s\tskip\t%s\n' "$MODE" "$name" "failed to start" >>"$WORK/rows.tsv"
    return 0
  fi
  run_wrk "$WARMUP" "$WORK/warmup.txt"
  local cpu_before cpu_after
  cpu_before=$("$PY" "$HERE/lib/proctree.py" cpu "$SERVER_PID")
  run_wrk "$DURATION" "$WORK/$MODE.$name.wrk.txt"
  cpu_after=$("$PY" "$HERE/lib/proctree.py" cpu "$SERVER_PID")
  local rss wrk_stats cpu
  rss=$("$PY" "$HERE/lib/proctree.py" rss "$SERVER_PID")
  stop_server
  wrk_stats=$("$PY" "$HERE/lib/report.py" wrk "$WORK/$MODE.$name.wrk.txt")
  cpu=$("$PY" -c "print(f'{$cpu_after - $cpu_before:.2f}')")
  read -r requests rps errors p50 p99 <<<"$wrk_stats"
  read -r rss_master rss_workers workers <<<"$rss"
  log "   $requests requests, $rps req/s, server CPU ${cpu}s, $errors errors"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$MODE" "$name" "$requests" "$rps" "$cpu" \
    "$rss_master" "$rss_workers" "$workers" "$errors" "$p50" "$p99" >>"$WORK/rows.tsv"
}

main() {
  require_wrk
  command -v curl >/dev/null || { log "curl is required"; exit 1; }
  [[ $(nproc) -ge 2 ]] || log "warning: fewer than 2 CPUs: server and wrk share a core"
  LOADAVG=$(cut -d" " -f1-3 /proc/loadavg)
  : >"$WORK/rows.tsv"
  RUN_INDEX=0
  BUSY_WARNINGS=0
  for MODE in $MODES; do
    case "$MODE" in keepalive | close) ;; *) log "unknown mode $MODE"; exit 1 ;; esac
    for name in $SERVERS; do measure "$name"; done
  done

  echo
  echo "## narwhal vs gunicorn — hello world, 1 worker"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(uname -a)"
  echo "- cpus: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "- load average before the run: $LOADAVG (runs started on a busy machine: $BUSY_WARNINGS)"
  echo "- gunicorn: $("$GUNICORN" --version 2>&1 | head -1) (sync worker); wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "- server on CPU $SERVER_CPU, wrk -t1 -c$CONNECTIONS on CPU $CLIENT_CPU; warm-up ${WARMUP}s, measured ${DURATION}s"
  echo "- keepalive = wrk's default HTTP/1.1 keep-alive; close = wrk -H 'Connection: close'"
  echo "- server CPU = utime+stime of master + all descendants over the measured run (/proc/PID/stat);"
  echo "  busy = that CPU time ÷ ${DURATION}s (100% = the server's core saturated); RSS = VmRSS at the end"
  echo
  "$PY" "$HERE/lib/report.py" table "$WORK/rows.tsv" "$DURATION"
  if [[ -n "$TSV" ]]; then cp "$WORK/rows.tsv" "$TSV"; fi
}

main "$@"
