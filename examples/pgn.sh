#!/usr/bin/env bash
# PGN (Loedeman et al., BMVC 2024): train the prompt generator and its token
# library, invert the library through the patch embedding into pixel
# prompts, and evaluate the three deployments side by side: latent prompts,
# exact pixel prompts and 8-bit RGB pixel prompts (the last two input-only:
# the backbone sees extra image patches and nothing else changes).
#
#   examples/pgn.sh MODEL TRAIN TEST [OUT]
#
# Extra peft-train options (epochs, lr, --pgn-*) go in $TRAIN_OPTIONS,
# options of every program (preprocessing) in $OPTIONS.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 out=${4:-pgn}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
read -ra train_options <<<"${TRAIN_OPTIONS:---epochs 10 --lr 1e-3}"
read -ra options <<<"${OPTIONS:-}"
mkdir -p "$out"

"$bin/peft-train" -m "$model" -d "$train" "${options[@]}" "${train_options[@]}" \
  --method pgn -o "$out/latent.vpet"
"$bin/pgn-invert" -m "$model" -i "$out/latent.vpet" -o "$out/pixels.vpet"
"$bin/pgn-invert" -m "$model" -i "$out/latent.vpet" --rgb8 -o "$out/rgb8.vpet"
"$bin/peft-eval" -m "$model" -d "$test" "${options[@]}" \
  -a "$out/latent.vpet" -a "$out/pixels.vpet" -a "$out/rgb8.vpet"
