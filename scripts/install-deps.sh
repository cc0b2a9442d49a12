#!/usr/bin/env bash
# Installs every Debian package the build and the tests need — or, given package names as
# arguments, those instead (bench/install-deps.sh). Idempotent: does nothing when they are all
# present.
set -euo pipefail
packages=(
  build-essential cmake g++ clang-14 libclang-rt-14-dev
  python3 python3-dev python3-venv python3-pip python3-setuptools python3-wheel
  node-llhttp libgtest-dev nlohmann-json3-dev libssl-dev libsystemd-dev libwslay-dev zlib1g-dev
  libnghttp2-dev nghttp2-client python3-trustme python3-h2
  python3-pytest python3-requests python3-httpx python3-gevent python3-pastedeploy
  python3-flask python3-django python3-pyramid python3-falcon python3-bottle
  python3-uvloop python3-starlette python3-fastapi python3-quart python3-websockets python3-aiofiles
  gunicorn wrk curl procps pkg-config systemd nginx-light openssl
)
if [ $# -gt 0 ]; then packages=("$@"); fi
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
