#!/usr/bin/env bash
# SPT (He et al., ICCV 2023): score the frozen backbone's weights by
# gradient sensitivity on the task, spend a parameter budget on LoRA (or
# Adapter) modules and sparse deltas where they matter most, and train that
# plan; the plan goes straight through the pipe. peft-eval reports the
# trained parameters: the plan's realised count, not the budget.
#
#   examples/spt.sh MODEL TRAIN TEST [BUDGET] [OUT]
#
# peft-train runs SPT's VTAB-1k recipe (--recipe spt-lora-vtab1k: the
# settings of its configs/vtab_supervised_spt_lora.sh). STRUCTURED=adapter
# gives SPT-Adapter. peft-train options in $TRAIN_OPTIONS override the
# recipe's (--epochs 10); options of every program (preprocessing) go in
# $OPTIONS.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [BUDGET] [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 budget=${4:-0.4M} out=${5:-spt.vpet}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
structured=${STRUCTURED:-lora}
read -ra train_options <<<"${TRAIN_OPTIONS:-}"
read -ra options <<<"${OPTIONS:-}"

"$bin/spt-sensitivity" -m "$model" -d "$train" "${options[@]}" \
  --structured "$structured" --budget "$budget" -o - |
  "$bin/peft-train" -m "$model" -d "$train" --recipe "spt-$structured-vtab1k" "${options[@]}" \
    "${train_options[@]}" --plan - -o "$out"
"$bin/peft-eval" -m "$model" -d "$test" "${options[@]}" -a "$out"
