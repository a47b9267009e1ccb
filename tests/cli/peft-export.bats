#!/usr/bin/env bats
# peft-export --merge: LoRA (q,v and every target), DoRA, SSF, SPT-LoRA and BitFit
# bundles, merged and written in the timm, torchvision and HF layouts, give
# the adapted model's logits in torchvision's VisionTransformer and in
# forwards written from timm's and transformers' code (merge_reference.py),
# in vpet, and peft-eval's logits and top-1; what cannot be merged is refused, and
# nothing is left half-written.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors
PRE=(--resize squash --interp bilinear --norm imagenet)

setup_file() {
  local d=$BATS_FILE_TMPDIR
  make_colour_task "$d/task" 4 0
  # The same images in a fixed order.
  local class
  for class in blue green red; do
    for i in 0 1 2 3; do echo "$d/task/$class/$i.png $class"; done
  done >"$d/list.txt"
  train() {
    local name=$1
    shift
    "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" "${PRE[@]}" -b 6 -t 1 --epochs 3 --lr 0.05 \
      --seed 1 -o "$d/$name.vpet" "$@"
  }
  train lora-qv --method lora --rank 2 --alpha 4 --targets q,v --lora-dropout 0
  train lora-all --method lora --rank 2 --targets q,k,v,o,fc1,fc2
  train lora-rs --method lora --rank 4 --alpha 2 --lora-scale rs --targets q,k,fc1 --lora-dropout 0
  train bitfit --method bitfit
  train dora-qv --method dora --rank 2 --alpha 4 --targets q,v --lora-dropout 0
  train dora-late --method dora --rank 2 --targets q,k,fc1 --layers 1
  train ssf --method ssf
  "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$d/task" "${PRE[@]}" --batches 2 -b 6 --budget 3k \
    -o "$d/plan.vpet"
  train spt-lora --method spt-lora --plan "$d/plan.vpet"
  train vpt --method vpt-deep --prompts 2 --epochs 1
}

# merge_parity BUNDLE OUT: the bundle merged in each layout into folder OUT,
# checked against the unmerged reference in Python (OUT/ref.safetensors),
# read back by vpet, and peft-eval's logits and top-1 of the bundle the reference's.
merge_parity() {
  local d=$BATS_FILE_TMPDIR bundle=$1 out=$2
  mkdir -p "$out/hf"
  run "$BIN/peft-export" -q -m "$MODEL" -a "$bundle" --merge --layout torchvision \
    -o "$out/tv.safetensors"
  assert_success
  run "$BIN/peft-export" -q -m "$MODEL" -a "$bundle" --merge -o "$out/timm.safetensors"
  assert_success
  run "$BIN/peft-export" -q -m "$MODEL" -a "$bundle" --merge --layout hf \
    -o "$out/hf/model.safetensors"
  assert_success
  [ -f "$out/hf/config.json" ]
  run "$PY" "$BATS_TEST_DIRNAME/merge_reference.py" "$MODEL" "$bundle" "$out/tv.safetensors" \
    "$out/timm.safetensors" "$out/hf" "$d/list.txt" "$out/ref.safetensors"
  echo "$output"
  assert_success
  local top1 moved
  top1=$(echo "$output" | sed -n 's/^top1 //p')
  # The update moved the logits: the parity is not that of the frozen model.
  moved=$(echo "$output" | sed -n 's/.*moves the logits by //p')
  "$PY" -c "import sys; sys.exit(0 if float('$moved') > 1e-3 else 1)"
  # vpet reads its own exports in every layout as the same model.
  local file
  for file in tv.safetensors timm.safetensors hf; do
    run "$BIN/vit-extract" -q -m "$out/$file" -d "$d/list.txt" "${PRE[@]}" --feature logits \
      -o "$out/logits.vpet"
    assert_success
    run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$out/logits.vpet" "$out/ref.safetensors" ref \
      1e-4
    assert_success
  done
  # peft-eval's logits of the unmerged bundle are the merged models' too.
  run "$BIN/peft-eval" -q -m "$MODEL" -a "$bundle" -d "$d/list.txt" "${PRE[@]}" --json \
    --predictions "$out/predictions.vpet" --logits
  assert_success
  local report=$output
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$out/predictions.vpet" "$out/ref.safetensors" \
    ref 1e-4 --field logits
  assert_success
  output=$report
  "$PY" -c "import json, sys; r = json.loads(sys.argv[1]); sys.exit(0 if abs(r['top1'] - $top1) < 1e-9 else 1)" \
    "$output"
}

