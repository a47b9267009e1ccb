#!/usr/bin/env bats
# vit-extract: interface, parity with torchvision on real image files, pipes, bad input.

load helpers

# Preprocessing the parity fixtures were made with (make_vit_fixtures.py):
# Image.open(p).convert('RGB') -> Resize((S, S)) bilinear -> ToTensor -> Normalize(ImageNet).
PARITY_PRE=(--resize squash --interp bilinear --norm imagenet)

@test "--help lists every option with its default" {
  run "$BIN/vit-extract" --help
  assert_success
  assert_output --partial "--feature"
  assert_output --partial "(default: cls)"
  assert_output --partial "(default: squash)"
  assert_output --partial "--skip-bad"
}

@test "--version" {
  run "$BIN/vit-extract" --version
  assert_success
  assert_output --regexp '^vit-extract \(vpet\) [0-9]+\.[0-9]+\.[0-9]+'
}

@test "usage errors exit 2" {
  run "$BIN/vit-extract" --no-such-option
  assert_failure 2
  assert_output --partial "no-such-option"
  run "$BIN/vit-extract" -d "$FIXTURES/vit/images"
  assert_failure 2
  assert_output --partial "missing -m/--model"
  run "$BIN/vit-extract" -m "$FIXTURES/vit/a_timm.safetensors" -d x --feature voxels
  assert_failure 2
  run "$BIN/vit-extract" -m "$FIXTURES/vit/a_timm.safetensors" -d x --batch 0
  assert_failure 2
  run "$BIN/vit-extract" -m "$FIXTURES/vit/a_timm.safetensors" -d x --layers 1
  assert_failure 2
  assert_output --partial "--feature tokens"
}

# Logits and pre-logits of the committed PNG (RGB, gray) and JPEG images equal
# torchvision's, in every key layout.
# A fourth argument "headless": the checkpoint has no classifier (HF ViTModel).
parity() {
  local model=$1 expected=$2 eps=$3 headless=${4:-}
  local list
  list=$(make_image_list)
  if [ -z "$headless" ]; then
    run "$BIN/vit-extract" -q -m "$model" -d "$list" "${PARITY_PRE[@]}" --feature logits \
      -o "$BATS_TEST_TMPDIR/logits.vpet"
    assert_success
    run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$BATS_TEST_TMPDIR/logits.vpet" \
      "$expected" "$eps/image.logits" 1e-4
    assert_success
  else
    run "$BIN/vit-extract" -q -m "$model" -d "$list" --feature logits -o "$BATS_TEST_TMPDIR/l.vpet"
    assert_failure 1
    assert_output --partial "no head"
  fi
  run "$BIN/vit-extract" -q -m "$model" -d "$list" "${PARITY_PRE[@]}" --feature cls \
    -o "$BATS_TEST_TMPDIR/cls.vpet"
  assert_success
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$BATS_TEST_TMPDIR/cls.vpet" \
    "$expected" "$eps/image.pre_logits" 1e-4
  assert_success
}

@test "parity with torchvision: torchvision layout" {
  parity "$FIXTURES/vit/a_torchvision.safetensors" "$FIXTURES/vit/expected_a.safetensors" e6
  parity "$FIXTURES/vit/b_torchvision.safetensors" "$FIXTURES/vit/expected_b.safetensors" e6
}

@test "parity with torchvision: timm layout" {
  parity "$FIXTURES/vit/a_timm.safetensors" "$FIXTURES/vit/expected_a.safetensors" e6
  parity "$FIXTURES/vit/b_timm.safetensors" "$FIXTURES/vit/expected_b.safetensors" e6
}

@test "parity with torchvision: Hugging Face layout (eps 1e-12)" {
  parity "$FIXTURES/vit/a_hf/model.safetensors" "$FIXTURES/vit/expected_a.safetensors" e12
  parity "$FIXTURES/vit/b_hf/model.safetensors" "$FIXTURES/vit/expected_b.safetensors" e12 headless
}

