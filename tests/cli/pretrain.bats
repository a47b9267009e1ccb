#!/usr/bin/env bats
# Pre-training from scratch: a random: model spec, --export-backbone turning
# the trained backbone into a model every program takes, and --val-per-class
# splitting one seeded draw into training and validation sets.

load helpers

SPEC=random:width=24,depth=1,heads=2,patch=8,img=32

top1() {
  "$BIN/peft-eval" -q -t 1 "$@" --json | jq .top1
}

@test "a random ViT pre-trains with full; the exported backbone is that model" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 5
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" -q -t 1 -m "$SPEC,seed=3" -d task --method full --epochs 2 --lr 0.01 \
    -b 4 -o full.vpet --export-backbone pre.safetensors
  assert_success
  run "$BIN/vpet-info" --json pre.safetensors
  assert_success
  echo "$output" | jq -e '.metadata.num_heads == "2"'
  # The exported model alone (its head is the new one) classifies as the
  # bundle on the random start does.
  [ "$(top1 -m pre.safetensors -d task)" = "$(top1 -m "$SPEC,seed=3" -a full.vpet -d task)" ]
  # ... and it is a backbone like any other.
  run "$BIN/peft-train" -q -t 1 -m pre.safetensors -d task --method lora --epochs 1 -b 4 -o lora.vpet
  assert_success
  [ -n "$(top1 -m pre.safetensors -a lora.vpet -d task)" ]
  # The same spec is the same backbone; another seed is another.
  run "$BIN/peft-eval" -q -t 1 -m "$SPEC" -a full.vpet -d task
  assert_failure 1
  assert_output --partial "the adapter was trained on backbone"
}

@test "bad random specs and methods that cannot be exported are usage errors" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2 5
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" -q -m random:width=0 -d task --method full -o x.vpet
  assert_failure 2
  assert_output --partial "random:width=0: width=0 is not a positive integer"
  run "$BIN/vit-extract" -q -m random:widht=8 -d task -o x.vpet
  assert_failure 2
  assert_output --partial "unknown key 'widht'"
  run "$BIN/peft-train" -q -m "$SPEC" -d task --method lora -o x.vpet --export-backbone x.safetensors
  assert_failure 2
  assert_output --partial "--export-backbone needs a method that trains the backbone's own weights"
  assert_only_files "task "
}

@test "--per-class and --val-per-class ranges split one draw" {
  local idx=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
  [ -e "$idx" ] || skip "dataset-fashion-mnist not installed"
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" -q -t 1 -m random:width=16,depth=1,heads=2,patch=7,img=28,chans=1 \
    -d "$idx" --classes 3,4 --per-class 0:8 --val "$idx" --val-per-class 8:10 --seed 4 \
    --method linear --epochs 1 -o a.vpet
  assert_success
  run "$BIN/vpet-info" --json a.vpet
  echo "$output" | jq -e '.header.training.train_examples == 16 and .header.training.val_examples == 4'
  run "$BIN/peft-train" -q -m "$SPEC" -d "$idx" --val-per-class 2 --method linear -o b.vpet
  assert_failure 2
  assert_output --partial "--val-per-class needs --val"
  run "$BIN/peft-train" -q -m "$SPEC" -d "$idx" --per-class 5:5 --method linear -o b.vpet
  assert_failure 2
  assert_output --partial "--per-class: in '5:5' the end is not after the start"
}
