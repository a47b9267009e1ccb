#!/usr/bin/env bash
# PGN (Loedeman et al., BMVC 2024): train the prompt generator and its token
# library, invert the library through the patch embedding into pixel
# prompts, and evaluate the three deployments side by side: latent prompts,
# exact pixel prompts and 8-bit RGB pixel prompts (the last two input-only:
# the backbone sees extra image patches and nothing else changes).
#
#   examples/pgn.sh MODEL TRAIN TEST [OUT]
#
# peft-train runs the PGN code's script defaults (--recipe pgn-vit); options
# in $TRAIN_OPTIONS override them (epochs, -b, --pgn-*), options of every
# program (preprocessing) go in $OPTIONS.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 out=${4:-pgn}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
read -ra train_options <<<"${TRAIN_OPTIONS:-}"
read -ra options <<<"${OPTIONS:-}"
mkdir -p "$out"

"$bin/peft-train" -m "$model" -d "$train" --recipe pgn-vit "${options[@]}" "${train_options[@]}" \
  -o "$out/latent.vpet"
"$bin/pgn-invert" -m "$model" -i "$out/latent.vpet" -o "$out/pixels.vpet"
"$bin/pgn-invert" -m "$model" -i "$out/latent.vpet" --rgb8 -o "$out/rgb8.vpet"
"$bin/peft-eval" -m "$model" -d "$test" "${options[@]}" \
  -a "$out/latent.vpet" -a "$out/pixels.vpet" -a "$out/rgb8.vpet"