@test "msgpack_numpy reads the stream: header, features, labels, index" {
  local list
  list=$(make_image_list)
  "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" -b 2 \
    -o "$BATS_TEST_TMPDIR/f.vpet"
  run "$PY" - "$BATS_TEST_TMPDIR/f.vpet" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
with open(sys.argv[1], "rb") as f:
    header, *records, end = msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)
assert header["format"] == "vpet" and header["kind"] == "features", header
assert header["version"] == 2 and header["end_record"] is True, header
assert end == {"format": "vpet-end", "records": 2, "samples": 3}, end
assert header["program"] == "vit-extract"
assert header["backbone"]["fingerprint"].startswith("sha256:")
assert header["preprocess"]["resize"] == "squash"
assert len(records) == 2, len(records)  # batches of 2 and 1
f = np.concatenate([r["features"] for r in records])
assert f.dtype == np.float32 and f.shape == (3, 48), (f.dtype, f.shape)
assert np.concatenate([r["labels"] for r in records]).tolist() == [0, 1, 2]
assert np.concatenate([r["index"] for r in records]).dtype == np.int64
print("ok")
PY
  assert_success
  assert_output "ok"
}

@test "tokens of every layer: [B, depth+1, prefix+patches, D], layer 0 before pos-embed" {
  local list
  list=$(make_image_list)
  "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" --feature tokens \
    --layers all -o "$BATS_TEST_TMPDIR/t.vpet"
  run "$PY" - "$BATS_TEST_TMPDIR/t.vpet" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
with open(sys.argv[1], "rb") as f:
    header, *records, end = msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)
assert end["format"] == "vpet-end" and end["samples"] == 3, end
assert header["kind"] == "tokens" and header["layers"] == [0, 1, 2], header
assert header["prefix_tokens"] == 1
t = np.concatenate([r["features"] for r in records])
assert t.shape == (3, 3, 17, 48), t.shape
print("ok")
PY
  assert_success
  run "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" --feature tokens \
    --layers 0,-1 -o "$BATS_TEST_TMPDIR/t2.vpet"
  assert_success
  run "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" --feature tokens \
    --layers 3 -o "$BATS_TEST_TMPDIR/t3.vpet"
  assert_failure 2
  assert_output --partial "outside 0..2"
}

# A middle layer against torchvision's VisionTransformer (the same weights in
# its layout): the output of encoder.layers[0], taken by a forward hook, is
# vit-extract's layer 1 of the two-block model, every token.
@test "--layers 1 (a middle layer) is torchvision's first encoder layer's output" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2 4
  local list=$BATS_TEST_TMPDIR/list.txt
  find "$BATS_TEST_TMPDIR/task" -name '*.png' | sort | sed 's/$/ 0/' >"$list"
  "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" --feature tokens \
    --layers 1 --resize squash --interp bilinear --norm imagenet -o "$BATS_TEST_TMPDIR/t.vpet"
  run "$PY" - "$FIXTURES/vit/a_torchvision.safetensors" "$list" "$BATS_TEST_TMPDIR/t.vpet" \
    "$BATS_TEST_DIRNAME" <<'PY'
import sys
import msgpack, msgpack_numpy, numpy as np, torch
sys.path.insert(0, sys.argv[4])
from merge_reference import images, read_safetensors
from torchvision.models.vision_transformer import VisionTransformer
sd, metadata = read_safetensors(sys.argv[1])
model = VisionTransformer(image_size=32, patch_size=sd["conv_proj.weight"].shape[-1], num_layers=2,
                          num_heads=int(metadata["num_heads"]), hidden_dim=48,
                          mlp_dim=sd["encoder.layers.encoder_layer_0.mlp.0.weight"].shape[0],
                          num_classes=sd["heads.head.weight"].shape[0])
