#!/usr/bin/env bats
# Files whose parts disagree (issue 15, defects 7, 8 and 9): a checkpoint at a
# position its run never passes or with a generator state of the wrong size,
# LION masks that fit no weight, SPT plans listing a module twice, a PGN
# bundle whose configuration peft-eval would refuse, a record of a million
# one-byte values. Each is refused with exit 1 naming the file, and nothing
# is written.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

setup() {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  TASK=$BATS_TEST_TMPDIR/task
}

# A finished 2-epoch linear run's checkpoint c.ckpt (and the resuming command line in RESUME).
checkpointed_run() {
  cd "$BATS_TEST_TMPDIR"
  local args=(-q -m "$MODEL" -d task --method linear -b 3 --epochs 2 --checkpoint c.ckpt)
  "$BIN/peft-train" "${args[@]}" -o a.vpet
  rm a.vpet
  RESUME=("$BIN/peft-train" "${args[@]}" --resume c.ckpt -o b.vpet)
}

@test "a checkpoint at a position its run never passes is refused, naming the checkpoint" {
  checkpointed_run
  cp c.ckpt good.ckpt
  edit_vpet c.ckpt 'h["epoch"] = -1'
  run "${RESUME[@]}"
  assert_failure 1
  assert_output --partial "c.ckpt: epoch -1, step 0 of the epoch and step 4 overall is no point of this run (2 epochs of 2 steps)"
  refute [ -e b.vpet ]
  cp good.ckpt c.ckpt
  edit_vpet c.ckpt 'h["step_in_epoch"] = 7; h["global_step"] = 21'
  run "${RESUME[@]}"
  assert_failure 1
  assert_output --partial "is no point of this run"
  refute [ -e b.vpet ]
}

@test "a checkpoint's random generator state of the wrong size or type is refused by name" {
  checkpointed_run
  cp c.ckpt good.ckpt
  edit_vpet c.ckpt 'g = r["rng:cpu"]; g[b"data"] = g[b"data"][:100]; g[b"shape"] = [100]'
  run "${RESUME[@]}"
  assert_failure 1
  assert_output --partial "c.ckpt: the checkpoint's cpu random generator state (100 bytes) is not one this LibTorch's generator takes"
  refute_output --partial "Expected"
  cp good.ckpt c.ckpt
  edit_vpet c.ckpt 'g = r["rng:cpu"]; g[b"type"] = "<i4"; g[b"shape"] = [len(g[b"data"]) // 4]'
  run "${RESUME[@]}"
  assert_failure 1
  assert_output --partial "c.ckpt: the checkpoint's cpu random generator state is Int, not bytes"
  refute [ -e b.vpet ]
}

@test "a checkpoint's optimiser step that is not a count is refused by name" {
  checkpointed_run
  edit_vpet c.ckpt 's = r["optimizer:head.weight.step"]; s[b"data"] = s[b"data"] * 2; s[b"shape"] = [2]'
  run "${RESUME[@]}"
  assert_failure 1
  assert_output --partial "c.ckpt: the checkpoint's optimiser state 'head.weight.step' is not a non-negative step count"
}

@test "lion-prune refuses masks that are flattened or name no weight" {
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-train" -q -m "$MODEL" -d task --method lion --lion-channels 4 --lion-width 32 \
    -b 3 --epochs 1 -o dense.vpet
  "$BIN/lion-prune" -q -i dense.vpet --sparsity 0.3 -o p.vpet
  local mask
  mask=$("$PY" -c '
import sys, msgpack
o = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False, strict_map_key=False))
print(next(k for k in o[1] if k.startswith("structure.mask.")))' p.vpet)
  cp p.vpet flat.vpet
  edit_vpet flat.vpet "m = r['$mask']; m[b'shape'] = [1, len(m[b'data'])]"
  run "$BIN/lion-prune" -i flat.vpet --sparsity 0.5 -o q.vpet
  assert_failure 1
  assert_output --regexp "flat\.vpet: the mask '${mask#structure.}' is \[1, [0-9]+\], its weight \[[0-9, ]+\]"
  cp p.vpet extra.vpet
  edit_vpet extra.vpet "r['structure.mask.no.such.weight'] = r['$mask']"
  run "$BIN/lion-prune" -i extra.vpet --sparsity 0.5 -o q.vpet
  assert_failure 1
  assert_output --partial "extra.vpet: the mask 'mask.no.such.weight' names no prunable LION weight of the bundle"
  refute [ -e q.vpet ]
}

@test "an SPT plan listing a module twice is refused, naming the record" {
  cd "$BATS_TEST_TMPDIR"
  "$BIN/spt-sensitivity" -q -m "$MODEL" -d task --batches 1 -b 6 --budget 2000 -o plan.vpet
  edit_vpet plan.vpet 'assert r["modules"], r; r["modules"].append(r["modules"][0])'
  run "$BIN/peft-train" -m "$MODEL" -d task --method spt-lora --plan plan.vpet --epochs 1 -o a.vpet
  assert_failure 1
  assert_output --regexp "plan\.vpet, record 1: the module '[^']+' is listed twice"
  refute [ -e a.vpet ]
}

@test "pgn-invert refuses a bundle whose configuration peft-eval would refuse" {
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-train" -q -m "$MODEL" -d task --method pgn --pgn-prompts 2 --pgn-library 4 \
    --pgn-input-size 32 -b 3 --epochs 1 -o latent.vpet
  edit_vpet latent.vpet 'h["config"]["pgn_prompts"] = 0'
  run "$BIN/pgn-invert" -m "$MODEL" -i latent.vpet -o pixels.vpet
  assert_failure 1
  assert_output --partial "latent.vpet: config key 'pgn_prompts' must be >= 1"
  refute [ -e pixels.vpet ]
}

@test "a record of a million one-byte values is refused before it is decoded" {
  cd "$BATS_TEST_TMPDIR"
  "$PY" -c '
import msgpack
with open("nils.vpet", "wb") as f:
    f.write(msgpack.packb({"format": "vpet", "version": 2, "kind": "features"}))
    f.write(b"\x81\xa1x\xdd" + (2 ** 21).to_bytes(4, "big") + b"\xc0" * 2 ** 21)'
  run_bounded "$BIN/vpet-info" nils.vpet
  assert_failure 1
  assert_output --partial "nils.vpet: record 1 (byte "
  assert_output --partial "more than 1048576 msgpack values in one map"
}
