#!/usr/bin/env bats
# Garbage numbers and divergence (issue 15, defect 8 and deliverable 6): NaN
# and infinite values in inputs are refused naming the file and the tensor; a
# diverging run stops (or, with --nan skip-step, skips and counts its steps)
# and never writes a bundle with non-finite weights.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

# f.vpet: features of the colour task, under $BATS_TEST_TMPDIR.
make_features() {
  make_colour_task "$BATS_TEST_TMPDIR/train" 8 0
  "$BIN/vit-extract" -q -m "$MODEL" -d "$BATS_TEST_TMPDIR/train" -o "$BATS_TEST_TMPDIR/f.vpet"
  rm -r "$BATS_TEST_TMPDIR/train"
}

LINEAR=(-q --features f.vpet --method linear --batch 8 --epochs 3)

@test "a diverging run stops with exit 1 naming the epoch, the step and the loss; no bundle" {
  make_features
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" "${LINEAR[@]}" --lr 1e30 --checkpoint c.ckpt -o a.vpet
  assert_failure 1
  assert_output --regexp 'epoch 1 step [0-9]+/9: the loss is (NaN|infinite); training stopped'
  assert_output --partial -- '--nan skip-step'
  assert_only_files f.vpet
}

@test "--nan skip-step skips the non-finite steps, counts them in the summary and the metrics" {
  make_features
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" "${LINEAR[@]}" --lr 3e37 --wd 0 --grad-clip 1 --optimizer sgd \
    --nan skip-step --metrics m.jsonl -o a.vpet
  assert_success
  assert_output --regexp 'skipped [1-9] of 9 steps whose loss or gradient was not finite'
  run "$PY" - <<'PYTHON'
import json, msgpack, msgpack_numpy, numpy as np
header, record = list(msgpack.Unpacker(open("a.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False))[:2]
skipped = header["training"]["skipped_steps"]
assert skipped > 0 and header["training"]["settings"]["nan"] == "skip-step", header["training"]
lines = [json.loads(l) for l in open("m.jsonl")]
assert sum(1 for l in lines if l.get("skipped")) == skipped, lines
assert all(np.isfinite(v).all() for v in record.values() if v.dtype.kind == "f")
PYTHON
  assert_success
}

@test "--nan takes stop or skip-step only" {
  make_features
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" "${LINEAR[@]}" --nan ignore -o a.vpet
  assert_failure 2
  assert_output --partial "--nan: 'ignore' is not one of stop, skip-step"
}

@test "a bundle that would hold infinite weights is not written, naming the tensor" {
  make_features
  cd "$BATS_TEST_TMPDIR"
  # The default weight decay at lr 1e35 overflows the weights themselves:
  # the losses stay finite or are skipped, the update does not.
  run "$BIN/peft-train" "${LINEAR[@]}" --lr 1e35 --grad-clip 1 --optimizer sgd --nan skip-step \
    -o a.vpet
  assert_failure 1
  assert_output --regexp "a.vpet: not written: tensor 'head\.(weight|bias)': tensor holds (NaN|an infinite value)"
  assert_only_files f.vpet
}

# Copies stream $1 to $2 with element $4 of tensor $3 of its first record set to $5.
poison_stream() {
  "$PY" - "$@" <<'PYTHON'
import sys, struct, msgpack
src, dst, name, index, value = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
objects = list(msgpack.Unpacker(open(src, "rb"), raw=False, strict_map_key=False))
tensor = objects[1][name]
data = bytearray(tensor[b"data"])
data[4 * index:4 * index + 4] = struct.pack("<f", value)
tensor[b"data"] = bytes(data)
with open(dst, "wb") as f:
    for o in objects:
        f.write(msgpack.packb(o, use_bin_type=True))
PYTHON
}

@test "NaN or inf in a features stream is refused naming the file, the record and the tensor" {
  make_features
  cd "$BATS_TEST_TMPDIR"
  tensor=$("$PY" -c "
import msgpack
o = list(msgpack.Unpacker(open('f.vpet', 'rb'), raw=False, strict_map_key=False))[1]
print(next(k for k, v in o.items() if isinstance(v, dict) and v.get(b'type') in ('<f4', b'<f4')))")
  for value in nan inf -inf; do
    poison_stream f.vpet bad.vpet "$tensor" 5 "$value"
    run "$BIN/peft-train" -q --features bad.vpet --method linear --batch 8 --epochs 1 -o a.vpet
    assert_failure 1
    assert_output --partial "bad.vpet"
    assert_output --partial "tensor '$tensor'"
    assert_output --regexp "holds (NaN|an infinite value) at element 5"
    [ ! -e a.vpet ]
  done
}

@test "NaN in a safetensors checkpoint is refused naming the file and the tensor" {
  cd "$BATS_TEST_TMPDIR"
  "$PY" - "$MODEL" bad.safetensors <<'PYTHON'
import json, struct, sys
blob = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n])
name, entry = next((k, v) for k, v in sorted(header.items()) if k != "__metadata__")
at = 8 + n + entry["data_offsets"][0]
assert entry["dtype"] in ("F16", "BF16"), entry
blob[at:at + 2] = b"\x00\x7f" if entry["dtype"] == "BF16" else b"\x00\x7e"  # a quiet NaN
open(sys.argv[2], "wb").write(blob)
print(name, file=open("name", "w"))
PYTHON
  make_colour_task "$BATS_TEST_TMPDIR/train" 1 0
  run "$BIN/vit-extract" -q -m bad.safetensors -d train -o f.vpet
  assert_failure 1
  assert_output --partial "bad.safetensors: tensor '$(cat name)': tensor holds NaN at element 0"
  [ ! -e f.vpet ]
}

@test "a label outside the classes is refused naming the record, not with a library message" {
  make_features
  cd "$BATS_TEST_TMPDIR"
  "$PY" - <<'PYTHON'
import msgpack
objects = list(msgpack.Unpacker(open("f.vpet", "rb"), raw=False, strict_map_key=False))
labels = objects[1]["labels"]
data = bytearray(labels[b"data"])
size = len(data) // labels[b"shape"][0]
data[:size] = (5).to_bytes(size, "little")
labels[b"data"] = bytes(data)
with open("label.vpet", "wb") as f:
    for o in objects:
        f.write(msgpack.packb(o, use_bin_type=True))
PYTHON
  run "$BIN/peft-train" -q --features label.vpet --method linear --epochs 1 -o a.vpet
  assert_failure 1
  assert_output --partial "label.vpet: record 1: 'labels' element 0 is 5, but the header has 3 classes"
  refute_output --partial "out of bounds"
  [ ! -e a.vpet ]
}

@test "HF config.json: layer_norm_eps <= 0 and a directory are refused naming config.json" {
  cd "$BATS_TEST_TMPDIR"
  mkdir hf
  cp "$FIXTURES/vit/a_hf/model.safetensors" hf/
  make_colour_task "$BATS_TEST_TMPDIR/train" 1 0
  for eps in -1 0; do
    echo "{\"layer_norm_eps\": $eps}" >hf/config.json
    run "$BIN/vit-extract" -q -m hf/model.safetensors -d train -o f.vpet
    assert_failure 1
    assert_output --partial "config.json layer_norm_eps is $eps, not a positive finite number"
    [ ! -e f.vpet ]
  done
  rm hf/config.json
  mkdir hf/config.json
  run "$BIN/vit-extract" -q -m hf/model.safetensors -d train -o f.vpet
  assert_failure 1
  assert_output --partial "hf/config.json: is a directory"
}
