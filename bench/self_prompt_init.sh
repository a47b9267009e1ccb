#!/usr/bin/env bash
# Self-Prompt Tuning's claim on one transfer task: VPT-deep whose prompts start
# from prototypes of the task's tokens (prompt-init-proto) against VPT-deep
# from VPT's own random (Xavier-uniform) start, at the same prompt length,
# epochs, learning rate and seed. Prints one line per initialisation: test
# top-1 and its difference to the random start. Not a test: it trains.
#
#   bench/self_prompt_init.sh MODEL TRAIN TEST
#
# MODEL is a pre-trained ViT (.safetensors); TRAIN and TEST are dataset specs
# (see vit-extract(1)), e.g. a VTAB-1k task's train800val200.txt and test.txt.
# Settings come from the environment (defaults in brackets):
#   PROMPTS [20]  EPOCHS [20]  LR [0.01]  WD [0.0001]  BATCH [32]  SEED [0]
#   METHODS ["random mean max kmeans"]  (prompt-init-proto --method values)
#   LIMIT [0]     keep this many training images (0: all), drawn with SEED
#   EXTRA_ARGS    further arguments for vit-extract, peft-train and peft-eval
#                 (preprocessing: --norm inception --interp bicubic ...)
#   BIN [build/bin]  WORK [a temporary directory, removed at the end]
#
# With the fixture model it runs in a few minutes as a smoke test (the numbers
# mean nothing, the backbone is not pre-trained):
#   LIMIT=200 EPOCHS=2 bench/self_prompt_init.sh tests/fixtures/vit/a_timm.safetensors \
#     idx:/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
#     idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
set -euo pipefail

if [ $# -ne 3 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
MODEL=$1 TRAIN=$2 TEST=$3
PROMPTS=${PROMPTS:-20} EPOCHS=${EPOCHS:-20} LR=${LR:-0.01} WD=${WD:-0.0001}
BATCH=${BATCH:-32} SEED=${SEED:-0} LIMIT=${LIMIT:-0}
METHODS=${METHODS:-random mean max kmeans}
BIN=${BIN:-$(dirname "$0")/../build/bin}
read -r -a extra <<<"${EXTRA_ARGS:-}"
if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

subset=(--limit "$LIMIT" --seed "$SEED")
train=(-q -m "$MODEL" -d "$TRAIN" "${subset[@]}" --method vpt-deep --prompts "$PROMPTS"
  --epochs "$EPOCHS" --lr "$LR" --wd "$WD" --batch "$BATCH" "${extra[@]}")

top1() {
  "$BIN/peft-eval" -q -m "$MODEL" -a "$1" -d "$TEST" --batch 128 --json "${extra[@]}" |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["top1"])'
}

echo "# VPT-deep, $PROMPTS prompts, $EPOCHS epochs, lr $LR, seed $SEED" \
  "($(basename "$MODEL"); train $TRAIN; test $TEST)"
"$BIN/peft-train" "${train[@]}" -o "$WORK/vpt-random.vpet"
baseline=$(top1 "$WORK/vpt-random.vpet")
printf '%-34s top-1 %6.2f\n' "VPT's uniform init" "$baseline"

for method in $METHODS; do
  "$BIN/vit-extract" -q -m "$MODEL" -d "$TRAIN" "${subset[@]}" --feature tokens --layers all \
    "${extra[@]}" |
    "$BIN/prompt-init-proto" -q --method "$method" --prompts "$PROMPTS" --seed "$SEED" \
      -o "$WORK/prompts-$method.vpet"
  "$BIN/peft-train" "${train[@]}" --init-prompts "$WORK/prompts-$method.vpet" \
    -o "$WORK/vpt-$method.vpet"
  accuracy=$(top1 "$WORK/vpt-$method.vpet")
  printf '%-34s top-1 %6.2f  (%+.2f)\n' "prompt-init-proto --method $method" "$accuracy" \
    "$(/usr/bin/python3 -c "print($accuracy - $baseline)")"
done
