#!/usr/bin/env bats
# SPT end to end: spt-sensitivity's plans (as Python reads them), training
# with a plan from a file or a pipe, the parameter count peft-eval reports,
# and the refusals.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors
OTHER=$FIXTURES/vit/b_timm.safetensors

setup() {
  make_colour_task "$BATS_TEST_TMPDIR/task" 6 1
  TASK=$BATS_TEST_TMPDIR/task
}

sensitivity() {
  "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$TASK" --batches 2 -b 6 "$@"
}

@test "spt-sensitivity writes one plan per budget that msgpack_numpy reads" {
  run sensitivity --budget 3k --budget 6000 --scores "$BATS_TEST_TMPDIR/scores.safetensors" \
    -o "$BATS_TEST_TMPDIR/plan.vpet"
  assert_success
  run "$PY" - "$BATS_TEST_TMPDIR/plan.vpet" <<'PYTHON'
import sys, msgpack, msgpack_numpy, numpy as np
with open(sys.argv[1], "rb") as f:
    maps = list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
header, plans, end = maps[0], maps[1:-1], maps[-1]
assert end == {"format": "vpet-end", "records": 2}, end
assert header["kind"] == "plan" and header["structured"] == "lora", header
assert header["backbone"]["fingerprint"].startswith("sha256:")
assert header["sensitivity"]["images"] == 12 and header["sensitivity"]["batches"] == 2
assert [p["budget"] for p in plans] == [3000, 6000]
for p in plans:
    sparse = {k[len("sparse."):]: v for k, v in p.items() if k.startswith("sparse.")}
    assert sum(v.size for v in sparse.values()) == p["unstructured_params"]
    for v in sparse.values():
        assert v.dtype == np.int64 and np.all(np.diff(v) > 0)
    assert p["params"] == p["structured_params"] + p["unstructured_params"] + 48
    assert abs(p["params"] - p["budget"]) <= 0.05 * p["budget"], p["params"]
    assert len(p["matrices"]) == 2 and all(len(row) == 6 for row in p["matrices"])
    assert sum(map(sum, p["matrices"])) == len(p["modules"])
print("ok")
PYTHON
  assert_success
  assert_output "ok"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/scores.safetensors"
  assert_success
  assert_output --partial "blocks.1.attn.q.weight"
}

@test "the same seed gives the same plan" {
  mkdir "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
  (cd "$BATS_TEST_TMPDIR/a" && sensitivity --budget 3k --seed 4 -o plan.vpet)
  (cd "$BATS_TEST_TMPDIR/b" && sensitivity --budget 3k --seed 4 -o plan.vpet)
  cmp "$BATS_TEST_TMPDIR/a/plan.vpet" "$BATS_TEST_TMPDIR/b/plan.vpet"
}

@test "spt-sensitivity | peft-train, and peft-eval counts the plan's parameters" {
  sensitivity --budget 3k -o - |
    "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method spt-lora --plan - --epochs 1 -b 6 \
      -o "$BATS_TEST_TMPDIR/lora.vpet"
  sensitivity --budget 3k -o "$BATS_TEST_TMPDIR/plan.vpet"
  params=$("$PY" -c '
import sys, msgpack, msgpack_numpy
with open(sys.argv[1], "rb") as f:
    print(list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))[1]["params"])
' "$BATS_TEST_TMPDIR/plan.vpet")
  run "$BIN/peft-eval" -q -m "$MODEL" -a "$BATS_TEST_TMPDIR/lora.vpet" -d "$TASK" --json
  assert_success
  assert_output --partial "\"params_trainable\":$params,"
  assert_output --partial '"method":"spt-lora"'
}

@test "spt-adapter trains an adapter plan; a plan of several budgets needs --budget" {
  sensitivity --structured adapter --budget 3k --budget 5k -o "$BATS_TEST_TMPDIR/plan.vpet"
  run "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method spt-adapter \
    --plan "$BATS_TEST_TMPDIR/plan.vpet" --epochs 1 -o "$BATS_TEST_TMPDIR/adapter.vpet"
  assert_failure 2
  assert_output --partial "--budget: 3000, 5000"
  run "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method spt-lora \
    --plan "$BATS_TEST_TMPDIR/plan.vpet" --budget 5k --epochs 1 -o "$BATS_TEST_TMPDIR/adapter.vpet"
  assert_failure 2
  assert_output --partial "--method spt-adapter"
  run "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method spt-adapter \
    --plan "$BATS_TEST_TMPDIR/plan.vpet" --budget 5k --epochs 1 -o "$BATS_TEST_TMPDIR/adapter.vpet"
  assert_success
  run "$BIN/peft-eval" -q -m "$MODEL" -a "$BATS_TEST_TMPDIR/adapter.vpet" -d "$TASK"
  assert_success
}

