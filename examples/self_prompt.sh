#!/usr/bin/env bash
# Self-Prompt Tuning (Wang et al., 2024): VPT whose prompts start as
# prototypes of the task's own tokens. vit-extract streams every block's
# input tokens, prompt-init-proto turns them into P prototypes per block
# (k-means centres by default) in constant memory, and peft-train starts
# VPT-deep from them.
#
#   examples/self_prompt.sh MODEL TRAIN TEST [PROMPTS] [OUT]
#
# PROTO=random|mean|max|kmeans picks the prototypes. Extra peft-train options
# go in $TRAIN_OPTIONS, options of every program (preprocessing) in $OPTIONS.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [PROMPTS] [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 prompts=${4:-10} out=${5:-self-prompt.vpet}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
read -ra train_options <<<"${TRAIN_OPTIONS:---epochs 10 --lr 1e-3}"
read -ra options <<<"${OPTIONS:-}"
init=$out.prompts

"$bin/vit-extract" -m "$model" -d "$train" "${options[@]}" --feature tokens --layers all |
  "$bin/prompt-init-proto" --method "${PROTO:-kmeans}" --prompts "$prompts" -o "$init"
"$bin/peft-train" -m "$model" -d "$train" "${options[@]}" "${train_options[@]}" \
  --method vpt-deep --init-prompts "$init" -o "$out"
"$bin/peft-eval" -m "$model" -d "$test" "${options[@]}" -a "$out"
