# narwhal: `make run` serves the example app, `make test` runs every default test.
# Everything uses Debian's /usr/bin/python3 (never a pyenv python first on PATH).
PYTHON      ?= /usr/bin/python3
VENV        ?= .venv
BUILD       ?= build/release
JOBS        ?= $(shell nproc)
BIND        ?= 127.0.0.1:8000

.PHONY: deps configure build install unit test integration run bench fuzz sanitize docs clean fuzz-live \
        build-sanitize install-sanitize test-sanitize bench-parser

deps:
	./scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE=$(PYTHON)

# Everything: the extension module, the unit/corpus test binaries, the settings doc generator.
build: configure
	cmake --build $(BUILD) -j $(JOBS)

$(VENV)/bin/python:
	$(PYTHON) -m venv --system-site-packages $(VENV)

# The package is built by setup.py through CMake, reusing the same build tree; it builds only
# the extension module (`make run` does not wait for the test binaries; `make test` builds them).
install: configure $(VENV)/bin/python
	NARWHAL_CMAKE_BUILD_DIR=$(CURDIR)/$(BUILD) $(VENV)/bin/pip install --no-build-isolation --no-deps -q .

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

integration: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/integration

test: unit integration

run: install
	$(VENV)/bin/narwhal -w 2 -b $(BIND) --chdir examples hello:app

bench: install
	./bench/run.sh

# `make fuzz [SECONDS=N] [TARGET=http|websocket|http2|proxy|uwsgi]`
fuzz:
	./scripts/fuzz.sh $(or $(SECONDS),60) $(or $(TARGET),http)

docs: build
	$(BUILD)/src/config/narwhal_settings_doc > docs/settings.md

clean:
	rm -rf build $(VENV) $(ASAN_VENV) narwhal/_core*.so *.egg-info

# ---------------------------------------------------------------------------------------------
# Sanitizers (ASan + UBSan, gcc): the C++ unit + corpus tests and the whole integration suite
# against an ASan build of the extension module, installed into its own venv. The servers run
# through $(ASAN_BUILD)/narwhal-asan, a wrapper that preloads the ASan/UBSan runtimes into the
# Python process that loads the module (so its master, its workers and a re-executed master
# all have them) without preloading them into every other tool the tests run (ps, curl, …,
# which can hang under a preloaded ASan). Leak checking is off: CPython itself leaks at exit.
# handle_segv=0: tests that crash a worker on purpose expect a real SIGSEGV; genuine memory
# errors are still caught by ASan's checks before they could fault.
# The wrapper also sets ASAN_OPTIONS/UBSAN_OPTIONS itself: some launchers (systemd-socket-activate)
# do not pass the environment on.
# Reports go to $(ASAN_BUILD)/sanitizer-reports: any file there fails the run, even if no test
# noticed (a worker that died under ASan is simply replaced by the master).
ASAN_BUILD ?= build/asan
ASAN_VENV  ?= .venv-asan
SANITIZER_REPORTS = $(CURDIR)/$(ASAN_BUILD)/sanitizer-reports
SANITIZER_ENV = \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_segv=0:log_path=$(SANITIZER_REPORTS)/asan \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SANITIZER_REPORTS)/ubsan

build-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNARWHAL_SANITIZE=ON -DPython3_EXECUTABLE=$(PYTHON)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

$(ASAN_VENV)/bin/python:
	$(PYTHON) -m venv --system-site-packages $(ASAN_VENV)

install-sanitize: build-sanitize $(ASAN_VENV)/bin/python
	NARWHAL_CMAKE_BUILD_DIR=$(CURDIR)/$(ASAN_BUILD) $(ASAN_VENV)/bin/pip install --no-build-isolation --no-deps -q .
	printf '#!/bin/sh\nexport %s %s\nLD_PRELOAD="%s %s" exec %s "$$@"\n' $(SANITIZER_ENV) \
	  "$$(gcc -print-file-name=libasan.so)" "$$(gcc -print-file-name=libubsan.so)" \
	  "$(CURDIR)/$(ASAN_VENV)/bin/narwhal" > $(ASAN_BUILD)/narwhal-asan
	chmod +x $(ASAN_BUILD)/narwhal-asan

