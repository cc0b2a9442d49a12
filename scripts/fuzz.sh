#!/usr/bin/env bash
# Fuzzes a codec: `scripts/fuzz.sh [SECONDS] [TARGET]` (default 60 s, target `http`;
# `make fuzz SECONDS=N [TARGET=websocket]`). Targets:
#   http       tests/fuzz/http_parser_fuzz.cpp (seeds: the gunicorn request corpus)
#   websocket  tests/fuzz/websocket_fuzz.cpp   (seeds: tests/fuzz/make_websocket_seeds.py)
#   http2      tests/fuzz/http2_fuzz.cpp       (seeds: tests/fuzz/make_http2_seeds.py)
#   proxy      tests/fuzz/proxy_protocol_fuzz.cpp (seeds: tests/fuzz/make_edge_seeds.py)
#   uwsgi      tests/fuzz/uwsgi_fuzz.cpp       (seeds: tests/fuzz/make_edge_seeds.py)
# Builds tests/fuzz with clang-14 + libFuzzer + ASan/UBSan in build/fuzz. The growing corpus is
# kept in build/fuzz/corpus (http) or build/fuzz/corpus-TARGET (so later runs start where
# earlier ones stopped); crashes land in build/fuzz/artifacts/ (artifacts-TARGET/).
# Exit status: 0 = no finding, non-zero = libFuzzer found a crash/UB/contract violation.
set -euo pipefail
cd "$(dirname "$0")/.."
run_seconds="${1:-60}"
target="${2:-${TARGET:-http}}"
build="${NARWHAL_FUZZ_BUILD_DIR:-build/fuzz}"
jobs="${JOBS:-$(nproc)}"

case "$target" in
  http) binary=http_parser_fuzz; corpus="$build/corpus"; artifacts="$build/artifacts"; max_len=16384 ;;
  websocket) binary=websocket_fuzz; corpus="$build/corpus-websocket"; artifacts="$build/artifacts-websocket"; max_len=8192 ;;
  http2) binary=http2_fuzz; corpus="$build/corpus-http2"; artifacts="$build/artifacts-http2"; max_len=16384 ;;
  proxy) binary=proxy_protocol_fuzz; corpus="$build/corpus-proxy"; artifacts="$build/artifacts-proxy"; max_len=4200 ;;
  uwsgi) binary=uwsgi_fuzz; corpus="$build/corpus-uwsgi"; artifacts="$build/artifacts-uwsgi"; max_len=16384 ;;
  *) echo "unknown fuzz target '$target' (http, websocket, http2, proxy, uwsgi)" >&2; exit 2 ;;
esac

./scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DNARWHAL_FUZZ=ON -DNARWHAL_SANITIZE=ON -DNARWHAL_BUILD_PYTHON=OFF -DNARWHAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target "$binary"

if [ "$target" = http ]; then
  /usr/bin/python3 tests/fuzz/make_seeds.py "$build/seeds"
  seeds="$build/seeds"
elif [ "$target" = proxy ] || [ "$target" = uwsgi ]; then
  /usr/bin/python3 tests/fuzz/make_edge_seeds.py "$target" "$build/seeds-$target"
  seeds="$build/seeds-$target"
else
  /usr/bin/python3 "tests/fuzz/make_${target}_seeds.py" "$build/seeds-$target"
  seeds="$build/seeds-$target"
fi
mkdir -p "$corpus" "$artifacts"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1}"
echo "fuzzing $binary for ${run_seconds}s (corpus $corpus, artifacts $artifacts)"
exec "$build/tests/fuzz/$binary" \
  -max_total_time="$run_seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" \
  "$corpus" "$seeds"