# peft_round_trip NAME: --peft's folder, applied by peft's LoRA forward in
# Python, gives the bundle's logits; --from-peft of it gives them too.
peft_round_trip() {
  local d=$BATS_FILE_TMPDIR name=$1 out=$BATS_TEST_TMPDIR
  merge_parity "$d/$name.vpet" "$out/original"
  run "$BIN/peft-export" -q -m "$MODEL" -a "$d/$name.vpet" --peft "$out/peft"
  assert_success
  run "$PY" "$BATS_TEST_DIRNAME/peft_reference.py" "$MODEL" "$out/peft" "$d/list.txt" \
    "$out/original/ref.safetensors"
  echo "$output"
  assert_success
  run "$BIN/peft-export" -q -m "$MODEL" --from-peft "$out/peft" -o "$out/back.vpet"
  assert_success
  merge_parity "$out/back.vpet" "$out/back"
  run "$PY" "$BATS_TEST_DIRNAME/compare_stream.py" "$out/original/logits.vpet" \
    "$out/back/ref.safetensors" ref 1e-4
  assert_success
}

@test "--help, --version, missing arguments, bad --layout" {
  run "$BIN/peft-export" --help
  assert_success
  assert_output --partial "--merge"
  assert_output --partial "--layout"
  run "$BIN/peft-export" --version
  assert_success
  run "$BIN/peft-export" -m "$MODEL" --merge -o x.safetensors
  assert_failure 2
  assert_output --partial "missing -a/--adapter"
  run "$BIN/peft-export" -m "$MODEL" -a "$BATS_FILE_TMPDIR/bitfit.vpet" -o x.safetensors
  assert_failure 2
  assert_output --partial "missing --merge"
  run "$BIN/peft-export" -m "$MODEL" -a "$BATS_FILE_TMPDIR/bitfit.vpet" --merge --layout jax \
    -o x.safetensors
  assert_failure 2
  assert_output --partial "--layout must be timm, torchvision or hf"
  run "$BIN/peft-export" -m "$MODEL" -a "$BATS_FILE_TMPDIR/bitfit.vpet" --merge --layout hf
  assert_failure 2
  assert_output --partial "config.json"
}

@test "merge parity: LoRA on q,v" {
  merge_parity "$BATS_FILE_TMPDIR/lora-qv.vpet" "$BATS_TEST_TMPDIR"
}

@test "merge parity: LoRA on q,k,v,o,fc1,fc2" {
  merge_parity "$BATS_FILE_TMPDIR/lora-all.vpet" "$BATS_TEST_TMPDIR"
}

# DoRA: the merged files against merge_reference.py's unmerged DoRA, and
# --peft's use_dora folder through peft_reference.py's DoraLinearLayer forward
# (on qkv with a part left out, and in one block of two).
@test "DoRA: merge parity in every layout, and peft's use_dora forward of --peft's folder" {
  local d=$BATS_FILE_TMPDIR out=$BATS_TEST_TMPDIR name
  for name in dora-qv dora-late; do
    merge_parity "$d/$name.vpet" "$out/$name"
    run "$BIN/peft-export" -m "$MODEL" -a "$d/$name.vpet" --peft "$out/$name/peft"
    assert_success
    assert_output --partial "DoRA modules for peft"
    run "$PY" -c 'import json, sys; c = json.load(open(sys.argv[1])); sys.exit(0 if c["use_dora"] else 1)' \
      "$out/$name/peft/adapter_config.json"
    assert_success
    run "$PY" "$BATS_TEST_DIRNAME/peft_reference.py" "$MODEL" "$out/$name/peft" "$d/list.txt" \
      "$out/$name/ref.safetensors"
    echo "$output"
    assert_success
  done
  # Only block 1 is adapted: qkv and fc1 of block 1, nothing of block 0.
  run "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["target_modules"])' \
    "$out/dora-late/peft/adapter_config.json"
  assert_output "['blocks.1.attn.qkv', 'blocks.1.mlp.fc1']"
}

