# The newcomer's path: `make run` and `make test` install what is missing, build, and go.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build run test clean bench test-sanitize fuzz

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > /dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@bash scripts/run-demo.sh $(BUILD)/fathom

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)

# ASan + UBSan build in its own folder; runs the GoogleTest suite and the CLI tests, less the labels
# in SANITIZE_SKIP_LABELS (docs/HARDENING.md says why). Any sanitizer report fails its test.
SANITIZE_BUILD ?= build-sanitize
SANITIZE_SKIP_LABELS ?= reference|training
test-sanitize: deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFATHOM_SANITIZE=ON > /dev/null
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	@cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE '$(SANITIZE_SKIP_LABELS)'

# libFuzzer targets (fuzz/; clang-14) built in their own folder, each run FUZZ_SECONDS. Long runs:
# docs/HARDENING.md.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
fuzz:
	@FATHOM_DEPS_FUZZ=1 bash scripts/install-deps.sh
	@CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -DFATHOM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)
