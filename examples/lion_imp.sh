#!/bin/sh
# Iterative magnitude pruning of LION's implicit layers (the lottery ticket):
# train dense, then ROUNDS times prune 20% more of the surviving weights and
# retrain the survivors from the same initialisation (the same --seed draws
# the same start; the masks zero the pruned weights). The last bundle is the
# ticket; peft-eval reports each round's accuracy and non-zero parameters.
#
#   examples/lion_imp.sh MODEL TRAIN TEST [ROUNDS] [OUT]
#
# Extra peft-train options (epochs, lr, widths) go in $TRAIN_OPTIONS.
set -eu

if [ $# -lt 3 ]; then
  echo "usage: $0 MODEL TRAIN TEST [ROUNDS] [OUT]" >&2
  exit 2
fi
model=$1 train=$2 test=$3 rounds=${4:-3} out=${5:-lion-imp}
bin=${VPET_BIN:-$(dirname "$0")/../build/bin}
options=${TRAIN_OPTIONS:---epochs 10 --lr 1e-3}
mkdir -p "$out"

# shellcheck disable=SC2086  # $options is a list of options
"$bin/peft-train" -m "$model" -d "$train" --method lion --seed 0 $options -o "$out/round0.vpet"
bundles="$out/round0.vpet"
keep=1
round=1
while [ "$round" -le "$rounds" ]; do
  # 20% of what survived: the cumulative sparsity is 1 - 0.8^round.
  keep=$(awk -v k="$keep" 'BEGIN { printf "%.6f", k * 0.8 }')
  sparsity=$(awk -v k="$keep" 'BEGIN { printf "%.6f", 1 - k }')
  previous=$out/round$((round - 1)).vpet
  "$bin/lion-prune" -i "$previous" --sparsity "$sparsity" -o "$out/pruned$round.vpet"
  # shellcheck disable=SC2086
  "$bin/peft-train" -m "$model" -d "$train" --method lion --seed 0 $options \
    --mask "$out/pruned$round.vpet" -o "$out/round$round.vpet"
  bundles="$bundles $out/round$round.vpet"
  round=$((round + 1))
done

args=""
for bundle in $bundles; do args="$args -a $bundle"; done
# shellcheck disable=SC2086
"$bin/peft-eval" -m "$model" -d "$test" $args
