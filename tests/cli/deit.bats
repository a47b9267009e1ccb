#!/usr/bin/env bats
# A timm distilled DeiT (dist_token, head_dist): vpet's pre-logits (the mean
# of the final-normed class and distillation tokens) and logits (the mean of
# its two heads) match a forward written from timm's definitions
# (tests/cli/deit_reference.py); PEFT methods train on it; an exported
# backbone gives the trained head's logits.

load helpers

setup() {
  cd "$BATS_TEST_TMPDIR"
  "$PY" "$BATS_TEST_DIRNAME/deit_reference.py" write deit.safetensors
  LIST=$(make_image_list)
}

@test "pre-logits and logits equal timm's VisionTransformerDistilled to 1e-4" {
  "$BIN/vit-extract" -q -m deit.safetensors -d "$LIST" --feature pixels -o pixels.vpet
  "$PY" "$BATS_TEST_DIRNAME/deit_reference.py" forward deit.safetensors pixels.vpet expected.safetensors
  "$BIN/vit-extract" -q -m deit.safetensors -d "$LIST" --feature cls -o cls.vpet
  "$BIN/vit-extract" -q -m deit.safetensors -d "$LIST" --feature logits -o logits.vpet
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" cls.vpet expected.safetensors pre_logits 1e-4
  assert_success
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" logits.vpet expected.safetensors logits 1e-4
  assert_success
  run "$BIN/vpet-info" --json cls.vpet
  assert_success
  [ "$(jq -c '.header.backbone | [.dist_token, .prefix_tokens]' <<<"$output")" = "[true,2]" ]
  # Layer 0: [cls, dist, 16 patches].
  "$BIN/vit-extract" -q -m deit.safetensors -d "$LIST" --feature tokens --layers 0 -o t.vpet
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy
maps = list(msgpack.Unpacker(open("t.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False))
print(maps[1]["features"].shape)
PY
  assert_output "(3, 1, 18, 24)"
}

@test "methods train on a distilled DeiT; its export carries the new head as both heads" {
  make_colour_task task 3 0
  for method in vpt-deep lora memory; do
    run "$BIN/peft-train" -q -m deit.safetensors -d task -b 3 -t 1 --epochs 1 --method "$method" \
      -o "$method.vpet"
    assert_success
    run "$BIN/peft-eval" -q -m deit.safetensors -a "$method.vpet" -d task --json
    assert_success
  done
  "$BIN/peft-train" -q -m deit.safetensors -d task -b 3 -t 1 --epochs 2 --method linear \
    --export-backbone exported.safetensors -o probe.vpet
  "$BIN/vit-extract" -q -m deit.safetensors -d task --feature cls -o features.vpet
  "$BIN/vit-extract" -q -m exported.safetensors -d task --feature logits -o exported.vpet
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy, numpy as np
def records(path):
    return list(msgpack.Unpacker(open(path, "rb"), object_hook=msgpack_numpy.decode, raw=False))
bundle = records("probe.vpet")[1]
features = np.concatenate([r["features"] for r in records("features.vpet")[1:-1]])
logits = np.concatenate([r["features"] for r in records("exported.vpet")[1:-1]])
want = features @ bundle["head.weight"].T + bundle["head.bias"]
assert np.abs(want - logits).max() < 1e-4, np.abs(want - logits).max()
print("ok")
PY
  assert_output ok
}
