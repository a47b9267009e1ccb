#!/usr/bin/env bats
# PGN end to end: train, invert the library to pixels, evaluate input-only
# (latent, exact pixels and 8-bit RGB side by side), and the refusals.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors
SMALL=(--pgn-prompts 4 --pgn-library 16 --pgn-input-size 32)

setup() {
  make_colour_task "$BATS_TEST_TMPDIR/task" 6 3
  TASK=$BATS_TEST_TMPDIR/task
}

train() {
  "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method pgn "${SMALL[@]}" -b 6 --epochs 2 \
    --lr 0.01 "$@"
}

header() {
  "$PY" -c '
import json, sys, msgpack, msgpack_numpy
with open(sys.argv[1], "rb") as f:
    header = next(iter(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)))
print(json.dumps(header, sort_keys=True))' "$1"
}

@test "train, invert, evaluate input-only: the exact pixel prompts score as the latent ones" {
  train -o "$BATS_TEST_TMPDIR/latent.vpet"
  run "$BIN/pgn-invert" -m "$MODEL" -i "$BATS_TEST_TMPDIR/latent.vpet" -o "$BATS_TEST_TMPDIR/exact.vpet"
  assert_success
  assert_output --partial "latent reconstruction max |error|"
  "$BIN/pgn-invert" -q -m "$MODEL" -i "$BATS_TEST_TMPDIR/latent.vpet" --rgb8 \
    -o "$BATS_TEST_TMPDIR/rgb8.vpet"
  run "$PY" - "$BATS_TEST_TMPDIR/exact.vpet" <<'PYTHON'
import sys, msgpack, msgpack_numpy
with open(sys.argv[1], "rb") as f:
    header, record = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
assert header["kind"] == "pixel-prompts" and header["config"]["pgn_pixels"], header
inversion = header["training"]["inversion"]
assert inversion["latent_max_abs_error"] < 1e-4 and not inversion["least_squares"], inversion
assert record["pixel_library"].shape == (16, 3, 8, 8) and "library" not in record
rgb8 = record["structure.pixel_library_rgb8"]
assert rgb8.shape == (16, 8, 8, 3) and rgb8.dtype.name == "uint8", rgb8.dtype
print("ok")
PYTHON
  assert_output "ok"
  run "$BIN/peft-eval" -q -m "$MODEL" -d "$TASK" -a "$BATS_TEST_TMPDIR/latent.vpet" \
    -a "$BATS_TEST_TMPDIR/exact.vpet" -a "$BATS_TEST_TMPDIR/rgb8.vpet"
  assert_success
  assert_output --partial "rgb8.vpet"
  latent=$("$BIN/peft-eval" -q -m "$MODEL" -d "$TASK" -a "$BATS_TEST_TMPDIR/latent.vpet" --json |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["top1"])')
  exact=$("$BIN/peft-eval" -q -m "$MODEL" -d "$TASK" -a "$BATS_TEST_TMPDIR/exact.vpet" --json |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["top1"])')
  assert_equal "$exact" "$latent"
  # --rgb8: the library stays exact, the normalisation rides along, and
  # peft-eval reports the error of what each image's 8-bit prompts send.
  "$BIN/peft-eval" -q -m "$MODEL" -d "$TASK" -a "$BATS_TEST_TMPDIR/rgb8.vpet" --json \
    >"$BATS_TEST_TMPDIR/rgb8.json"
  run "$PY" - "$BATS_TEST_TMPDIR" <<'PYTHON'
import json, sys, msgpack, msgpack_numpy, numpy as np
d = sys.argv[1]
def read(name):
    with open(f"{d}/{name}.vpet", "rb") as f:
        return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
(header, record), (_, exact) = read("rgb8"), read("exact")
assert header["config"]["pgn_rgb8"] and header["training"]["inversion"]["pixels"] == "rgb8"
assert np.array_equal(record["pixel_library"], exact["pixel_library"])
pre = header["preprocess"]
assert np.allclose(record["structure.pixel_mean"], pre["mean"][:3]), record["structure.pixel_mean"]
assert np.allclose(record["structure.pixel_std"], pre["std"][:3]), record["structure.pixel_std"]
error = json.load(open(f"{d}/rgb8.json"))["diagnostics"]["pgn_rgb8_max_abs_error"]
assert 0 < error < 10, error
print("ok")
PYTHON
  echo "$output"
  assert_output "ok"
}

# The generator and the prompts against the released code: peft-eval's
# logits of a trained latent PGN bundle are those of pgn_reference.py, which
# runs jochemloedeman/PGN's ResNet and TLPGN.forward written out again.
@test "a PGN bundle's logits are the released code's generator and prompts" {
  train -o "$BATS_TEST_TMPDIR/latent.vpet"
  find "$TASK" -name '*.png' | sort | head -8 | sed 's/$/ blue/' >"$BATS_TEST_TMPDIR/list.txt"
  run "$PY" "$BATS_TEST_DIRNAME/pgn_reference.py" "$MODEL" "$BATS_TEST_TMPDIR/latent.vpet" \
    "$BATS_TEST_TMPDIR/list.txt" "$BATS_TEST_TMPDIR/ref.safetensors"
  echo "$output"
  assert_success
  "$BIN/peft-eval" -q -m "$MODEL" -a "$BATS_TEST_TMPDIR/latent.vpet" -d "$BATS_TEST_TMPDIR/list.txt" \
    --resize squash --interp bilinear --norm imagenet --predictions "$BATS_TEST_TMPDIR/p.vpet" --logits
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$BATS_TEST_TMPDIR/p.vpet" \
    "$BATS_TEST_TMPDIR/ref.safetensors" ref 1e-4 --field logits
  echo "$output"
  assert_success
}

@test "the fixed-prompt baseline trains, and pgn-invert refuses what it cannot invert" {
  train --pgn-fixed -o "$BATS_TEST_TMPDIR/fixed.vpet"
  run "$BIN/pgn-invert" -m "$MODEL" -i "$BATS_TEST_TMPDIR/fixed.vpet" -o "$BATS_TEST_TMPDIR/o.vpet"
  assert_failure 1
  assert_output --partial "no library"
  train -o "$BATS_TEST_TMPDIR/latent.vpet"
  "$BIN/pgn-invert" -q -m "$MODEL" -i "$BATS_TEST_TMPDIR/latent.vpet" -o "$BATS_TEST_TMPDIR/pixels.vpet"
  run "$BIN/pgn-invert" -m "$MODEL" -i "$BATS_TEST_TMPDIR/pixels.vpet" -o "$BATS_TEST_TMPDIR/o.vpet"
  assert_failure 1
  assert_output --partial "pixel space already"
  run "$BIN/pgn-invert" -m "$FIXTURES/vit/b_timm.safetensors" -i "$BATS_TEST_TMPDIR/latent.vpet" \
    -o "$BATS_TEST_TMPDIR/o.vpet"
  assert_failure 1
  run "$BIN/pgn-invert" -m "$MODEL" -o "$BATS_TEST_TMPDIR/o.vpet"
  assert_failure 2
  [ ! -e "$BATS_TEST_TMPDIR/o.vpet" ]
}
