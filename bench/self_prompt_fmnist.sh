#!/usr/bin/env bash
# Self-Prompt Tuning on this machine, with a backbone pre-trained here: the
# tiny fixture ViT (32×32, patch 8, width 48, 2 blocks) fully fine-tuned on
# Fashion-MNIST classes 0-4 (6,000 images, 4 epochs), then VPT-deep from
# prototype prompts against VPT's uniform start on classes 5-9 (500 training
# images, the 5,000 test images of those classes), for seeds 0 1 2.
# bench/RESULTS.md has the numbers. About 3 minutes on 2 cores.
set -euo pipefail
here=$(dirname "$0")
BIN=${BIN:-$here/../build/bin}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=idx:/usr/share/datasets/fashion-mnist
start=$here/../tests/fixtures/vit/a_timm.safetensors

"$BIN/peft-train" -q -m "$start" -d "$data/train-images-idx3-ubyte.gz" --classes 0,1,2,3,4 \
  --per-class 1200 --method full --epochs 4 -b 64 --lr 1e-3 --warmup 0.5 -o "$work/pre.vpet"
"$here/full_to_safetensors.py" "$start" "$work/pre.vpet" "$work/pretrained.safetensors"
for seed in 0 1 2; do
  SEED=$seed PROMPTS=10 EPOCHS=10 LIMIT=500 LR=0.01 BATCH=32 BIN=$BIN \
    EXTRA_ARGS="--classes 5,6,7,8,9" "$here/self_prompt_init.sh" "$work/pretrained.safetensors" \
    "$data/train-images-idx3-ubyte.gz" "$data/t10k-images-idx3-ubyte.gz"
done
