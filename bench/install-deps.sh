#!/usr/bin/env bash
# Installs the Debian packages the benchmark suite needs (bench/suite.py, bench/profile.sh): the
# peer servers, load and profiling tools. Kept apart from scripts/install-deps.sh so CI never pays
# for them. Idempotent: does nothing when they are all present.
set -euo pipefail
packages=(
  wrk curl procps util-linux            # load generator, readiness checks, /proc tools, taskset
  gunicorn python3-flask                # the baseline and the Flask workload
  uwsgi-core uwsgi-plugin-python3       # uWSGI (--plugin python3)
  python3-waitress                      # waitress-serve
  python3-uvicorn python3-httptools python3-uvloop   # uvicorn with httptools + uvloop
  nginx-light                           # the ceiling: `return 200` and static files
  linux-perf strace                     # bench/profile.sh
)
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
