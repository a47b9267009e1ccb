#!/bin/sh
# SPT at ViT-B/16 scale on this machine: the sensitivity pass's peak memory
# against one full fine-tuning step at the same batch (both with drop-path
# 0.1), and how close each plan lands to its budget. The model is a
# randomly initialised ViT-B/16 (bench/make_vit.py; no hub here) and the
# images are synthetic, so the allocation statistics are not those of a
# pre-trained backbone (reference/spt-selfprompt-vpt.md §1.2 has those).
#
#   bench/spt_scale.sh [WORKDIR]      (about 10 minutes on 2 cores)
set -eu
work=${1:-/tmp/vpet-spt-scale}
here=$(dirname "$0")
bin=${VPET_BIN:-$here/../build/bin}
mkdir -p "$work"
[ -f "$work/vit_b16.safetensors" ] || "$here/make_vit.py" -o "$work/vit_b16.safetensors"
[ -d "$work/images" ] || /usr/bin/python3 - "$work/images" <<'PYTHON'
import os, random, sys
from PIL import Image
random.seed(0)
for c in range(10):
    os.makedirs(f"{sys.argv[1]}/c{c}", exist_ok=True)
    for i in range(4):
        im = Image.new("RGB", (64, 64))
        base = [(c * 37 + k * 91) % 200 for k in range(3)]
        im.putdata([tuple(b + random.randrange(56) for b in base) for _ in range(64 * 64)])
        im.save(f"{sys.argv[1]}/c{c}/{i}.png")
PYTHON

peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

/usr/bin/time -v "$bin/spt-sensitivity" -m "$work/vit_b16.safetensors" -d "$work/images" \
  --batches 1 -b 32 --budget 0.2M --budget 0.4M --budget 0.6M --budget 0.8M --budget 1.0M \
  -o "$work/plan.vpet" 2>"$work/sensitivity.log"
/usr/bin/time -v "$bin/peft-train" -m "$work/vit_b16.safetensors" -d "$work/images" --limit 32 \
  -b 32 --epochs 1 --method full --drop-path 0.1 -o "$work/full.vpet" 2>"$work/full.log"

echo "peak RSS, sensitivity pass (batch 32): $(peak "$work/sensitivity.log") KiB"
echo "peak RSS, one full fine-tuning step (batch 32): $(peak "$work/full.log") KiB"
grep "plan for" "$work/sensitivity.log"
