#!/usr/bin/env bash
# SPT (He et al., ICCV 2023): score the frozen backbone's weights by
# gradient sensitivity on the task, spend a parameter budget on LoRA (or
# Adapter) modules and sparse deltas where they matter most, and train that
# plan; the plan goes straight through the pipe. peft-eval reports the
# trained parameters: the plan's realised count, not the budget.
#
#   examples/spt.sh MODEL TRAIN TEST [BUDGET] [OUT]
#
# STRUCTURED=adapter gives SPT-Adapter. Extra peft-train options (epochs, lr)
# go in $TRAIN_OPTIONS, options of every program (preprocessing) in $OPTIONS.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [BUDGET] [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 budget=${4:-0.4M} out=${5:-spt.vpet}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
structured=${STRUCTURED:-lora}
read -ra train_options <<<"${TRAIN_OPTIONS:---epochs 10 --lr 1e-3}"
read -ra options <<<"${OPTIONS:-}"

"$bin/spt-sensitivity" -m "$model" -d "$train" "${options[@]}" \
  --structured "$structured" --budget "$budget" -o - |
  "$bin/peft-train" -m "$model" -d "$train" "${options[@]}" "${train_options[@]}" \
    --method "spt-$structured" --plan - -o "$out"
"$bin/peft-eval" -m "$model" -d "$test" "${options[@]}" -a "$out"