@test "a plan made for one backbone is refused for another" {
  sensitivity --budget 3k -o "$BATS_TEST_TMPDIR/plan.vpet"
  run "$BIN/peft-train" -q -m "$OTHER" -d "$TASK" --method spt-lora \
    --plan "$BATS_TEST_TMPDIR/plan.vpet" --epochs 1 -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "is a plan for backbone sha256:"
  [ ! -e "$BATS_TEST_TMPDIR/out.vpet" ]
}

# --head: the pass's gradients come through that bundle's head (the header
# says which), and a head of another backbone or other classes is refused.
@test "spt-sensitivity --head scores through a bundle's head, of this backbone and classes only" {
  local dir=$BATS_TEST_TMPDIR
  "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method linear --epochs 1 -o "$dir/probe.vpet"
  sensitivity --budget 3k --head "$dir/probe.vpet" -o "$dir/probe-plan.vpet"
  sensitivity --budget 3k -o "$dir/fresh-plan.vpet"
  run "$PY" - "$dir/probe-plan.vpet" "$dir/fresh-plan.vpet" <<'PYTHON'
import sys, msgpack, msgpack_numpy
def header(path):
    with open(path, "rb") as f:
        return next(iter(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False)))
probe, fresh = header(sys.argv[1]), header(sys.argv[2])
assert probe["sensitivity"]["head"] == sys.argv[1].replace("probe-plan", "probe"), probe["sensitivity"]
assert fresh["sensitivity"]["head"] == "trunc-normal:0.02", fresh["sensitivity"]
PYTHON
  assert_success
  "$BIN/peft-train" -q -m "$OTHER" -d "$TASK" --method linear --epochs 1 -o "$dir/other.vpet"
  run sensitivity --budget 3k --head "$dir/other.vpet" -o "$dir/plan.vpet"
  assert_failure 1
  assert_output --partial "other.vpet"
  "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --classes red,blue --method linear --epochs 1 \
    -o "$dir/two.vpet"
  run sensitivity --budget 3k --head "$dir/two.vpet" -o "$dir/plan.vpet"
  assert_failure 1
  assert_output --partial "two.vpet: its head's classes differ from the data's"
  [ ! -e "$dir/plan.vpet" ]
}

@test "spt-sensitivity refuses bad options and input, leaving no output" {
  run sensitivity -o "$BATS_TEST_TMPDIR/plan.vpet"
  assert_failure 2
  assert_output --partial "--budget"
  run sensitivity --budget 0.4G -o "$BATS_TEST_TMPDIR/plan.vpet"
  assert_failure 2
  run sensitivity --budget 3k --structured prefix -o "$BATS_TEST_TMPDIR/plan.vpet"
  assert_failure 2
  run sensitivity --budget 3k --alpha 0 -o "$BATS_TEST_TMPDIR/plan.vpet"
  assert_failure 2
  run sensitivity --budget 3k --scores - -o -
  assert_failure 2
  run "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$BATS_TEST_TMPDIR/missing" --budget 3k \
    -o "$BATS_TEST_TMPDIR/plan.vpet"
  assert_failure 1
  printf 'not a plan' >"$BATS_TEST_TMPDIR/bogus.vpet"
  run "$BIN/peft-train" -q -m "$MODEL" -d "$TASK" --method spt-lora \
    --plan "$BATS_TEST_TMPDIR/bogus.vpet" -o "$BATS_TEST_TMPDIR/out.vpet"
  assert_failure 1
  assert_output --partial "bogus.vpet"
  [ ! -e "$BATS_TEST_TMPDIR/plan.vpet" ]
  [ ! -e "$BATS_TEST_TMPDIR/out.vpet" ]
}
