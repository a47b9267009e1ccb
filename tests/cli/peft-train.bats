#!/usr/bin/env bats
# peft-train: interface, errors, resume and interruption, and the bundle as
# Python reads it. The task: three colours of noisy 32×32 PNGs; the model:
# the tiny timm ViT of the fixtures.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

# train/ and val/ folders of class folders under $BATS_TEST_TMPDIR.
make_task() {
  make_colour_task "$BATS_TEST_TMPDIR/train" 8 0
  make_colour_task "$BATS_TEST_TMPDIR/val" 4 1
}

TRAIN=(-q -m "$MODEL" --batch 8 -t 1)

@test "--help lists every option with its default" {
  run "$BIN/peft-train" --help
  assert_success
  for option in --method --epochs --lr --wd --wd-head --wd-prompts --optimizer --warmup \
    --schedule --label-smoothing --drop-path --grad-clip --eval-every --metrics --checkpoint \
    --resume --features --val --prompts --rank --targets --adapter-style --memory-mode; do
    assert_output --partial "$option"
  done
  assert_output --partial "(default: 10)"
  assert_output --partial "(default: adamw)"
  assert_output --partial "(default: 0.001)"
  # Every option shows its default, --val-per-class's included.
  run "$PY" -c '
import sys
text = sys.stdin.read()
entry = text[text.index("--val-per-class N"):text.index("--features FILE")]
assert "(default: 0)" in entry and "0: all" in entry, entry' <<<"$output"
  assert_success
}

@test "--version" {
  run "$BIN/peft-train" --version
  assert_success
  assert_output --regexp '^peft-train \(vpet\) [0-9]+\.[0-9]+\.[0-9]+'
}

@test "usage errors exit 2" {
  run "$BIN/peft-train" --no-such-option
  assert_failure 2
  run "$BIN/peft-train" -m "$MODEL" -d x -o a.vpet
  assert_failure 2
  assert_output --partial "missing --method"
  run "$BIN/peft-train" -m "$MODEL" -d x --method nope -o a.vpet
  assert_failure 2
  assert_output --partial "unknown method 'nope'"
  assert_output --partial "bitfit, dora, full, head-class, linear"
  run "$BIN/peft-train" -m "$MODEL" -d x --method linear --optimizer lamb -o a.vpet
  assert_failure 2
  run "$BIN/peft-train" -m "$MODEL" -d x --method linear --warmup 20 --epochs 10 -o a.vpet
  assert_failure 2
  run "$BIN/peft-train" --features f.vpet --method full -o a.vpet
  assert_failure 2
  assert_output --partial "linear"
}

@test "missing files exit 1 and name the file" {
  make_task
  run "$BIN/peft-train" "${TRAIN[@]}" -d "$BATS_TEST_TMPDIR/nowhere" --method linear \
    -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_failure 1
  assert_output --partial "nowhere"
  run "$BIN/peft-train" -q -m "$BATS_TEST_TMPDIR/none.safetensors" -d "$BATS_TEST_TMPDIR/train" \
    --method linear -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_failure 1
  assert_output --partial "none.safetensors"
  [ ! -e "$BATS_TEST_TMPDIR/a.vpet" ]
}

@test "bitfit learns; Python reads the bundle; metrics are JSON lines" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --val val --method bitfit --epochs 4 --lr 0.01 \
    --eval-every 2 --metrics m.jsonl -o a.vpet
  assert_success
  run "$PY" - <<'PYTHON'
import json, msgpack, msgpack_numpy
with open("a.vpet", "rb") as f:
    header, record = msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)
assert header["kind"] == "adapter" and header["method"] == "bitfit", header
assert record["head.weight"].shape == (3, 48) and record["head.bias"].shape == (3,)
assert header["classes"] == ["blue", "green", "red"]
assert header["backbone"]["fingerprint"].startswith("sha256:")
t = header["training"]
assert t["params_trainable"] == 960 == sum(v.size for k, v in record.items() if not k.startswith("head."))
assert t["final_val_top1"] > 60, t
lines = [json.loads(l) for l in open("m.jsonl")]
assert [l["type"] for l in lines].count("step") == 12
assert [l["epoch"] for l in lines if l["type"] == "eval"] == [2, 4]
assert lines[0] == {"type": "run", "method": "bitfit", "data": "train", "seed": 0, "recipe": None}, lines[0]
assert all(k in lines[1] for k in ("epoch", "step", "loss", "lr", "images_per_second"))
PYTHON
  assert_success
}

