#!/usr/bin/env bash
# Makes the seed corpora of the fuzz targets, fuzz/corpus/<target>/: small
# valid files of each kind, made by vpet's own programs (build/bin) on a tiny
# random ViT, and by numpy and Pillow for the formats vpet only reads
# (.npy, .npz, PNG, JPEG, IDX). Run from the repository root after
# `make build`:   fuzz/make_corpus.sh [BIN]
# The model must be fuzz/fuzz.cpp's kTinyModel: mutated files then keep its
# fingerprint and reach the code behind the fingerprint check.
set -euo pipefail
BIN=$(realpath "${1:-build/bin}")
PY=/usr/bin/python3
OUT=$PWD/fuzz/corpus
M=random:width=16,depth=2,heads=2,patch=4,img=8,chans=3
export OMP_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$OUT"
targets=$PWD/fuzz/targets
for t in "$targets"/*.cpp; do mkdir -p "$OUT/$(basename "$t" .cpp)"; done

# The images: a 2-class folder for the programs, and the decoders' seeds.
"$PY" - "$work/data" "$OUT" <<'PYEOF'
import gzip, io, os, struct, sys
import numpy as np
from PIL import Image
data, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
for c in ("cat", "dog"):
    os.makedirs(f"{data}/{c}")
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(f"{data}/{c}/{i}.png")
rgb = rng.integers(0, 255, (6, 5, 3), dtype=np.uint8)
img = Image.fromarray(rgb)
for mode in ("L", "LA", "RGB", "RGBA", "P", "1", "I;16"):
    img.convert(mode if mode != "I;16" else "I").convert(mode).save(f"{out}/png/{mode.replace(';', '')}.png")
img.save(f"{out}/png/interlaced.png", interlace=1)
img.convert("P").save(f"{out}/png/palette_trns.png", transparency=0)
for name, kw in {"420": dict(subsampling=2), "444": dict(subsampling=0),
                 "progressive": dict(progressive=True), "q10": dict(quality=10)}.items():
    img.save(f"{out}/jpeg/{name}.jpg", **kw)
img.convert("L").save(f"{out}/jpeg/gray.jpg")
img.convert("CMYK").save(f"{out}/jpeg/cmyk.jpg")
for name, a in {"f4": np.arange(6, dtype="<f4").reshape(2, 3), "f2": np.ones(3, "<f2"),
                "f8_big": np.arange(4, dtype=">f8"), "i8": np.arange(3, dtype="<i8"),
                "i4_fortran": np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)),
                "u1": np.arange(5, dtype="u1"), "b1": np.array([True, False]),
                "scalar": np.float32(1.5), "empty": np.zeros((0, 3), "<f4")}.items():
    a = np.asarray(a)
    np.save(f"{out}/npy/{name}.npy", a)
    if name in ("f4", "i8", "u1"):
        m = {"nd": True, "type": a.dtype.str, "kind": b"", "shape": list(a.shape), "data": a.tobytes()}
        import msgpack
        open(f"{out}/tensor_codec/{name}.msgpack", "wb").write(
            msgpack.packb({k.encode(): v for k, v in m.items()}, use_bin_type=True))
np.savez(f"{out}/npz/stored.npz", w=np.ones((2, 2), "<f4"), b=np.zeros(2, "<f4"))
np.savez_compressed(f"{out}/npz/deflated.npz", **{"block/kernel": np.arange(4, dtype="<f4")})
def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload
images = idx(0x803, (3, 4, 4), bytes(range(48)))
labels = idx(0x801, (3,), bytes([0, 1, 2]))
for name, b in {"images": images, "labels": labels}.items():
    open(f"{out}/idx/{name}.idx", "wb").write(b)
    open(f"{out}/idx/{name}.idx.gz", "wb").write(gzip.compress(b, mtime=0))
PYEOF

# The programs' files, made in the work folder: the headers record the
# command lines, which then name no temporary folder.
cd "$work"
run() { "$@" -q -t 1; }
data=folder:data
run "$BIN/vit-extract" -m "$M" -d "$data" --feature cls -o "$OUT/features/cls.vpet"
run "$BIN/vit-extract" -m "$M" -d "$data" --feature tokens --layers 0,1 -o tokens.vpet
cp tokens.vpet "$OUT/tokens/"
run "$BIN/prompt-init-proto" --input tokens.vpet --prompts 2 -o "$OUT/prompts/deep.vpet"
run "$BIN/spt-sensitivity" -m "$M" -d "$data" --budget 300 --budget 600 --batches 1 -b 4 \
  -o "$OUT/plan/plans.vpet"
run "$BIN/spt-sensitivity" -m "$M" -d "$data" --budget 300 --structured adapter --rank 2 \
  --batches 1 -b 4 -o "$OUT/plan/adapter.vpet"
train() {  # NAME ARGS...: one epoch of peft-train into fuzz/corpus/bundle/NAME.vpet
  local name=$1
  shift
  run "$BIN/peft-train" -m "$M" -d "$data" --epochs 1 -b 4 -o "$OUT/bundle/$name.vpet" "$@"
}
train linear --method linear --checkpoint "$OUT/checkpoint/linear.vpet"
train lora --method lora --rank 2 --checkpoint "$OUT/checkpoint/lora.vpet"
train bitfit --method bitfit --export-backbone "$OUT/safetensors/backbone.safetensors"
train adapter --method adapter --bottleneck 2
train houlsby --method adapter --bottleneck 2 --adapter-style houlsby
train memory --method memory --memory 2
train memory-unmasked --method memory --memory 2 --memory-mode unmasked
train dora --method dora --rank 2 --layers 1
train ssf --method ssf
train head-class --method head-class
train vpt-deep --method vpt-deep --prompts 2 --init-prompts "$OUT/prompts/deep.vpet"
train vpt-shallow --method vpt-shallow --prompts 2
train vpt-late --method vpt-deep --prompts 2 --layers 1 --init-prompts "$OUT/prompts/deep.vpet"
train spt-lora --method spt-lora --plan "$OUT/plan/plans.vpet" --budget 300
train lion --method lion --lion-channels 2 --lion-token-width 4 --lion-width 4 --lion-max-iter 3
train pgn-fixed --method pgn --pgn-fixed --pgn-prompts 2
# PGN's generator is a ResNet of fixed size: its bundle (1.2 MB) stays out;
# the pixel-prompts bundle pgn-invert makes of it is the corpus's largest file.
run "$BIN/peft-train" -m "$M" -d "$data" --epochs 1 -b 4 --method pgn --pgn-prompts 2 \
  --pgn-library 4 --pgn-input-size 8 -o pgn.vpet
run "$BIN/pgn-invert" -i pgn.vpet -m "$M" -o "$OUT/bundle/pixel-prompts.vpet"
run "$BIN/peft-train" -m "$M" -d "$data" --epochs 1 -b 4 --method full -o full.vpet \
  --export-backbone "$OUT/safetensors/full.safetensors"

# Streams of every kind for the reader itself.
for f in features/cls.vpet tokens/tokens.vpet plan/plans.vpet prompts/deep.vpet \
  bundle/lora.vpet checkpoint/linear.vpet; do
  cp "$OUT/$f" "$OUT/stream/$(basename "$(dirname "$f")").vpet"
done

# Text inputs: dataset files (images relative to fuzz.cpp's image_folder()),
# folder trees (one path a line), model specs, command lines (NUL-separated).
printf 'a.png 0\nsub/c.png 1\n# a comment\n\nb.jpg 1\r\n' >"$OUT/list/list.txt"
printf '{"a.png": 0, "sub/c.png": 3, "b.jpg": 3}' >"$OUT/json/train.json"
printf '{"a.png": "cat", "b.jpg": "dog"}' >"$OUT/json/names.json"
printf 'path,label\na.png,0\n"sub/c.png",1\n' >"$OUT/csv/train.csv"
printf 'image,class\nb.jpg,dog\na.png,cat\n' >"$OUT/csv/names.csv"
printf 'cat/a.png\ncat/x/b.jpg\ndog/\ndog/c.png\ndog/notes.txt\n.hidden/d.png\n' \
  >"$OUT/folder/tree.txt"
printf '%s' "$M" >"$OUT/random_spec/tiny"
printf 'random:width=8,depth=0,heads=1,mlp=9,patch=2,img=4,chans=1,seed=7' \
  >"$OUT/random_spec/all-keys"
printf 'random' >"$OUT/random_spec/default-name"
printf -- '-d\0list:x.txt\0--per-class\0002:5\0--img-size\00032\0--norm\0inception\0-b\08' \
  >"$OUT/options/data"
printf -- '--augment\0rrc-flip\0--rrc-scale\0000.5,1\0--hflip\0000.25\0--mean\0000.5,0.5,0.5' \
  >"$OUT/options/augment"
printf -- '--resize\0crop\0--crop-fraction\0000.9\0--interp\0bilinear\0--precision\0bf16' \
  >"$OUT/options/preprocess"
du -sh "$OUT"
