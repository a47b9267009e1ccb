#!/usr/bin/env bats
# peft-train --recipe: the values against tests/cli/recipe_table.py (its own
# table, each row citing the official file), explicit options over recipe
# values, the record in the bundle, and the man page's list kept current.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

@test "every recipe resolves to the papers' values (recipe_table.py)" {
  run "$PY" "$BATS_TEST_DIRNAME/recipe_table.py" "$BIN/peft-train"
  assert_success
  assert_output --partial "recipes match"
}

@test "--recipe list: name, method, benchmark, source" {
  run "$BIN/peft-train" --recipe list
  assert_success
  assert_line --regexp $'^spt-lora-vtab1k\tspt-lora\tVTAB-1k\t.*ziplab/SPT@e385f67'
  assert_line --regexp $'^vpt-deep-fgvc\tvpt-deep\tFGVC\t.*KMnP/vpt@4410440'
  assert_line --regexp $'^self-prompt-mae-vtab1k\tvpt-deep\tVTAB-1k\t.*Self-Prompt-Tuning'
}

@test "an unknown recipe is a usage error listing the known ones" {
  run "$BIN/peft-train" --recipe nope -m x -d y -o z
  assert_failure 2
  assert_output --partial "unknown recipe 'nope'"
  assert_output --partial "spt-lora-vtab1k"
  assert_output --partial "memory-cifar100"
  run "$BIN/peft-train" --print-settings --method linear
  assert_failure 2
  assert_output --partial "--print-settings needs --recipe"
}

@test "an option given overrides the recipe's value, wherever it stands" {
  run "$BIN/peft-train" --lr 0.5 --recipe vpt-deep-fgvc -b 16 --wd-prompts=false --print-settings
  assert_success
  assert_line --regexp $'^--lr\t0.5\tcommand line\t'
  assert_line --regexp $'^--batch\t16\tcommand line\t'
  assert_line --regexp $'^--wd-prompts\tfalse\tcommand line\t'
  assert_line --regexp $'^--wd\t0.01\trecipe\t'
  assert_line --regexp $'^--method\tvpt-deep\trecipe\t'
}

@test "the bundle records the recipe, its settings and what was overridden; -v prints them" {
  make_colour_task "$BATS_TEST_TMPDIR/train" 4 0
  cd "$BATS_TEST_TMPDIR"
  # The tiny model's input is 32 px; one short epoch.
  run "$BIN/peft-train" -m "$MODEL" -d train -t 1 --recipe lora-vtab1k --img-size 32 --epochs 1 \
    --warmup 0 -b 6 -v -o r.vpet
  assert_success
  assert_output --partial "recipe lora-vtab1k"
  assert_output --partial "--epochs 1  (command line; the recipe's 100)"
  assert_output --partial "--optimizer adamw  (configs/vtab_supervised_spt_lora.sh"
  run "$PY" - <<'PYTHON'
import msgpack, msgpack_numpy
header, _ = msgpack.Unpacker(open("r.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False)
recipe = header["training"]["recipe"]
assert recipe["name"] == "lora-vtab1k" and recipe["method"] == "lora", recipe
assert recipe["settings"]["lr"] == "0.001" and recipe["settings"]["epochs"] == "1", recipe
assert recipe["overridden"] == {"img-size": "224", "epochs": "100", "warmup": "10",
                                "batch": "64"}, recipe["overridden"]
assert header["config"]["rank"] == 8 and header["config"]["alpha"] == 8, header["config"]
assert header["preprocess"]["interp"] == "bicubic", header["preprocess"]
print("ok")
PYTHON
  assert_success
  assert_output ok
}

@test "the man page's RECIPES list is the one peft-train prints (scripts/man-recipes.sh)" {
  cp "$BATS_TEST_DIRNAME/../../man/peft-train.1" "$BATS_TEST_TMPDIR/page.1"
  "$BATS_TEST_DIRNAME/../../scripts/man-recipes.sh" "$BIN/peft-train" "$BATS_TEST_TMPDIR/page.1"
  run diff "$BATS_TEST_DIRNAME/../../man/peft-train.1" "$BATS_TEST_TMPDIR/page.1"
  assert_success
}
