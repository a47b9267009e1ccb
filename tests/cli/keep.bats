#!/usr/bin/env bats
# --keep: the bundle holds the weights of the epoch with the best validation
# (or, asked for and labelled, test) top-1, names that epoch, and keeps it
# across a --resume.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

setup() {
  cd "$BATS_TEST_TMPDIR"
  make_colour_task task 4 0
  make_colour_task val 3 1
  # A high constant rate: the validation accuracy moves from epoch to epoch,
  # and a shorter run is the longer one's first epochs.
  ARGS=(-q -m "$MODEL" -d task --val val -b 4 -t 1 --method lora --lr 0.3 --schedule constant
    --seed 3)
}

# The kept epoch of a bundle, and the first epoch of the best top-1 in a metrics log.
kept_epoch() {
  "$PY" - "$1" "$2" "${3:-top1}" <<'PY'
import json, sys, msgpack, msgpack_numpy
header, _ = msgpack.Unpacker(open(sys.argv[1], "rb"), object_hook=msgpack_numpy.decode, raw=False)
kept = header["training"]["kept"]
evals = [json.loads(l) for l in open(sys.argv[2]) if '"eval"' in l]
best = max(e[sys.argv[3]] for e in evals)
first = min(e["epoch"] for e in evals if e[sys.argv[3]] == best)
assert kept["epoch"] == first, (kept, evals)
assert kept[{"top1": "val_top1", "test_top1": "test_top1"}[sys.argv[3]]] == best, kept
print(kept["epoch"], len(evals))
PY
}

@test "--keep best-val: the best epoch's weights, named in the bundle" {
  "$BIN/peft-train" "${ARGS[@]}" --epochs 6 --keep best-val --metrics m.jsonl -o best.vpet
  run kept_epoch best.vpet m.jsonl
  assert_success
  local epoch=${output% *}
  # Every epoch was evaluated (--eval-every defaults to 1 with --keep best-val).
  assert_equal "${output#* }" 6
  # The weights are those of a run that stops at that epoch.
  "$BIN/peft-train" "${ARGS[@]}" --epochs "$epoch" -o short.vpet
  run same_tensors best.vpet short.vpet
  assert_success
  if [ "$epoch" -lt 6 ]; then
    "$BIN/peft-train" "${ARGS[@]}" --epochs 6 -o last.vpet
    run same_tensors best.vpet last.vpet
    assert_failure
  fi
}

@test "--keep best-val survives a --resume; another --keep is another run" {
  "$BIN/peft-train" "${ARGS[@]}" --epochs 6 --keep best-val -o whole.vpet
  # Interrupted in the fifth epoch (3 steps per epoch), resumed.
  VPET_FAULT=INT@step:14 run "$BIN/peft-train" "${ARGS[@]}" --epochs 6 --keep best-val \
    --checkpoint ck.vpet -o cut.vpet
  assert_equal "$status" 130
  run "$BIN/peft-train" "${ARGS[@]}" --epochs 6 --keep last --eval-every 1 --checkpoint ck.vpet \
    --resume ck.vpet -o cut.vpet
  assert_failure 2
  assert_output --partial 'keep: "best-val" in the checkpoint, "last" now'
  run "$BIN/peft-train" "${ARGS[@]}" --epochs 6 --keep best-val --checkpoint ck.vpet \
    --resume ck.vpet -o cut.vpet
  assert_success
  run same_tensors whole.vpet cut.vpet
  assert_success
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy
def kept(path):
    header, _ = msgpack.Unpacker(open(path, "rb"), object_hook=msgpack_numpy.decode, raw=False)
    return header["training"]["kept"]
assert kept("whole.vpet") == kept("cut.vpet"), (kept("whole.vpet"), kept("cut.vpet"))
print(kept("whole.vpet")["rule"])
PY
  assert_output best-val
}

@test "--keep best-test: asked for, warned about, labelled in the bundle" {
  make_colour_task test 3 2
  run "$BIN/peft-train" "${ARGS[@]}" --epochs 4 --keep best-test --test test --metrics m.jsonl \
    -o best.vpet
  assert_success
  assert_output --partial "optimistic estimate"
  run kept_epoch best.vpet m.jsonl test_top1
  assert_success
  run "$PY" - <<'PY'
import msgpack, msgpack_numpy
header, _ = msgpack.Unpacker(open("best.vpet", "rb"), object_hook=msgpack_numpy.decode, raw=False)
t = header["training"]
assert t["kept"]["rule"] == "best-test" and "optimistic" in t["kept"]["warning"], t["kept"]
assert t["test_examples"] == 9 and t["best_test_top1"] == t["kept"]["test_top1"], t
print("ok")
PY
  assert_output ok
  # Without --val too.
  run "$BIN/peft-train" -q -m "$MODEL" -d task -b 4 -t 1 --method linear --epochs 2 \
    --keep best-test --test test -o t.vpet
  assert_success
}

@test "--keep without its set, --test without best-test, an unknown rule: usage errors" {
  run "$BIN/peft-train" -m "$MODEL" -d task --method linear --keep best-val -o a.vpet
  assert_failure 2
  assert_output --partial "--keep best-val needs --val"
  run "$BIN/peft-train" -m "$MODEL" -d task --val val --method linear --keep best-test -o a.vpet
  assert_failure 2
  assert_output --partial "--keep best-test needs --test"
  run "$BIN/peft-train" -m "$MODEL" -d task --val val --test val --method linear -o a.vpet
  assert_failure 2
  assert_output --partial "--test is evaluated during training for --keep best-test only"
  run "$BIN/peft-train" -m "$MODEL" -d task --val val --method linear --keep best -o a.vpet
  assert_failure 2
  assert_output --partial "not one of last, best-val, best-test"
  [ ! -e a.vpet ]
}
