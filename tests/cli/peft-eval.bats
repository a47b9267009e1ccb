#!/usr/bin/env bats
# peft-eval: interface, the frozen model's own head, adapters, fingerprints, errors.

load helpers

FMNIST=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz

@test "--help, --version, bad option, missing arguments" {
  run "$BIN/peft-eval" --help
  assert_success
  assert_output --partial "--adapter"
  assert_output --partial "--confusion"
  run "$BIN/peft-eval" --version
  assert_success
  run "$BIN/peft-eval" --bogus
  assert_failure 2
  run "$BIN/peft-eval" -m "$FIXTURES/vit/a_timm.safetensors"
  assert_failure 2
  assert_output --partial "missing -d/--data"
}

@test "the frozen model's own head: top-1 equals torchvision's argmax" {
  local list
  list=$(make_image_list)
  run "$BIN/peft-eval" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" --json
  assert_success
  echo "$output" >"$BATS_TEST_TMPDIR/report.json"
  run "$PY" - "$BATS_TEST_TMPDIR/report.json" "$FIXTURES/vit/expected_a.safetensors" <<'PY'
import json, struct, sys
import numpy as np
report = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
entry = json.loads(data[8:8 + n])["e6/image.logits"]
b, e = entry["data_offsets"]
logits = np.frombuffer(data[8 + n + b:8 + n + e], np.float32).reshape(entry["shape"])
top1 = 100.0 * np.mean(logits.argmax(1) == np.array([0, 1, 2]))
for key in ("top1", "top5", "n", "params_trainable", "params_trainable_with_head",
            "params_backbone", "images_per_second", "peak_memory_bytes"):
    assert key in report, key
assert report["n"] == 3 and report["params_trainable"] == 0, report
assert abs(report["top1"] - top1) < 1e-9, (report["top1"], top1)
print("ok")
PY
  assert_success
  assert_output "ok"
}

@test "--confusion writes a TSV matrix atomically" {
  local list
  list=$(make_image_list)
  run "$BIN/peft-eval" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$list" \
    --confusion "$BATS_TEST_TMPDIR/confusion.tsv"
  assert_success
  run head -1 "$BATS_TEST_TMPDIR/confusion.tsv"
  assert_output "$(printf 'true\\predicted\t0\t1\t2\t3\t4')"
  [ "$(wc -l <"$BATS_TEST_TMPDIR/confusion.tsv")" -eq 6 ]
}

@test "a checkpoint without a head needs an adapter" {
  local list
  list=$(make_image_list)
  run "$BIN/peft-eval" -m "$FIXTURES/vit/b_hf/model.safetensors" -d "$list"
  assert_failure 1
  assert_output --partial "no head"
}

@test "an adapter: trained, evaluated, refused on another backbone" {
  [ -e "$FMNIST" ] || skip "dataset-fashion-mnist not installed"
  run "$BIN/peft-train" -q -m "$FIXTURES/vit/a_timm.safetensors" -d "$FMNIST" --classes 0,1 \
    --limit 64 --method linear --epochs 2 -o "$BATS_TEST_TMPDIR/linear.vpet"
  assert_success
  run "$BIN/peft-eval" -q -m "$FIXTURES/vit/a_timm.safetensors" -a "$BATS_TEST_TMPDIR/linear.vpet" \
    -d "$FMNIST" --classes 0,1 --limit 50 --json
  assert_success
  assert_output --partial '"method":"linear"'
  assert_output --partial '"params_trainable_with_head":98'
  run "$BIN/peft-eval" -q -m "$FIXTURES/vit/b_timm.safetensors" -a "$BATS_TEST_TMPDIR/linear.vpet" \
    -d "$FMNIST" --classes 0,1 --limit 50
  assert_failure 1
  assert_output --partial "linear.vpet"
  assert_output --regexp "sha256:[0-9a-f]{16}.*sha256:[0-9a-f]{16}"
}

@test "a missing or corrupt adapter fails with exit 1 naming it" {
  local list
  list=$(make_image_list)
  run "$BIN/peft-eval" -m "$FIXTURES/vit/a_timm.safetensors" -a "$BATS_TEST_TMPDIR/none.vpet" -d "$list"
  assert_failure 1
  assert_output --partial "none.vpet"
  head -c 500 /dev/urandom >"$BATS_TEST_TMPDIR/junk.vpet"
  run "$BIN/peft-eval" -m "$FIXTURES/vit/a_timm.safetensors" -a "$BATS_TEST_TMPDIR/junk.vpet" -d "$list"
  assert_failure 1
  assert_output --partial "junk.vpet"
}

