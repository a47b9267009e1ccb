#!/usr/bin/env bats
# Hugging Face snapshots: Dinov2 and CLIP layouts, CLIPModel's image tower,
# sharded weights, preprocessor_config.json defaults; against forward passes
# written from transformers' modeling files (tests/cli/hf_reference.py).

load helpers

# A field of a stream's header, as compact JSON.
header() {
  "$BIN/vpet-info" --json "$1" | jq -c ".header$2"
}

snapshot() {
  local kind=$1
  "$PY" "$BATS_TEST_DIRNAME/hf_reference.py" "$kind" "$BATS_TEST_TMPDIR/$kind" \
    "$FIXTURES/vit/images/rgb.png" "$FIXTURES/vit/images/gray.png" \
    "$FIXTURES/vit/images/photo.jpg"
}

# vit-extract's default feature of the snapshot, with no preprocessing option
# (the snapshot's preprocessor_config.json decides), equals the reference.
# Leaves vit-extract's messages in $extract_output.
matches_reference() {
  local kind=$1
  shift
  snapshot "$kind"
  local list
  list=$(make_image_list)
  run "$BIN/vit-extract" -m "$BATS_TEST_TMPDIR/$kind" -d "$list" "$@" \
    -o "$BATS_TEST_TMPDIR/$kind.vpet"
  assert_success
  assert_output --partial "preprocessing defaults from $BATS_TEST_TMPDIR/$kind/preprocessor_config.json"
  extract_output=$output
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$BATS_TEST_TMPDIR/$kind.vpet" \
    "$BATS_TEST_TMPDIR/$kind.expected.safetensors" pooled 1e-4
  assert_success
}

@test "Dinov2Model: layer scale, eps 1e-6, shorter side + centre crop" {
  matches_reference dinov2
  assert_equal "$(header "$BATS_TEST_TMPDIR/dinov2.vpet" .backbone.layout)" '"huggingface-dinov2"'
  assert_equal "$(header "$BATS_TEST_TMPDIR/dinov2.vpet" .backbone.preprocess_defaults)" \
    "\"$BATS_TEST_TMPDIR/dinov2/preprocessor_config.json\""
  assert_equal "$(header "$BATS_TEST_TMPDIR/dinov2.vpet" .preprocess.resize)" '"crop"'
}

@test "CLIPVisionModel: QuickGELU, pre-norm, eps 1e-5, CLIP's normalisation" {
  matches_reference clip
  assert_equal "$(header "$BATS_TEST_TMPDIR/clip.vpet" .backbone.layout)" '"huggingface-clip"'
  assert_equal "$(header "$BATS_TEST_TMPDIR/clip.vpet" .backbone.act)" '"quick-gelu"'
}

@test "CLIPModel: the image tower of a whole CLIP, its config under vision_config" {
  matches_reference clipmodel
  [[ $extract_output == *"ignored text_model.*: CLIP's text tower"* ]]
}

@test "a sharded snapshot (model.safetensors.index.json) loads as one checkpoint" {
  matches_reference sharded
}

@test "--act overrides config.json; a wrong activation no longer matches" {
  snapshot clip
  local list
  list=$(make_image_list)
  run "$BIN/vit-extract" -m "$BATS_TEST_TMPDIR/clip" -d "$list" --act gelu \
    -o "$BATS_TEST_TMPDIR/gelu.vpet"
  assert_success
  assert_output --partial "--act gelu overrides config.json hidden_act (quick-gelu)"
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$BATS_TEST_TMPDIR/gelu.vpet" \
    "$BATS_TEST_TMPDIR/clip.expected.safetensors" pooled 1e-4
  assert_failure
  run "$BIN/vit-extract" -m "$BATS_TEST_TMPDIR/clip" -d "$list" --act relu -o x.vpet
  assert_failure 2
  assert_output --partial "--act: 'relu' is not one of gelu, gelu-tanh, quick-gelu"
}

@test "an option given wins over preprocessor_config.json" {
  snapshot sharded
  local list
  list=$(make_image_list)
  run "$BIN/vit-extract" -q -m "$BATS_TEST_TMPDIR/sharded" -d "$list" --norm imagenet \
    -o "$BATS_TEST_TMPDIR/imagenet.vpet"
  assert_success
  assert_equal "$(header "$BATS_TEST_TMPDIR/imagenet.vpet" .preprocess.mean)" '[0.485,0.456,0.406]'
  assert_equal "$(header "$BATS_TEST_TMPDIR/imagenet.vpet" .preprocess.interp)" '"bilinear"'
}

# vit-extract refuses snapshot DIR with exit 1 and MESSAGE, writing nothing.
refused() {
  run "$BIN/vit-extract" -m "$1" -d "$(make_image_list)" -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "$2"
  assert [ ! -e "$BATS_TEST_TMPDIR/out.vpet" ]
}

@test "broken snapshots: a missing shard, a tensor in the wrong shard, bad JSON, SwiGLU" {
  snapshot sharded
  local dir=$BATS_TEST_TMPDIR/sharded
  mv "$dir/model-00002-of-00002.safetensors" "$BATS_TEST_TMPDIR/shard2"
  refused "$dir" "model.safetensors.index.json: shard 'model-00002-of-00002.safetensors'"
  assert_output --partial "is missing"
  mv "$BATS_TEST_TMPDIR/shard2" "$dir/model-00002-of-00002.safetensors"
  "$PY" - "$dir/model.safetensors.index.json" <<'PYTHON'
import json, sys
index = json.load(open(sys.argv[1]))
key = sorted(index["weight_map"])[0]
index["weight_map"][key] = "model-00002-of-00002.safetensors"
json.dump(index, open(sys.argv[1], "w"))
PYTHON
  refused "$dir" "is not mapped to this shard by"
  echo '{"weight_map": {"a": "../../etc/passwd"}}' >"$dir/model.safetensors.index.json"
  refused "$dir" "not a file name in the index's folder"
  snapshot dinov2
  echo '{"size": "big"' >"$BATS_TEST_TMPDIR/dinov2/preprocessor_config.json"
  refused "$BATS_TEST_TMPDIR/dinov2" "preprocessor_config.json: not valid JSON"
  echo '{"size": {"height": 28, "width": 32}}' >"$BATS_TEST_TMPDIR/dinov2/preprocessor_config.json"
  refused "$BATS_TEST_TMPDIR/dinov2" "square inputs"
  "$PY" - "$BATS_TEST_TMPDIR/dinov2/config.json" <<'PYTHON'
import json, sys
config = json.load(open(sys.argv[1]))
config["use_swiglu_ffn"] = True
json.dump(config, open(sys.argv[1], "w"))
PYTHON
  rm "$BATS_TEST_TMPDIR/dinov2/preprocessor_config.json"
  refused "$BATS_TEST_TMPDIR/dinov2" "use_swiglu_ffn"
}
