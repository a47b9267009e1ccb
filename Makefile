# vpet: `make` builds, `make test` runs every test, `make demo` runs the demo (examples/demo),
# `make deps` installs what is missing.
# Each target is one command on a fresh Debian machine: they install and build what they need.

BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# Where the demo keeps its results, the pre-trained backbone included (reused by later runs).
DEMO_OUT   ?= $(BUILD)/demo

.PHONY: all deps configure build test unit cli-test demo format clean

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

demo: build
	$(MAKE) --no-print-directory -C examples/demo -j $(JOBS) BIN=$(abspath $(BUILD))/bin \
	  OUT=$(abspath $(DEMO_OUT))

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD)