@test "two masked memory tasks in one pass score as each does alone" {
  [ -e "$FMNIST" ] || skip "dataset-fashion-mnist not installed"
  local m=$FIXTURES/vit/a_timm.safetensors
  for pair in "0,1 t1" "2,3 t2"; do
    set -- $pair
    run "$BIN/peft-train" -q -m "$m" -d "$FMNIST" --classes "$1" --limit 64 --method memory \
      --memory-mode masked --memory 2 --epochs 2 -o "$BATS_TEST_TMPDIR/$2.vpet"
    assert_success
  done
  local data=(-d "$FMNIST" --classes 4,5 --limit 40)
  "$BIN/peft-eval" -q -m "$m" -a "$BATS_TEST_TMPDIR/t1.vpet" "${data[@]}" --json >"$BATS_TEST_TMPDIR/a1.json"
  "$BIN/peft-eval" -q -m "$m" -a "$BATS_TEST_TMPDIR/t2.vpet" "${data[@]}" --json >"$BATS_TEST_TMPDIR/a2.json"
  "$BIN/peft-eval" -q -m "$m" -a "$BATS_TEST_TMPDIR/t1.vpet" -a "$BATS_TEST_TMPDIR/t2.vpet" \
    "${data[@]}" --json >"$BATS_TEST_TMPDIR/both.json"
  # --original: the checkpoint's head from the same pass, as peft-eval scores it alone.
  "$BIN/peft-eval" -q -m "$m" -a "$BATS_TEST_TMPDIR/t1.vpet" -a "$BATS_TEST_TMPDIR/t2.vpet" \
    "${data[@]}" --json --original >"$BATS_TEST_TMPDIR/original.json"
  "$BIN/peft-eval" -q -m "$m" "${data[@]}" --json >"$BATS_TEST_TMPDIR/frozen.json"
  run "$BIN/peft-eval" -q -m "$m" "${data[@]}" --original
  assert_failure 2
  run "$PY" - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = sys.argv[1]
alone = [json.load(open(f"{d}/a{i}.json")) for i in (1, 2)]
both = [json.loads(line) for line in open(f"{d}/both.json")]
assert len(both) == 2
# One shape for one task and many: the keys man/peft-eval.1 lists, no more.
keys = {"method", "adapter", "top1", "top5", "n", "per_class", "params_trainable",
        "params_trainable_with_head", "params_backbone", "params_percent",
        "images_per_second", "peak_memory_bytes", "precision", "seed", "data"}
assert all(set(r) == keys for r in alone + both), [set(r) ^ keys for r in alone + both]
original = [json.loads(line) for line in open(f"{d}/original.json")]
frozen = json.load(open(f"{d}/frozen.json"))
assert [r["method"] for r in original] == ["memory", "memory", "frozen"], original
assert original[2]["top1"] == frozen["top1"] and original[2]["per_class"] == frozen["per_class"]
assert original[0]["top1"] == both[0]["top1"] and original[1]["top1"] == both[1]["top1"]
for a, b in zip(alone, both):
    assert a["top1"] == b["top1"] and a["per_class"] == b["per_class"], (a, b)
    assert b["params_trainable"] == 2 * 2 * 48 + 48, b
    assert b["seed"] == a["seed"] and isinstance(b["seed"], int) and b["data"] == a["data"], b
print("ok")
PY
  assert_success
  assert_output "ok"
}

# Extension (the memory paper's Table 1, starred cells): the child's class
# token also attends to its parent's; it carries the parent, so it runs
# alone, and beside the parent (in either order) the parent is shared.
@test "an extending memory task scores beside its parent as alone" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 0
  local m=$FIXTURES/vit/a_timm.safetensors d=$BATS_TEST_TMPDIR
  local train=("$BIN/peft-train" -q -m "$m" -d "$d/task" --method memory --memory 2 -b 6
    --epochs 2)
  "${train[@]}" -o "$d/parent.vpet"
  "${train[@]}" --memory-mode extend --extends "$d/parent.vpet" --seed 1 -o "$d/child.vpet"
  run "${train[@]}" --memory-mode extend --extends "$d/nothing.vpet" -o "$d/bad.vpet"
  assert_failure 1
  assert_output --partial "nothing.vpet"
  run "${train[@]}" --memory-mode extend -o "$d/bad.vpet"
  assert_failure 2
  assert_output --partial "--extends"
  run "${train[@]}" --extends "$d/parent.vpet" -o "$d/bad.vpet"
  assert_failure 2
  assert_output --partial "--extends is for --memory-mode extend"
  run "${train[@]}" --memory-mode extend --extends "$d/child.vpet" -o "$d/bad.vpet"
  assert_failure 1
  assert_output --partial "child.vpet: --extends takes masked memory bundles"
  [ ! -e "$d/bad.vpet" ]
  local eval=("$BIN/peft-eval" -q -m "$m" -d "$d/task" --json)
  "${eval[@]}" -a "$d/parent.vpet" >"$d/parent.json"
  "${eval[@]}" -a "$d/child.vpet" >"$d/child.json"
  "${eval[@]}" -a "$d/parent.vpet" -a "$d/child.vpet" >"$d/both.json"
  "${eval[@]}" -a "$d/child.vpet" -a "$d/parent.vpet" >"$d/reversed.json"
  run "$PY" - "$d" <<'PY'
