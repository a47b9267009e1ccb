#!/usr/bin/env bash
# Install what vpet needs from Debian's packages, and nothing that is already there.
# Idempotent: a second run installs nothing. Runs apt-get as root, through sudo otherwise.
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config
  # fuzzing (make fuzz, fuzz/README.md): clang with libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # libraries
  libtorch-dev libopenblas0 libmsgpack-cxx-dev libcxxopts-dev nlohmann-json3-dev
  libturbojpeg0-dev libpng-dev zlib1g-dev libzip-dev
  # tests
  libgtest-dev bats bats-assert bats-support man-db bash-completion zsh
  # test oracles (the programs themselves never need Python)
  python3-torch python3-torchvision python3-msgpack-numpy python3-pil python3-numpy
  # the demo: its data set, its table (jq) and its figure (gnuplot)
  dataset-fashion-mnist jq gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "deps: installing ${missing[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
