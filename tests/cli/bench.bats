#!/usr/bin/env bats
# The benchmark's PyTorch reference (bench/reference.py) must compute what
# peft-train computes, or its timings compare different work: the first
# step's loss from the same start bundle, for a linear-hook method and for
# masked memory tokens (extra keys and values, a second row pass).

load helpers

@test "bench/reference.py computes peft-train's first-step loss (lora, memory)" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/bench.py" --parity-only --bin "$BIN" \
    --model "$FIXTURES/vit/a_timm.safetensors" --data "$BATS_TEST_TMPDIR/task" --batch 6 \
    --methods lora,memory --threads 1 --work "$BATS_TEST_TMPDIR/bench"
  assert_success
  assert_line --partial "parity parity lora: "
  assert_line --partial "parity parity memory: "
  refute_output --partial "MISMATCH"
}

@test "under bf16 autocast peft-train and torch.autocast agree to bf16 rounding (lora, lion)" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/bench.py" --parity-only --bin "$BIN" \
    --model "$FIXTURES/vit/a_timm.safetensors" --data "$BATS_TEST_TMPDIR/task" --batch 6 \
    --methods lora,lion --threads 1 --precision bf16 --work "$BATS_TEST_TMPDIR/bench"
  assert_success
  assert_line --partial "parity parity lion: "
  refute_output --partial "MISMATCH"
}