test-sanitize: install-sanitize
	rm -rf $(SANITIZER_REPORTS) && mkdir -p $(SANITIZER_REPORTS)
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS)
	$(SANITIZER_ENV) NARWHAL_BIN=$(CURDIR)/$(ASAN_BUILD)/narwhal-asan \
	  $(ASAN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/integration
	@if [ -n "$$(ls -A $(SANITIZER_REPORTS))" ]; then \
	  echo "SANITIZER REPORTS in $(SANITIZER_REPORTS):"; head -n 60 $(SANITIZER_REPORTS)/*; exit 1; \
	else echo "sanitizers: no reports"; fi

# ---------------------------------------------------------------------------------------------
# Parser micro-benchmark: narwhal's RequestParser vs llhttp (strict), Release build.
BENCH_BUILD ?= build/bench

bench-parser: deps
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DNARWHAL_BENCH=ON \
	  -DNARWHAL_BUILD_PYTHON=OFF -DNARWHAL_BUILD_TESTS=OFF >/dev/null
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target http_parser_bench
	$(BENCH_BUILD)/bench/parser/http_parser_bench $(or $(BENCH_SECONDS),0.5)

# Zero dropped requests across HUP / USR2 / TERM under load, repeated for ZERO_DROP_SECONDS.
# The same scenario against gunicorn: tests/integration/loadgen.py --bin /usr/bin/gunicorn
ZERO_DROP_SECONDS ?= 120
.PHONY: zero-drop
zero-drop: install
	ZERO_DROP_SECONDS=$(ZERO_DROP_SECONDS) NARWHAL_TEST_TIMEOUT=$$(( $(ZERO_DROP_SECONDS) + 120 )) \
	  $(VENV)/bin/python -m pytest -q -p no:cacheprovider -s tests/integration/test_zero_drop.py

# Benchmark suite: narwhal beside gunicorn (sync, gthread), uWSGI, waitress, uvicorn and nginx
# (~12 min; inserts its report into bench/RESULTS.md, raw numbers and SVG charts into
# bench/results/<stamp>/). bench-profile: perf + strace of a worker. bench-test: the suite's own
# tests (tables, results.json, charts; no servers, a few seconds; not part of `make test`).
.PHONY: bench-deps bench-full bench-profile bench-test
bench-deps:
	./bench/install-deps.sh

bench-full: install bench-deps
	./bench/suite.py --append

bench-profile: install bench-deps
	./bench/profile.sh

bench-test:
	$(PYTHON) -m pytest -q -p no:cacheprovider bench/tests

# Mutated requests against the real server (all of the worker, not just the parser).
fuzz-live: install
	$(PYTHON) tests/fuzz/live_server_fuzz.py --bin $(VENV)/bin/narwhal --seconds $(or $(SECONDS),60)

# Soak test (issue 10): SOAK_SECONDS of mixed load — keep-alive, close, uploads, slow and hostile
# clients, misbehaving routes, a HUP every minute — against 2 sync workers. RSS and fd counts must
# stay flat after the warm-up (< 5%) and no unexpected error may occur; see docs/reliability.md.
# The JSON result (samples included) goes to $(BUILD)/soak.json; SOAK_ARGS adds options.
# The same run against gunicorn: $(PYTHON) tests/soak/soak.py --bin /usr/bin/gunicorn --seconds 1800
SOAK_SECONDS ?= 1800
.PHONY: soak
soak: install
	$(PYTHON) tests/soak/soak.py --bin $(VENV)/bin/narwhal --seconds $(SOAK_SECONDS) \
	  --json $(BUILD)/soak.json $(SOAK_ARGS)
