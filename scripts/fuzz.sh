#!/usr/bin/env bash
# Fuzzes the HTTP request parser: `scripts/fuzz.sh [SECONDS]` (default 60; `make fuzz SECONDS=N`).
# Builds tests/fuzz with clang-14 + libFuzzer + ASan/UBSan in build/fuzz, writes the gunicorn
# corpus as seeds, then runs http_parser_fuzz. The growing corpus is kept in build/fuzz/corpus
# (so later runs start where earlier ones stopped); crashes land in build/fuzz/artifacts/.
# Exit status: 0 = no finding, non-zero = libFuzzer found a crash/UB/contract violation.
set -euo pipefail
cd "$(dirname "$0")/.."
run_seconds="${1:-60}"
build="${NARWHAL_FUZZ_BUILD_DIR:-build/fuzz}"
jobs="${JOBS:-$(nproc)}"

./scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DNARWHAL_FUZZ=ON -DNARWHAL_SANITIZE=ON -DNARWHAL_BUILD_PYTHON=OFF -DNARWHAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target http_parser_fuzz

/usr/bin/python3 tests/fuzz/make_seeds.py "$build/seeds"
mkdir -p "$build/corpus" "$build/artifacts"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1}"
echo "fuzzing http_parser_fuzz for ${run_seconds}s (corpus $build/corpus, artifacts $build/artifacts)"
exec "$build/tests/fuzz/http_parser_fuzz" \
  -max_total_time="$run_seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" \
  "$build/corpus" "$build/seeds"
