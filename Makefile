# The newcomer's path. `make run` installs what building needs, builds the `fathom` binary alone
# (build/fathom) and runs the main job; `make install` copies it (and the default model) under
# PREFIX; `make test` installs the test tools too, builds everything and runs the suite.
BUILD ?= build
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
# cmake --build runs make inside this make: without this every sub-make prints its directory.
MAKEFLAGS += --no-print-directory

.PHONY: all deps test-deps configure build build-all run install test test-browser clean test-sanitize fuzz

all: build

deps:
	@bash scripts/install-deps.sh

test-deps:
	@bash scripts/install-deps.sh test

configure:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null

# The binary only: not the test suite, not the kernel benchmark.
build: deps configure
	@cmake --build $(BUILD) -j $(JOBS) --target fathom

build-all: test-deps configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@bash scripts/run-demo.sh $(BUILD)/fathom

# PREFIX/bin/fathom, and the default model in PREFIX/share/fathom/models/default, where an installed
# binary looks for it (src/cli/load_model.cpp). DESTDIR stages the files for packaging.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/fathom/models
	install -m 755 $(BUILD)/fathom $(DESTDIR)$(PREFIX)/bin/fathom
	if [ -f models/default/config.json ]; then cp -R models/default $(DESTDIR)$(PREFIX)/share/fathom/models/; fi

test: build-all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The chat page alone (src/server/web/): headless Chromium against `fathom serve`. `make test` runs
# it too (ctest label browser).
test-browser: build-all
	@cd $(BUILD) && ctest --output-on-failure -L browser

clean:
	rm -rf $(BUILD)

# ASan + UBSan build in its own folder; runs the GoogleTest suite and the CLI tests, less the labels
# in SANITIZE_SKIP_LABELS (docs/HARDENING.md says why). Any sanitizer report fails its test.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_SKIP_LABELS ?= reference|training|browser
# These two assert flat RSS under load, which ASan's quarantine and shadow memory make untrue; they
# run in `make test`.
SANITIZE_SKIP_TESTS ?= ^(server_e2e_load|server_soak_short)$$
test-sanitize: test-deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFATHOM_SANITIZE=ON > /dev/null
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	@cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE '$(SANITIZE_SKIP_LABELS)' -E '$(SANITIZE_SKIP_TESTS)'

# libFuzzer targets (fuzz/; clang-14) built in their own folder, each run FUZZ_SECONDS. Long runs:
# docs/HARDENING.md.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
fuzz:
	@FATHOM_DEPS_FUZZ=1 bash scripts/install-deps.sh
	@CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -DFATHOM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)