@test "two identical runs write identical bytes; time and memory go to stderr and --metrics" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  # The command line is in the header: the same one, twice.
  local args=(-m "$MODEL" --batch 8 -t 1 -d train --val val --method lora --epochs 2
    --drop-path 0.1 --metrics m.jsonl -o a.vpet)
  "$BIN/peft-train" "${args[@]}" 2>/dev/null
  mv a.vpet first.vpet
  "$BIN/peft-train" "${args[@]}" 2>err
  cmp first.vpet a.vpet
  run grep -E "trained in [0-9.]+ s, [0-9.]+ img/s, peak RSS [0-9]+ MiB" err
  assert_success
  run "$PY" - <<'PYTHON'
import json, msgpack
header = next(msgpack.Unpacker(open("a.vpet", "rb"), raw=False))
t = header["training"]
assert not {"seconds", "images_per_second", "peak_rss_bytes", "peak_memory_bytes"} & t.keys(), t
last = [json.loads(l) for l in open("m.jsonl")][-1]
assert last["type"] == "summary" and last["epochs"] == 2 and last["steps"] == t["steps"], last
assert last["seconds"] > 0 and last["images_per_second"] > 0 and last["peak_rss_bytes"] > 2**20, last
PYTHON
  assert_success
}

@test "--metrics - writes the log to standard output, not to a file named -" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --epochs 2 --metrics - -o a.vpet >log
  [ ! -e ./- ]
  run "$PY" -c '
import json
lines = [json.loads(l) for l in open("log")]
assert [l["type"] for l in lines] == ["run"] + ["step"] * 6 + ["summary"], lines'
  assert_success
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --metrics - -o -
  assert_failure 2
  assert_output --partial "--metrics"
}

@test "linear trains on a vit-extract features stream as on the images" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  "$BIN/vit-extract" -q -m "$MODEL" -d train -o train.vpet
  "$BIN/vit-extract" -q -m "$MODEL" -d val -o val.vpet
  run "$BIN/peft-train" -q --features train.vpet --val val.vpet --method linear --batch 8 \
    --epochs 3 -o f.vpet
  assert_success
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --val val --method linear --epochs 3 -o i.vpet
  assert_success
  run "$PY" -c "
import msgpack, msgpack_numpy, numpy as np
r = [list(msgpack.Unpacker(open(p, 'rb'), object_hook=msgpack_numpy.decode, raw=False)) for p in ('f.vpet', 'i.vpet')]
assert r[0][0]['backbone']['fingerprint'] == r[1][0]['backbone']['fingerprint']
assert np.allclose(r[0][1]['head.weight'], r[1][1]['head.weight'], atol=1e-5)
"
  assert_success
}

@test "SIGINT saves the checkpoint, leaves no adapter; --resume ends bit-identical" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  local args=("${TRAIN[@]}" -d train --method bitfit --epochs 150 --drop-path 0.1)
  "$BIN/peft-train" "${args[@]}" -o whole.vpet
  "$BIN/peft-train" "${args[@]}" --checkpoint ck.vpet -o cut.vpet &
  local pid=$!
  # Interrupt once training is under way (the first epoch's checkpoint exists),
  # whatever the machine's speed.
  local waited=0
  while [ ! -e ck.vpet ] && [ $waited -lt 600 ]; do sleep 0.05; waited=$((waited + 1)); done
  kill -INT "$pid"
  local code=0
  wait "$pid" || code=$?
  assert_equal "$code" 130
  [ ! -e cut.vpet ]
  [ -s ck.vpet ]
  ls | grep -q '\.tmp\.' && fail "a temporary was left behind"
  run "$BIN/peft-train" "${args[@]}" --checkpoint ck.vpet --resume ck.vpet -o cut.vpet
  assert_success
  run same_tensors whole.vpet cut.vpet
  assert_success
}

@test "--resume with other settings is refused" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --epochs 1 --checkpoint ck.vpet -o a.vpet
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --epochs 2 --resume ck.vpet -o b.vpet
  assert_failure 2
  assert_output --partial "epochs: 1 in the checkpoint, 2 now"
  # What differs inside the run's record is named with both values.
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --method bitfit --epochs 1 --resume ck.vpet -o b.vpet
  assert_failure 2
  assert_output --partial 'run.method: "linear" in the checkpoint, "bitfit" now'
}

@test "an option the method does not use is warned about" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" -m "$MODEL" --batch 8 -t 1 -d train --method linear --epochs 1 --rank 4 -o a.vpet
  assert_success
  assert_output --partial "--rank is not used by linear"
}

@test "LoRA's alpha defaults to the rank (scale 1 at rank 16); --alpha sets it" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-train" "${TRAIN[@]}" -d train --method lora --rank 16 --epochs 1 -o r16.vpet
  "$BIN/peft-train" "${TRAIN[@]}" -d train --method lora --rank 16 --alpha 8 --epochs 1 -o a8.vpet
  run "$PY" - <<'PYTHON'
import msgpack, msgpack_numpy
def config(path):
    header, _ = msgpack.Unpacker(open(path, "rb"), object_hook=msgpack_numpy.decode, raw=False)
    return header["config"]