@test "merge parity: SSF (each scale and shift folded into the weights before it)" {
  merge_parity "$BATS_FILE_TMPDIR/ssf.vpet" "$BATS_TEST_TMPDIR"
}

@test "merge parity: SPT-LoRA" {
  merge_parity "$BATS_FILE_TMPDIR/spt-lora.vpet" "$BATS_TEST_TMPDIR"
}

@test "merge parity: BitFit" {
  merge_parity "$BATS_FILE_TMPDIR/bitfit.vpet" "$BATS_TEST_TMPDIR"
}

@test "peft round trip: LoRA on q,v (alpha 4, rank 2)" {
  peft_round_trip lora-qv
  # Two of qkv's thirds: one peft LoRA of rank 4 there, lora_alpha 8.
  run "$PY" -c 'import json, sys; c = json.load(open(sys.argv[1]))
assert c["r"] == 2 and c["lora_alpha"] == 4, c
assert c["rank_pattern"] == {"attn.qkv": 4} and c["alpha_pattern"] == {"attn.qkv": 8}, c
assert c["target_modules"] == ["blocks.0.attn.qkv", "blocks.1.attn.qkv"], c
assert c["modules_to_save"] == ["head"] and c["peft_type"] == "LORA", c' \
    "$BATS_TEST_TMPDIR/peft/adapter_config.json"
  assert_success
}

@test "peft round trip: LoRA on q,k,v,o,fc1,fc2" {
  peft_round_trip lora-all
}

# rsLoRA: alpha / √r. The fused qkv's LoRA has rank 2·4 there, so its alpha
# is √2·2 for peft's lora_alpha / √r to be vpet's 2 / √4.
@test "peft round trip and merge: rsLoRA (--lora-scale rs) on q,k,fc1" {
  peft_round_trip lora-rs
  run "$PY" -c 'import json, math, sys; c = json.load(open(sys.argv[1]))
assert c["use_rslora"] is True and c["r"] == 4 and c["lora_alpha"] == 2, c
assert c["rank_pattern"] == {"attn.qkv": 8}, c
assert abs(c["alpha_pattern"]["attn.qkv"] - 2 * math.sqrt(2)) < 1e-12, c' \
    "$BATS_TEST_TMPDIR/peft/adapter_config.json"
  assert_success
}

