#!/usr/bin/env bats
# Train-time augmentation: the pixels vpet makes from its own draws equal
# Pillow + torchvision's resize/crop/resized_crop/hflip on the same boxes; the
# draws depend on (seed, epoch, sample) alone: not on the threads, the batch,
# or a --resume; and what cannot apply is a usage error.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

setup() {
  LIST=$(make_image_list)
}

# extract PRESET EPOCH THREADS BATCH OUT [options]: the model's input pixels.
extract() {
  local preset=$1 epoch=$2 threads=$3 batch=$4 out=$5
  shift 5
  "$BIN/vit-extract" -q -m "$MODEL" -d "$LIST" --feature pixels --augment "$preset" \
    --epoch "$epoch" --seed 7 -t "$threads" -b "$batch" -o "$out" "$@"
}

# The torchvision oracle: rebuilds each image from its draw with Pillow and
# torchvision.transforms.functional, as VPT's and Self-Prompt's training
# transforms apply them, and compares the normalised pixels.
oracle() {
  "$PY" - "$@" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np, torch
from PIL import Image
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
stream, listing, preset = sys.argv[1:4]
maps = list(msgpack.Unpacker(open(stream, "rb"), object_hook=msgpack_numpy.decode, raw=False))
header, records = maps[0], maps[1:-1]
size = header["preprocess"]["size"]
interp = InterpolationMode.BICUBIC if header["preprocess"]["interp"] == "bicubic" else InterpolationMode.BILINEAR
paths = [line.rsplit(" ", 1)[0] for line in open(listing).read().splitlines()]
worst = 0.0
flips = 0
for r in records:
    for pixels, index, (top, left, h, w, flip) in zip(r["features"], r["index"], r["augment"]):
        img = Image.open(paths[index]).convert("RGB")
        if preset == "crop-flip":      # VPT: Resize(R) -> RandomCrop(S) -> RandomHorizontalFlip
            img = F.resize(img, header["augment"]["resize"], interpolation=interp)
            img = F.crop(img, int(top), int(left), int(h), int(w))
        elif preset == "rrc-flip":     # Self-Prompt: RandomResizedCrop(S) -> RandomHorizontalFlip
            img = F.resized_crop(img, int(top), int(left), int(h), int(w), [size, size],
                                 interpolation=interp)
        if flip:
            img = F.hflip(img)
            flips += 1
        want = F.normalize(F.to_tensor(img), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).numpy()
        worst = max(worst, float(np.abs(want - pixels).max()))
assert worst < 1e-4, worst
print(f"ok {flips}")
PY
}

# resumes_identically STEP ARGS...: peft-train ARGS interrupted at step STEP and
# resumed from its checkpoint (ck.vpet) ends with the tensors of whole.vpet, the
# same run uninterrupted.
resumes_identically() {
  local step=$1
  shift
  VPET_FAULT=INT@step:$step run "$BIN/peft-train" "$@" --checkpoint ck.vpet -o cut.vpet
  assert_equal "$status" 130
  run "$BIN/peft-train" "$@" --checkpoint ck.vpet --resume ck.vpet -o cut.vpet
  assert_success
  run same_tensors whole.vpet cut.vpet
  assert_success
}