assert config("r16.vpet")["rank"] == 16 and config("r16.vpet")["alpha"] == 16, config("r16.vpet")
assert config("a8.vpet")["alpha"] == 8, config("a8.vpet")
print("ok")
PYTHON
  assert_success
  assert_output ok
}

@test "--layers adapts only the blocks it lists, records them, and refuses what is no block" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  cd "$BATS_TEST_TMPDIR"
  local run=("$BIN/peft-train" -q -m "$MODEL" -d task --epochs 1 -b 6 -t 1)
  local method
  for method in lora dora adapter vpt-deep; do
    run "${run[@]}" --method "$method" --layers 1 -o "$method.vpet"
    assert_success
  done
  run "$PY" - <<'PYTHON'
import msgpack, msgpack_numpy
for method in ("lora", "dora", "adapter", "vpt-deep"):
    header, record = msgpack.Unpacker(open(method + ".vpet", "rb"),
                                      object_hook=msgpack_numpy.decode, raw=False)
    assert header["config"]["layers"] == [1], (method, header["config"])
    if method == "vpt-deep":
        assert record["prompts"].shape == (1, 10, 48), record["prompts"].shape
    else:
        blocks = {n.split(".")[1] for n in record if n.startswith("blocks.")}
        assert blocks == {"1"}, (method, list(record))
print("ok")
PYTHON
  echo "$output"
  assert_success
  run "${run[@]}" --method lora --layers 2 -o bad.vpet
  assert_failure 2
  assert_output --partial "--layers names block 2, but the model has 2 blocks (0..1)"
  run "${run[@]}" --method lora --layers 1-0 -o bad.vpet
  assert_failure 2
  assert_output --partial "--layers must be 'all' or block numbers and ranges"
  run "${run[@]}" --method vpt-shallow --layers 1 -o bad.vpet
  assert_failure 2
  assert_output --partial "--layers is for vpt-deep"
  [ ! -e bad.vpet ]
}

@test "--lr-ratio-b (LoRA+) and --lora-scale (rsLoRA) are refused where they cannot apply" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  local run=("$BIN/peft-train" -q -m "$MODEL" -d "$BATS_TEST_TMPDIR/task" --epochs 1 -b 6)
  run "${run[@]}" --method vpt-deep --lr-ratio-b 16 -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_failure 2
  assert_output --partial "scales the rate of LoRA B factors (lora, dora, spt-lora); vpt-deep has none"
  [ ! -e "$BATS_TEST_TMPDIR/a.vpet" ]
  run "${run[@]}" --method lora --lr-ratio-b 0 -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_failure 2
  assert_output --partial "--lr-ratio-b must be positive"
  run "${run[@]}" --method lora --lora-scale sqrt -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_failure 2
  assert_output --partial "--lora-scale"
  run "${run[@]}" --method lora --lora-scale rs --lr-ratio-b 4 -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_success
  run "$PY" -c 'import msgpack, sys; h = next(iter(msgpack.Unpacker(open(sys.argv[1], "rb"))))
assert h["config"]["lora_scale"] == "rs" and h["training"]["settings"]["lr_ratio_b"] == 4, h' \
    "$BATS_TEST_TMPDIR/a.vpet"
  assert_success
}

@test "SPT's schedule: timm-cosine per epoch from --warmup-lr to --min-lr, one epoch late" {
  make_task
  cd "$BATS_TEST_TMPDIR"
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --epochs 4 --batch 12 --lr 0.1 \
    --warmup 1 --warmup-lr 0.001 --schedule timm-cosine --min-lr 0.01 --schedule-unit epoch \
    --schedule-lag 1 --metrics m.jsonl -o a.vpet
  assert_success
  run "$PY" - <<'PYTHON'
import json, math
steps = [l for l in map(json.loads, open("m.jsonl")) if l["type"] == "step"]
per_epoch = {}
for s in steps:
    per_epoch.setdefault(s["epoch"], set()).add(round(s["lr"], 12))
assert all(len(v) == 1 for v in per_epoch.values()), per_epoch   # constant within an epoch
def timm(t):  # timm's CosineLRScheduler._get_lr: warmup_t 1, t_initial 4
    return 0.001 + t * (0.1 - 0.001) if t < 1 else 0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi * t / 4))
for epoch, lrs in per_epoch.items():             # epochs are 1-based here; lag 1
    want = timm(max(epoch - 2, 0))
    assert abs(lrs.pop() - want) < 1e-12, (epoch, want)
print("ok")
PYTHON
  assert_success
  assert_output ok
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --epochs 1 --min-lr 1 -o b.vpet
  assert_failure 2
  assert_output --partial "--min-lr"
  run "$BIN/peft-train" "${TRAIN[@]}" -d train --method linear --epochs 1 --schedule-unit week \
    -o b.vpet
  assert_failure 2
}