@test "--peft refuses another method; --from-peft refuses what vpet's LoRA cannot be" {
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-export" -m "$MODEL" -a "$BATS_FILE_TMPDIR/bitfit.vpet" --peft peft
  assert_failure 1
  assert_output --partial "bitfit.vpet: --peft exports LoRA and DoRA bundles; this one is bitfit"
  run "$BIN/peft-export" -q -m "$MODEL" -a "$BATS_FILE_TMPDIR/lora-all.vpet" --peft peft
  assert_success
  # edit KEY=PYTHON-VALUE: a copy of the folder with adapter_config.json changed.
  edit() {
    rm -rf bad && cp -r peft bad
    "$PY" -c 'import json, sys
c = json.load(open("bad/adapter_config.json")); c[sys.argv[1]] = eval(sys.argv[2])
json.dump(c, open("bad/adapter_config.json", "w"))' "$1" "$2"
  }
  edit peft_type '"IA3"'
  run "$BIN/peft-export" -m "$MODEL" --from-peft bad -o back.vpet
  assert_failure 1
  assert_output --partial "bad/adapter_config.json: peft_type is 'IA3'; vpet imports LoRA adapters only"
  edit target_modules '["blocks.0.attn.qkv"]'
  run "$BIN/peft-export" -m "$MODEL" --from-peft bad -o back.vpet
  assert_failure 1
  assert_output --partial "LoRA on 'blocks.0.attn.proj', which bad/adapter_config.json's target_modules does not name"
  edit r 3
  run "$BIN/peft-export" -m "$MODEL" --from-peft bad -o back.vpet
  assert_failure 1
  assert_output --partial "'blocks.0.attn.proj' has rank 2, but bad/adapter_config.json gives it r 3"
  edit use_dora True
  run "$BIN/peft-export" -m "$MODEL" --from-peft bad -o back.vpet
  assert_failure 1
  assert_output --partial "DoRA"
  # A DoRA bundle without a magnitude, or with a rank that is no number: the
  # bundle and what is wrong, not a library's message.
  "$PY" - "$BATS_FILE_TMPDIR/dora-qv.vpet" <<'PYTHON'
import sys, msgpack, msgpack_numpy
header, record = msgpack.Unpacker(open(sys.argv[1], "rb"), object_hook=msgpack_numpy.decode,
                                  raw=False)
del record["blocks.0.lora_q.magnitude"]
pack = lambda *maps: b"".join(msgpack.packb(m, default=msgpack_numpy.encode) for m in maps)
open("no-magnitude.vpet", "wb").write(pack(header, record))
header["config"]["rank"] = "two"
open("bad-rank.vpet", "wb").write(pack(header, record))
PYTHON
  run "$BIN/peft-export" -m "$MODEL" -a no-magnitude.vpet --peft peft-bad
  assert_failure 1
  assert_output --partial "no-magnitude.vpet: the dora bundle lacks the tensor 'blocks.0.lora_q.magnitude'"
  run "$BIN/peft-export" -m "$MODEL" -a bad-rank.vpet --peft peft-bad
  assert_failure 1
  assert_output --partial "bad-rank.vpet: config key 'rank' must be an integer"
  rm no-magnitude.vpet bad-rank.vpet
  run "$BIN/peft-export" -m "$FIXTURES/vit/b_timm.safetensors" --from-peft peft -o back.vpet
  assert_failure 1
  assert_output --partial "adapter_model.safetensors"
  assert_only_files bad peft
}

@test "a bundle that cannot be merged is refused, naming it and why; nothing is written" {
  cd "$BATS_TEST_TMPDIR"
  mkdir hf
  run "$BIN/peft-export" -m "$MODEL" -a "$BATS_FILE_TMPDIR/vpt.vpet" --merge --layout hf \
    -o hf/model.safetensors
  assert_failure 1
  assert_output --partial "vpt.vpet: vpt-deep cannot be merged into the backbone: its prompts"
  assert_only_files hf
  [ -z "$(ls -A hf)" ]
}

@test "a bundle of another backbone is refused" {
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-export" -m "$FIXTURES/vit/b_timm.safetensors" -a "$BATS_FILE_TMPDIR/bitfit.vpet" \
    --merge -o out.safetensors
  assert_failure 1
  assert_output --partial "bitfit.vpet: the adapter was trained on backbone"
  assert_only_files
}

@test "a layout that cannot express the model is refused, naming what it lacks" {
  cd "$BATS_TEST_TMPDIR"
  # Hugging Face's ViT has LayerNorm eps 1e-12; torchvision's is fixed at 1e-6.
  "$BIN/peft-train" -q -m "$FIXTURES/vit/a_hf/model.safetensors" -d "$BATS_FILE_TMPDIR/task" \
    "${PRE[@]}" --method linear --epochs 1 -o linear.vpet
  run "$BIN/peft-export" -m "$FIXTURES/vit/a_hf/model.safetensors" -a linear.vpet --merge \
    --layout torchvision -o out.safetensors
  assert_failure 1
  assert_output --partial "torchvision's ViT cannot express LayerNorm eps 1e-12 (its eps is 1e-6)"
  assert_only_files linear.vpet
  # timm takes it, eps recorded; vpet reads it back with the new head.
  run "$BIN/peft-export" -q -m "$FIXTURES/vit/a_hf/model.safetensors" -a linear.vpet --merge \
    -o out.safetensors
  assert_success
  run "$BIN/vpet-info" --json out.safetensors
  assert_success
  assert_output --partial '"layer_norm_eps": "9.9999999999999998e-13"'
}
