#!/usr/bin/env bash
# Installs the Debian packages the benchmark suite needs (bench/suite.py, bench/profile.sh): the
# peer servers, load and profiling tools, matplotlib for the charts. Kept apart from scripts/install-deps.sh so CI never pays
# for them. Idempotent: does nothing when they are all present.
set -euo pipefail
packages=(
  wrk curl procps util-linux            # load generator, readiness checks, /proc tools, taskset
  gunicorn python3-flask                # the baseline and the Flask workload
  python3-gevent                        # the gevent rows (narwhal -k gevent, gunicorn -k gevent)
  uwsgi-core uwsgi-plugin-python3       # uWSGI (--plugin python3)
  python3-waitress                      # waitress-serve
  python3-uvicorn python3-httptools python3-uvloop   # uvicorn with httptools + uvloop
  python3-fastapi g++                   # the asgi rows (FastAPI JSON; bench/tools/ws_echo_load.cpp)
  nginx-light                           # the ceiling: `return 200` and static files
  nghttp2-client openssl                # h2load (the HTTP/2 rows), the TLS rows' certificate
  linux-perf strace                     # bench/profile.sh
  python3-matplotlib                    # bench/charts.py: the SVG charts of a suite run
)
exec "$(dirname "$0")/../scripts/install-deps.sh" "${packages[@]}"
