#!/usr/bin/env bats
# Per-image outputs: peft-eval --predictions (a vpet stream, TSV) and
# vit-extract -a, checked against peft-eval's own scores and against each
# other, as Python's msgpack_numpy reads them. The task: three colours of
# noisy 32×32 PNGs; the model: the tiny timm ViT of the fixtures.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

# One LoRA adapter for the whole file, and a test set of 12 images.
setup_file() {
  make_colour_task "$BATS_FILE_TMPDIR/train" 8 0
  make_colour_task "$BATS_FILE_TMPDIR/test" 4 1
  "$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/train" --method lora --rank 2 \
    --epochs 3 --lr 1e-2 -b 8 -t 1 -o "$BATS_FILE_TMPDIR/lora.vpet"
}

EVAL=(-q -m "$MODEL" -d "$BATS_FILE_TMPDIR/test" -b 5 -t 1)

@test "--predictions: top-1 agrees with peft-eval's; Python reads the stream" {
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$BATS_FILE_TMPDIR/lora.vpet" --predictions p.vpet \
    --top-k 2 --logits --json
  assert_success
  echo "$output" >report.json
  run "$PY" - <<'PYTHON'
import json, os, msgpack, msgpack_numpy, numpy as np
report = json.load(open("report.json"))
with open("p.vpet", "rb") as f:
    maps = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
header, records, end = maps[0], maps[1:-1], maps[-1]
assert header["kind"] == "predictions" and header["program"] == "peft-eval", header
assert header["classes"] == ["blue", "green", "red"] and header["num_classes"] == 3
assert header["top_k"] == 2 and header["logits"] is True and header["method"] == "lora"
assert header["samples"] == 12 and header["backbone"]["fingerprint"].startswith("sha256:")
assert len(records) == 3 and end == {"format": "vpet-end", "records": 3, "samples": 12}, end
cat = lambda k: np.concatenate([r[k] for r in records])
labels, prediction, logits = cat("labels"), cat("prediction"), cat("logits")
top, probs = cat("top_classes"), cat("top_probs")
paths = sum((r["paths"] for r in records), [])
assert logits.dtype == np.float32 and logits.shape == (12, 3) and top.shape == probs.shape == (12, 2)
# The scores peft-eval printed, image by image.
assert abs(100.0 * np.mean(prediction == labels) - report["top1"]) < 1e-9, report
assert (prediction == logits.argmax(1)).all() and (top[:, 0] == prediction).all()
softmax = np.exp(logits - logits.max(1, keepdims=True))
softmax /= softmax.sum(1, keepdims=True)
assert np.allclose(np.take_along_axis(softmax, top, 1), probs, atol=1e-6)
assert (np.sort(softmax, 1)[:, ::-1][:, :2] == np.take_along_axis(softmax, top, 1)).all()
# Each path is its image's, whose folder names its label.
assert (cat("index") == np.arange(12)).all()
assert [header["classes"][y] for y in labels] == [os.path.basename(os.path.dirname(p)) for p in paths]
print("ok")
PYTHON
  assert_success
  assert_output "ok"
}