import json, sys, msgpack, msgpack_numpy
d = sys.argv[1]
alone = {name: json.load(open(f"{d}/{name}.json")) for name in ("parent", "child")}
both = [json.loads(line) for line in open(f"{d}/both.json")]
rev = [json.loads(line) for line in open(f"{d}/reversed.json")]
for got, name in [(both[0], "parent"), (both[1], "child"), (rev[0], "child"), (rev[1], "parent")]:
    assert got["top1"] == alone[name]["top1"] and got["per_class"] == alone[name]["per_class"], name
header, record = msgpack.Unpacker(open(f"{d}/child.vpet", "rb"),
                                  object_hook=msgpack_numpy.decode, raw=False)
parents = header["config"]["parents"]
assert len(parents) == 1 and parents[0]["fingerprint"].startswith("sha256:"), parents
assert "extends" not in header["config"], header["config"]
assert record["structure.parent.0.memory"].shape == (2, 2, 48), record.keys()
assert header["training"]["params_trainable"] == 2 * 2 * 48 + 48
print("ok")
PY
  echo "$output"
  assert_output "ok"
}

@test "class names in list files: val and test sets in another order map onto the training classes" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 6
  local t=$BATS_TEST_TMPDIR name
  # The same images as numbers (blue 0, green 1, red 2) and as names, the
  # named test list meeting its classes in another order than training.
  for name in blue green red; do
    for i in 0 1 2 3; do echo "task/$name/$i.png $name"; done >>"$t/train_named.txt"
  done
  for name in red blue green; do
    for i in 4 5; do echo "task/$name/$i.png $name"; done >>"$t/test_named.txt"
  done
  sed 's/ blue$/ 0/; s/ green$/ 1/; s/ red$/ 2/' "$t/train_named.txt" >"$t/train.txt"
  sed 's/ blue$/ 0/; s/ green$/ 1/; s/ red$/ 2/' "$t/test_named.txt" >"$t/test.txt"
  local m=$FIXTURES/vit/a_timm.safetensors
  run "$BIN/peft-train" -q -m "$m" -d "$t/train_named.txt" --val "$t/test_named.txt" \
    --method linear --epochs 2 --lr 1e-2 --seed 1 -o "$t/named.vpet"
  assert_success
  run "$BIN/peft-train" -q -m "$m" -d "$t/train.txt" --val "$t/test.txt" \
    --method linear --epochs 2 --lr 1e-2 --seed 1 -o "$t/numbered.vpet"
  assert_success
  run same_tensors "$t/named.vpet" "$t/numbered.vpet"
  assert_success
  run "$BIN/peft-eval" -q -m "$m" -a "$t/named.vpet" -d "$t/test_named.txt" --json
  assert_success
  local named=$output
  run "$BIN/peft-eval" -q -m "$m" -a "$t/numbered.vpet" -d "$t/test.txt" --json
  assert_success
  # The same scores, under names (blue, green, red) and numbers (0, 1, 2).
  local scores='[.n, .top1, [.per_class[]]]'
  assert_equal "$(jq -c "$scores" <<<"$named")" "$(jq -c "$scores" <<<"$output")"
  assert_equal "$(jq -c '.per_class | keys_unsorted' <<<"$named")" '["blue","green","red"]' 
  # A class the training set lacks is named with the file and line.
  echo "task/red/5.png crimson" >>"$t/test_named.txt"
  run "$BIN/peft-eval" -q -m "$m" -a "$t/named.vpet" -d "$t/test_named.txt"
  assert_failure 1
  assert_output --partial "test_named.txt:7: class 'crimson' is not one of the 3 classes trained on"
  run "$BIN/peft-train" -q -m "$m" -d "$t/train_named.txt" --val "$t/test_named.txt" \
    --method linear --epochs 1 -o "$t/x.vpet"
  assert_failure 1
  assert_output --partial "test_named.txt:7: class 'crimson'"
  assert [ ! -e "$t/x.vpet" ]
}