model.load_state_dict(sd, strict=True)
outputs = []
model.encoder.layers[0].register_forward_hook(lambda module, inputs, output: outputs.append(output))
with torch.no_grad():
    model.eval()(images(sys.argv[2]))
with open(sys.argv[3], "rb") as f:
    header, *records, end = msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)
assert header["layers"] == [1], header["layers"]
vpet = np.concatenate([r["features"] for r in records])[:, 0]
diff = np.abs(vpet - outputs[0].numpy()).max()
assert vpet.shape == (6, 17, 48) and diff < 1e-4, (vpet.shape, diff)
print("ok", diff)
PY
  echo "$output"
  assert_success
}

# --shard I/N: piece I of the run's batches; the pieces, concatenated in
# order, are the whole stream byte for byte (written alike, here to standard
# output), also with more pieces than batches; 'rank' reads torchrun's or
# Slurm's variables.
@test "--shard: the pieces concatenate to the whole stream" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 3 2
  local run=("$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$BATS_TEST_TMPDIR/task"
    -b 2 --feature tokens --layers 0,2)
  cd "$BATS_TEST_TMPDIR"
  "${run[@]}" >whole.vpet
  local n i
  for n in 2 3 7; do
    for ((i = 0; i < n; i++)); do "${run[@]}" --shard "$i/$n" >"piece.$i"; done
    cat $(for ((i = 0; i < n; i++)); do echo "piece.$i"; done) | cmp - whole.vpet
    rm piece.*
  done
  RANK=1 WORLD_SIZE=2 "${run[@]}" --shard rank >rank.1
  "${run[@]}" --shard 1/2 | cmp - rank.1
  SLURM_PROCID=0 SLURM_NTASKS=2 "${run[@]}" --shard rank >rank.0
  cat rank.0 rank.1 | cmp - whole.vpet
  run "$BIN/vpet-info" rank.0
  assert_failure 1  # a piece is not a whole stream
  run "${run[@]}" --shard 2/2
  assert_failure 2
  assert_output --partial "--shard: '2/2' is not I/N"
  run "${run[@]}" --shard rank
  assert_failure 2
  assert_output --partial "RANK/WORLD_SIZE"
  run "${run[@]}" --shard 0/2 --skip-bad
  assert_failure 2
}

@test "a pipe into vpet-info" {
  local list
  list=$(make_image_list)
  run bash -c "'$BIN/vit-extract' -q -m '$FIXTURES/vit/a_timm.safetensors' -d '$list' | '$BIN/vpet-info' -"
  assert_success
  assert_output --partial '"kind": "features"'
  assert_output --partial "records: 1"
  assert_output --regexp "features +float32 +\[3, 48\]"
}

@test "Fashion-MNIST IDX (gzip) feeds a 3-channel model" {
  local idx=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
  [ -e "$idx" ] || skip "dataset-fashion-mnist not installed"
  run "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$idx" --limit 10 \
    --classes 5,6 -o "$BATS_TEST_TMPDIR/f.vpet"
  assert_success
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/f.vpet"
  assert_output --regexp "features +float32 +\[10, 48\]"
}

@test "a corrupt image fails with its name, exit 1, and leaves no output file" {
  cp "$FIXTURES/vit/images/rgb.png" "$BATS_TEST_TMPDIR/good.png"
  head -c 100 "$FIXTURES/vit/images/photo.jpg" >"$BATS_TEST_TMPDIR/broken.jpg"
  printf 'good.png 0\nbroken.jpg 1\n' >"$BATS_TEST_TMPDIR/list.txt"
  run "$BIN/vit-extract" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$BATS_TEST_TMPDIR/list.txt" \
    -b 1 -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "broken.jpg"
  assert_only_files "broken.jpg good.png list.txt "
}

