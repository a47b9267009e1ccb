# vpet: `make` builds, `make test` runs every test, `make deps` installs what is missing.
# Each target is one command on a fresh Debian machine: they install and build what they need.

BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build test unit cli-test format clean bench

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

test: unit cli-test

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

bench: build
	/usr/bin/python3 bench/bench.py --bin $(abspath $(BUILD))/bin --work $(BENCH_WORK) \
	  --scales $(BENCH_SCALES) --methods $(BENCH_METHODS) --threads $(BENCH_THREADS) \
	  --device $(BENCH_DEVICE) $(if $(BENCH_PRECISION),--precision $(BENCH_PRECISION)) \
	  $(if $(BENCH_BATCH),--batch $(BENCH_BATCH)) $(if $(BENCH_STEPS),--steps $(BENCH_STEPS)) \
	  $(if $(BENCH_WARMUP),--warmup $(BENCH_WARMUP)) \
	  $(if $(BENCH_REPEATS),--repeats $(BENCH_REPEATS)) $(if $(BENCH_EXTRAS),--extras)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
