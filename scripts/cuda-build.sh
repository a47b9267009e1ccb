#!/usr/bin/env bash
# Build vpet against the CUDA LibTorch inside a PyTorch install (DESIGN §3),
# on a machine that may have no Debian packages: the header-only libraries and
# libpng/libjpeg-turbo/libzip (and GoogleTest for the unit tests) can come from a
# prefix of their own, e.g. one copied from a Debian machine.
#
#   scripts/cuda-build.sh [BUILD_DIR]          (default: build-cuda)
#
# Environment: PYTHON (default python3) is the interpreter that holds torch;
# PREFIX (optional) is the extra prefix, searched after LibTorch's;
# JOBS (default: all cores).
set -euo pipefail

build=${1:-build-cuda}
python=${PYTHON:-python3}
torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
prefix_path=$torch_prefix${PREFIX:+;$PREFIX}

cmake -S "$(dirname "$0")/.." -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix_path" ${PREFIX:+-DCMAKE_BUILD_RPATH="$PREFIX/lib"}
cmake --build "$build" -j "${JOBS:-$(nproc)}"