@test "--format tsv: the stream's numbers, one line per image" {
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-eval" "${EVAL[@]}" -a "$BATS_FILE_TMPDIR/lora.vpet" --predictions p.vpet --logits \
    --top-k 3
  "$BIN/peft-eval" "${EVAL[@]}" -a "$BATS_FILE_TMPDIR/lora.vpet" --predictions p.tsv \
    --format tsv --logits --top-k 3
  run head -1 p.tsv
  assert_output "$(printf 'index\tpath\tlabel\tprediction\ttop1_class\ttop1_prob\ttop2_class\ttop2_prob\ttop3_class\ttop3_prob\tlogit_0\tlogit_1\tlogit_2')"
  run "$PY" - <<'PYTHON'
import csv, msgpack, msgpack_numpy, numpy as np
maps = list(msgpack.Unpacker(open("p.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False))
cat = lambda k: np.concatenate([r[k] for r in maps[1:-1]])
rows = list(csv.DictReader(open("p.tsv"), delimiter="\t"))
assert len(rows) == 12
assert [int(r["prediction"]) for r in rows] == cat("prediction").tolist()
assert [int(r["label"]) for r in rows] == cat("labels").tolist()
assert [r["path"] for r in rows] == sum((r["paths"] for r in maps[1:-1]), [])
# %.9g: the float32 values read back exactly.
logits = np.array([[float(r[f"logit_{c}"]) for c in range(3)] for r in rows], np.float32)
assert (logits == cat("logits")).all()
probs = np.array([[float(r[f"top{k}_prob"]) for k in (1, 2, 3)] for r in rows], np.float32)
assert (probs == cat("top_probs")).all() and np.allclose(probs.sum(1), 1, atol=1e-6)
print("ok")
PYTHON
  assert_success
  assert_output "ok"
}

@test "the frozen model's own head: --predictions to standard output agrees with its top-1" {
  local list
  list=$(make_image_list)
  run "$BIN/peft-eval" -q -m "$MODEL" -d "$list" --json
  assert_success
  local top1
  top1=$(jq .top1 <<<"$output")
  # Standard output carries the predictions; the table goes to standard error.
  "$BIN/peft-eval" -q -m "$MODEL" -d "$list" --predictions - --format tsv --top-k 1 \
    >"$BATS_TEST_TMPDIR/p.tsv" 2>"$BATS_TEST_TMPDIR/table"
  run cat "$BATS_TEST_TMPDIR/p.tsv"
  assert_line --index 0 "$(printf 'index\tpath\tlabel\tprediction\ttop1_class\ttop1_prob')"
  [ "${#lines[@]}" -eq 4 ]
  run grep -c "^frozen " "$BATS_TEST_TMPDIR/table"
  assert_output 1
  local right
  right=$(tail -n +2 "$BATS_TEST_TMPDIR/p.tsv" | awk -F '\t' '$3 == $4' | wc -l)
  awk -v right="$right" -v top1="$top1" 'BEGIN { exit !((right * 100 / 3 - top1) ^ 2 < 1e-12) }'
}

@test "vit-extract -a: logits agree with peft-eval --logits; the features feed the head" {
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-eval" "${EVAL[@]}" -a "$BATS_FILE_TMPDIR/lora.vpet" --predictions p.vpet --logits
  run "$BIN/vit-extract" "${EVAL[@]}" -a "$BATS_FILE_TMPDIR/lora.vpet" --feature logits -o l.vpet
  assert_success
  run "$BIN/vit-extract" "${EVAL[@]}" -a "$BATS_FILE_TMPDIR/lora.vpet" -o f.vpet
  assert_success
  # Without the adapter the frozen model's features differ.
  run "$BIN/vit-extract" "${EVAL[@]}" -o frozen.vpet
  assert_success
  run "$PY" - "$BATS_FILE_TMPDIR/lora.vpet" <<'PYTHON'
import sys, msgpack, msgpack_numpy, numpy as np
read = lambda p: list(msgpack.Unpacker(open(p, "rb"), object_hook=msgpack_numpy.decode, raw=False))
cat = lambda maps, k: np.concatenate([r[k] for r in maps[1:-1]])
p, l, f, frozen = read("p.vpet"), read("l.vpet"), read("f.vpet"), read("frozen.vpet")
_, bundle = read(sys.argv[1])
assert l[0]["adapter"] == sys.argv[1] and l[0]["method"] == "lora" and l[0]["feature"] == "logits"
assert (cat(l, "index") == cat(p, "index")).all() and (cat(l, "labels") == cat(p, "labels")).all()
assert np.allclose(cat(l, "features"), cat(p, "logits"), atol=1e-5)
features = cat(f, "features")
assert features.shape == (12, 48)
head = features @ bundle["head.weight"].T + bundle["head.bias"]
assert np.allclose(head, cat(p, "logits"), atol=1e-4)
assert not np.allclose(features, cat(frozen, "features"), atol=1e-3)
print("ok")
PYTHON
  assert_success
  assert_output "ok"
}

@test "usage errors: options that need --predictions, several adapters, bad values, -a features" {
  local a=$BATS_FILE_TMPDIR/lora.vpet
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$a" --format tsv
  assert_failure 2
  assert_output --partial "--format needs --predictions"
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$a" --logits
  assert_failure 2
  assert_output --partial "--logits needs --predictions"
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$a" -a "$a" --predictions "$BATS_TEST_TMPDIR/p.vpet"
  assert_failure 2
  assert_output --partial "--predictions takes one adapter"
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$a" --predictions "$BATS_TEST_TMPDIR/p.vpet" --format csv
  assert_failure 2
  assert_output --partial "--format: 'csv' is not one of vpet, tsv"
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$a" --predictions "$BATS_TEST_TMPDIR/p.vpet" --top-k 0
  assert_failure 2
  assert_output --partial "--top-k must be at least 1"
  run "$BIN/peft-eval" "${EVAL[@]}" -a "$a" --predictions - --format tsv --json
  assert_failure 2
  assert_output --partial "leaves no room for --json"
  run "$BIN/vit-extract" "${EVAL[@]}" -a "$a" --feature tokens -o "$BATS_TEST_TMPDIR/t.vpet"
  assert_failure 2
  assert_output --partial "--feature is cls"
  assert_only_files
}