@test "--skip-bad turns an unreadable image into a warning" {
  cp "$FIXTURES/vit/images/rgb.png" "$BATS_TEST_TMPDIR/good.png"
  echo "not an image" >"$BATS_TEST_TMPDIR/text.png"
  printf 'good.png 0\ntext.png 1\n' >"$BATS_TEST_TMPDIR/list.txt"
  run "$BIN/vit-extract" -q --skip-bad -m "$FIXTURES/vit/a_timm.safetensors" \
    -d "$BATS_TEST_TMPDIR/list.txt" -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_success
  assert_output --partial "text.png"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/out.vpet"
  assert_output --regexp "features +float32 +\[1, 48\]"
}

@test "a bad list file names the file and line" {
  printf 'a.png 0\nb.png x\n' >"$BATS_TEST_TMPDIR/list.txt"
  run "$BIN/vit-extract" -m "$FIXTURES/vit/a_timm.safetensors" -d "$BATS_TEST_TMPDIR/list.txt" \
    -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "list.txt:2"
  [ ! -e "$BATS_TEST_TMPDIR/out.vpet" ]
}

@test "a corrupt IDX file fails with exit 1 naming it" {
  head -c 1000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \
    >"$BATS_TEST_TMPDIR/t10k-images-idx3-ubyte.gz" || skip "dataset-fashion-mnist not installed"
  cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz "$BATS_TEST_TMPDIR/"
  run "$BIN/vit-extract" -m "$FIXTURES/vit/a_timm.safetensors" \
    -d "$BATS_TEST_TMPDIR/t10k-images-idx3-ubyte.gz" -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "t10k-images-idx3-ubyte.gz"
  [ ! -e "$BATS_TEST_TMPDIR/out.vpet" ]
}

@test "a truncated or corrupt checkpoint fails with exit 1 naming it" {
  local list
  list=$(make_image_list)
  head -c 5000 "$FIXTURES/vit/a_timm.safetensors" >"$BATS_TEST_TMPDIR/cut.safetensors"
  run "$BIN/vit-extract" -m "$BATS_TEST_TMPDIR/cut.safetensors" -d "$list" \
    -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "cut.safetensors"
  head -c 4000 /dev/urandom >"$BATS_TEST_TMPDIR/noise.safetensors"
  run "$BIN/vit-extract" -m "$BATS_TEST_TMPDIR/noise.safetensors" -d "$list" \
    -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "noise.safetensors"
  [ ! -e "$BATS_TEST_TMPDIR/out.vpet" ]
}

@test "Google's JAX .npz loads; a PyTorch pickle is refused with a conversion that works" {
  local list
  list=$(make_image_list)
  cd "$BATS_TEST_TMPDIR"
  parity "$FIXTURES/vit/a_jax.npz" "$FIXTURES/vit/expected_a.safetensors" e6
  "$PY" - "$FIXTURES" <<'PY'
import sys, torch
sys.path.insert(0, sys.argv[1])
from make_vit_fixtures import read_safetensors
sd = read_safetensors(sys.argv[1] + "/vit/a_timm.safetensors")
torch.save({"model": sd}, "new.pth")
torch.save(sd, "old.pth", _use_new_zipfile_serialization=False)
PY
  run "$BIN/vit-extract" -m new.pth -d "$list" -o out.vpet
  assert_failure 1
  assert_output --partial "new.pth is a PyTorch checkpoint (torch.save's zip pickle"
  local convert
  convert=$(echo "$output" | sed -n 's/.*python3 -c "\([^"]*\)".*/\1/p')
  [ -n "$convert" ] || fail "no conversion command in: $output"
  run "$BIN/vit-extract" -m old.pth -d "$list" -o out.vpet
  assert_failure 1
  assert_output --partial "old.pth is a Python pickle (protocol 2"
  # The contents decide, not the name: Hugging Face's pytorch_model.bin is the same.
  cp new.pth pytorch_model.bin
  run "$BIN/vit-extract" -m pytorch_model.bin -d "$list" -o out.vpet
  assert_failure 1
  assert_output --partial "pytorch_model.bin is a PyTorch checkpoint (torch.save's zip pickle"
  [ ! -e out.vpet ]
  # The command the message gives turns the pickle into an .npz vpet reads
  # (a pickle records no head count; this tiny model's is not width/64).
  "$PY" -c "$convert"
  run "$BIN/vit-extract" -q -m new.pth.npz --heads 3 -d "$list" "${PARITY_PRE[@]}" \
    --feature logits -o logits.vpet
  assert_success
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" logits.vpet \
    "$FIXTURES/vit/expected_a.safetensors" e6/image.logits 1e-4
  assert_success
}

