# vpet: `make` builds, `make test` runs every test, `make demo` runs the demo (examples/demo),
# `make deps` installs what is missing.
# Each target is one command on a fresh Debian machine: they install and build what they need.

# SANITIZE=address,undefined: every target builds in build-sanitize (never mixed with
# build/) with -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all,
# and `make test` runs every unit and bats test against it (a UBSan report or a leak
# fails the test). LibTorch is not instrumented: tests/sanitizers/*.supp suppress what is
# inside it only, each with its reason; VPET_SANITIZED=1 makes the bats tests that bound
# peak RSS skip (README, "Testing"). Not part of plain `make test` (CI time): on the
# 2-core CI machine the sanitized build takes about 30 min and the suite over 10.
SANITIZE   ?=
ifneq ($(SANITIZE),)
BUILD      ?= build-sanitize
CMAKE_ARGS ?=
override CMAKE_ARGS += -DVPET_SANITIZE=$(SANITIZE)
SAN_DIR    := $(abspath tests/sanitizers)
san_options = $(shell grep -v '^\#' $(SAN_DIR)/$(1).options | paste -sd:)
export ASAN_OPTIONS  := $(call san_options,asan)
export UBSAN_OPTIONS := $(call san_options,ubsan):suppressions=$(SAN_DIR)/ubsan.supp
export LSAN_OPTIONS  := $(call san_options,lsan):suppressions=$(SAN_DIR)/lsan.supp
export VPET_SANITIZED := 1
endif
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# The libFuzzer build (fuzz/README.md): clang, ASan + UBSan, the library and fuzz/ only.
FUZZ_BUILD   ?= build-fuzz
# Seconds per target: `make fuzz` (FUZZ_SECONDS=N), and the smoke run of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SMOKE_SEED ?= 1
# Where the demo keeps its results, the pre-trained backbone included (reused by later runs).
DEMO_OUT   ?= $(BUILD)/demo

.PHONY: all deps configure build test unit cli-test fuzz-build fuzz fuzz-smoke demo bench sanitizer-env format clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

cli-test: build
	VPET_BIN=$(abspath $(BUILD))/bin bats tests/cli

$(FUZZ_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DVPET_FUZZ=ON -DVPET_BUILD_TESTS=OFF \
	  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" $(CMAKE_ARGS)

fuzz-build: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Each target FUZZ_SECONDS over a scratch copy of its corpus and its regression inputs.
fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD)/bin $(FUZZ_SECONDS) $(JOBS)

# A fixed seed: the same mutations on every run, so that CI's verdict does
# not depend on a random draw; `make fuzz` explores with new seeds.
fuzz-smoke: fuzz-build
	FUZZ_SEED=$(FUZZ_SMOKE_SEED) fuzz/run.sh $(FUZZ_BUILD)/bin $(FUZZ_SMOKE_SECONDS) $(JOBS)

# The fuzz smoke is instrumented already; a SANITIZE run leaves it out.
test: unit cli-test $(if $(SANITIZE),,fuzz-smoke)

demo: build
	$(MAKE) --no-print-directory -C examples/demo -j $(JOBS) BIN=$(abspath $(BUILD))/bin \
	  OUT=$(abspath $(DEMO_OUT))

# vpet against the PyTorch reference (bench/README.md). Every setting can be
# given as a make variable or in the environment, e.g.
#   make bench BENCH_SCALES=small BENCH_METHODS=lora,adapter
#   make bench BENCH_SCALES=vitb BENCH_DEVICE=cuda BENCH_PRECISION=bf16 BENCH_BATCH=128
BENCH_SCALES    ?= small,vits
BENCH_METHODS   ?= linear,full,vpt-deep,lora,adapter,memory,spt-lora,lion,pgn
BENCH_THREADS   ?= $(JOBS)
BENCH_DEVICE    ?= cpu
BENCH_PRECISION ?=
BENCH_BATCH     ?=
BENCH_STEPS     ?=
BENCH_WARMUP    ?=
BENCH_REPEATS   ?=
BENCH_EXTRAS    ?= 1
BENCH_WORK      ?= /tmp/vpet-bench
# The reference's Python (a GPU machine's PyTorch install: BENCH_PYTHON=python3).
BENCH_PYTHON    ?= /usr/bin/python3

bench: build
	VPET_PYTHON=$(BENCH_PYTHON) $(BENCH_PYTHON) bench/bench.py --bin $(abspath $(BUILD))/bin \
	  --work $(BENCH_WORK) \
	  --scales $(BENCH_SCALES) --methods $(BENCH_METHODS) --threads $(BENCH_THREADS) \
	  --device $(BENCH_DEVICE) $(if $(BENCH_PRECISION),--precision $(BENCH_PRECISION)) \
	  $(if $(BENCH_BATCH),--batch $(BENCH_BATCH)) $(if $(BENCH_STEPS),--steps $(BENCH_STEPS)) \
	  $(if $(BENCH_WARMUP),--warmup $(BENCH_WARMUP)) \
	  $(if $(BENCH_REPEATS),--repeats $(BENCH_REPEATS)) $(if $(BENCH_EXTRAS),--extras)

# The sanitizer settings `make test SANITIZE=...` uses, for running one test by hand:
#   eval "$(make -s sanitizer-env SANITIZE=address,undefined)"
sanitizer-env:
	@echo export ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)' \
	  LSAN_OPTIONS='$(LSAN_OPTIONS)' VPET_SANITIZED=$(VPET_SANITIZED)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
