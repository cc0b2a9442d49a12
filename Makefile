# narwhal: `make run` serves the example app, `make test` runs every default test.
# Everything uses Debian's /usr/bin/python3 (never a pyenv python first on PATH).
PYTHON      ?= /usr/bin/python3
VENV        ?= .venv
BUILD       ?= build/release
JOBS        ?= $(shell nproc)
BIND        ?= 127.0.0.1:8000

.PHONY: deps build install unit test integration run bench fuzz sanitize docs clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE=$(PYTHON)
	cmake --build $(BUILD) -j $(JOBS)

$(VENV)/bin/python:
	$(PYTHON) -m venv --system-site-packages $(VENV)

# The package is built by setup.py through CMake, reusing the same build tree.
install: build $(VENV)/bin/python
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

fuzz:
	./scripts/fuzz.sh $(or $(SECONDS),60)

docs: build
	$(BUILD)/src/config/narwhal_settings_doc > docs/settings.md

clean:
	rm -rf build $(VENV) narwhal/_core*.so *.egg-info