@test "augmented pixels equal Pillow + torchvision's on vpet's boxes (crop-flip, rrc-flip)" {
  cd "$BATS_TEST_TMPDIR"
  local flips=0
  for preset in crop-flip rrc-flip; do
    for epoch in 0 1 2 3 4 5; do
      extract "$preset" "$epoch" 1 2 "$preset$epoch.vpet"
      run oracle "$preset$epoch.vpet" "$LIST" "$preset"
      assert_success
      flips=$((flips + ${output#ok }))
    done
  done
  # 36 draws at p = 0.5: some flip, some do not.
  [ "$flips" -gt 5 ] && [ "$flips" -lt 31 ] || fail "$flips of 36 draws flipped"
  # RandomResizedCrop's fallback (a centre crop) when no try fits.
  extract rrc-flip 0 1 4 fallback.vpet --rrc-scale 1,1 --rrc-ratio 3,4
  run oracle fallback.vpet "$LIST" rrc-flip
  assert_success
}

@test "the draws depend on seed, epoch and sample only: threads, batches and epochs" {
  cd "$BATS_TEST_TMPDIR"
  extract rrc-flip 3 1 1 a.vpet
  extract rrc-flip 3 2 3 b.vpet
  extract rrc-flip 4 2 3 c.vpet
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy, numpy as np
def read(path):
    maps = list(msgpack.Unpacker(open(path, "rb"), object_hook=msgpack_numpy.decode, raw=False))
    return np.concatenate([m["features"] for m in maps[1:-1]]), np.concatenate([m["augment"] for m in maps[1:-1]])
(a, da), (b, db), (c, dc) = read("a.vpet"), read("b.vpet"), read("c.vpet")
assert np.array_equal(a, b) and np.array_equal(da, db)
assert not np.array_equal(da, dc)
print("ok")
PY
  assert_success
  assert_output ok
}

@test "augmented training resumes bit-identical; the bundle records the augmentation" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 0
  cd "$BATS_TEST_TMPDIR"
  local args=(-q -m "$MODEL" -d task -b 4 -t 1 --epochs 3 --method linear --augment rrc-flip)
  "$BIN/peft-train" "${args[@]}" -o whole.vpet
  resumes_identically 4 "${args[@]}"
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy
header, _ = msgpack.Unpacker(open("whole.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False)
augment = header["training"]["settings"]["run"]["augment"]
assert augment["crop"] == "random-resized" and augment["hflip"] == 0.5, augment
print("ok")
PY
  assert_output ok
  # Without augmentation the same run differs: the crops were used.
  "$BIN/peft-train" -q -m "$MODEL" -d task -b 4 -t 1 --epochs 3 --method linear -o plain.vpet
  run same_tensors whole.vpet plain.vpet
  assert_failure
}

@test "augmentation that cannot apply is a usage error" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 1 0
  local x=$BATS_TEST_TMPDIR/task
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --augment crop-flip --train-resize 16 -o a
  assert_failure 2
  assert_output --partial "is larger than the --train-resize 16"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --rrc-ratio 2,1 -o a
  assert_failure 2
  assert_output --partial "--rrc-ratio"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --rrc-scale 0.5,1.5 -o a
  assert_failure 2
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --augment crop-flip --rrc-scale 0.5,1 -o a
  assert_failure 2
  assert_output --partial "exclude each other"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --augment jitter -o a
  assert_failure 2
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --hflip 2 -o a
  assert_failure 2
  run "$BIN/peft-train" --features f.vpet --method linear --augment rrc-flip -o a
  assert_failure 2
  assert_output --partial "not --features"
}

@test "MixUp/CutMix training resumes bit-identical; the settings are recorded and enforced" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 0
  cd "$BATS_TEST_TMPDIR"
  local args=(-q -m "$MODEL" -d task -b 4 -t 1 --epochs 3 --method linear --mixup 0.8 --cutmix 1.0
    --mixup-prob 0.9 --label-smoothing 0.1 --augment crop-flip)
  "$BIN/peft-train" "${args[@]}" -o whole.vpet
  resumes_identically 5 "${args[@]}"
  # Another alpha is another run: refused, naming the setting.
  run "$BIN/peft-train" "${args[@]}" --cutmix 0.5 --resume ck.vpet -o other.vpet
  assert_failure 2
  assert_output --partial "mixup.cutmix: 1 in the checkpoint, 0.5 now"
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy
header, _ = msgpack.Unpacker(open("whole.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False)
mixup = header["training"]["settings"]["mixup"]
assert mixup == {"mixup": 0.8, "cutmix": 1.0, "prob": 0.9, "switch_prob": 0.5}, mixup
print("ok")
PY
  assert_output ok
  # The mixing was used: without it the same run ends elsewhere.
  "$BIN/peft-train" -q -m "$MODEL" -d task -b 4 -t 1 --epochs 3 --method linear \
    --label-smoothing 0.1 --augment crop-flip -o plain.vpet
  run same_tensors whole.vpet plain.vpet
  assert_failure
  # CutMix alone, and MixUp alone, train too.
  run "$BIN/peft-train" -q -m "$MODEL" -d task -b 3 -t 2 --epochs 1 --method lora --cutmix 1 -o c.vpet
  assert_success
  run "$BIN/peft-train" -q -m "$MODEL" -d task -b 3 -t 2 --epochs 1 --method linear --mixup 0.2 -o m.vpet
  assert_success
}

@test "MixUp/CutMix values out of range are usage errors" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 1 0
  local x=$BATS_TEST_TMPDIR/task
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --mixup -0.2 -o a
  assert_failure 2
  assert_output --partial "--mixup must be"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --cutmix -1 -o a
  assert_failure 2
  assert_output --partial "--cutmix must be"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --mixup 1 --mixup-prob 1.5 -o a
  assert_failure 2
  assert_output --partial "--mixup-prob must be in [0, 1]"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --cutmix 1 --mixup-prob -0.1 -o a
  assert_failure 2
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --mixup-prob 0.5 -o a
  assert_failure 2
  assert_output --partial "--mixup-prob needs --mixup or --cutmix"
  run "$BIN/peft-train" -m "$MODEL" -d "$x" --method linear --mixup nan -o a
  assert_failure 2
  run "$BIN/peft-train" --features f.vpet --method linear --mixup 0.8 -o a
  assert_failure 2
  assert_output --partial "not --features"
  [ ! -e a ]
}