@test "--checkpoint-grid: a position embedding of a non-square grid loads, resampled as timm does" {
  local list
  list=$(make_image_list)
  cd "$BATS_TEST_TMPDIR"
  # a_timm with a 2x6 grid of position embeddings (the class token's and 12
  # more: 13 entries fit no square grid, with or without the class token), and
  # that grid resampled to 4x4 by timm's rule (resample_abs_pos_embed: bicubic,
  # antialiased) in float32.
  "$PY" - "$FIXTURES" <<'PY'
import sys, torch, torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from make_vit_fixtures import read_safetensors, write_safetensors
sd = read_safetensors(sys.argv[1] + "/vit/a_timm.safetensors")
pos = sd["pos_embed"][:, :13]
write_safetensors("./wide.safetensors", {**sd, "pos_embed": pos}, {"num_heads": 3})
grid = pos[:, 1:].float().reshape(1, 2, 6, 48).permute(0, 3, 1, 2)
grid = F.interpolate(grid, size=(4, 4), mode="bicubic", antialias=True, align_corners=False)
square = torch.cat([pos[:, :1].float(), grid.permute(0, 2, 3, 1).reshape(1, 16, 48)], 1)
write_safetensors("./square.safetensors", {**sd, "pos_embed": square}, {"num_heads": 3})
PY
  run "$BIN/vit-extract" -m wide.safetensors -d "$list" -o out.vpet
  assert_failure 1
  assert_output --partial "wide.safetensors: pos_embed has 13 entries"
  assert_output --partial "--checkpoint-grid ROWSxCOLS"
  run "$BIN/vit-extract" -q -m wide.safetensors --checkpoint-grid 2by4 -d "$list" -o out.vpet
  assert_failure 2
  assert_output --partial "--checkpoint-grid: '2by4' is not ROWSxCOLS"
  run "$BIN/vit-extract" -q -m wide.safetensors --checkpoint-grid 2x6 --img-size 32 -d "$list" \
    --feature logits -o wide.vpet
  assert_success
  "$BIN/vit-extract" -q -m square.safetensors -d "$list" --feature logits -o square.vpet
  run "$PY" -c '
import msgpack, msgpack_numpy, numpy as np
read = lambda p: list(msgpack.Unpacker(open(p, "rb"), object_hook=msgpack_numpy.decode, raw=False))[1]["features"]
a, b = read("wide.vpet"), read("square.vpet")
assert a.shape == (3, 5) and np.allclose(a, b, atol=1e-4), abs(a - b).max()'
  assert_success
}

@test "a missing dataset fails with exit 1" {
  run "$BIN/vit-extract" -m "$FIXTURES/vit/a_timm.safetensors" -d "$BATS_TEST_TMPDIR/nope"
  assert_failure 1
  assert_output --partial "nope"
}

@test "a Hugging Face snapshot folder stands for its model.safetensors" {
  local list
  list=$(make_image_list)
  run "$BIN/vit-extract" -q -m "$FIXTURES/vit/b_hf" -d "$list" "${PARITY_PRE[@]}" \
    -o "$BATS_TEST_TMPDIR/cls.vpet"
  assert_success
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$BATS_TEST_TMPDIR/cls.vpet" \
    "$FIXTURES/vit/expected_b.safetensors" "e12/image.pre_logits" 1e-4
  assert_success
}
