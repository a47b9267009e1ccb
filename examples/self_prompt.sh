#!/usr/bin/env bash
# Self-Prompt Tuning (Wang et al., 2024): VPT whose prompts start as
# prototypes of the task's own tokens. vit-extract streams every block's
# input tokens, prompt-init-proto turns them into P prototypes per block
# (random tokens by default, the README's --prompt_sample_type random) in
# constant memory, and peft-train starts VPT-deep from them with the
# paper's VTAB-1k recipe (self-prompt-supervised-vtab1k; BACKBONE=mae or
# moco for the other backbones' recipes).
#
#   examples/self_prompt.sh MODEL TRAIN TEST [PROMPTS] [OUT]
#
# PROTO=random|mean|max|kmeans picks the prototypes. peft-train options in
# $TRAIN_OPTIONS override the recipe's; options of every program
# (preprocessing) go in $OPTIONS.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [PROMPTS] [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 prompts=${4:-20} out=${5:-self-prompt.vpet}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
read -ra train_options <<<"${TRAIN_OPTIONS:-}"
read -ra options <<<"${OPTIONS:-}"
init=$out.prompts

# The tokens preprocessed as the recipe trains (Dataset/VTAB.py: Resize, CenterCrop, bicubic).
"$bin/vit-extract" -m "$model" -d "$train" --resize crop --crop-fraction 1 --interp bicubic \
  "${options[@]}" --feature tokens --layers all |
  "$bin/prompt-init-proto" --method "${PROTO:-random}" --prompts "$prompts" -o "$init"
"$bin/peft-train" -m "$model" -d "$train" --recipe "self-prompt-${BACKBONE:-supervised}-vtab1k" \
  "${options[@]}" "${train_options[@]}" --init-prompts "$init" --prompts "$prompts" -o "$out"
"$bin/peft-eval" -m "$model" -d "$test" "${options[@]}" -a "$out"
