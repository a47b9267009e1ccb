#!/usr/bin/env bats
# Faults at fixed points (VPET_FAULT, vpet(7)): SIGKILL anywhere never leaves
# a partial output under its final name, and the next run cleans up after it;
# SIGINT + --resume ends bit-identical to an uninterrupted run, also when the
# signal lands while a checkpoint is being written; a cut-short checkpoint is
# refused by name.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

setup_file() {
  make_colour_task "$BATS_FILE_TMPDIR/task" 4 0
  "$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 6 -t 1 --epochs 1 \
    --method lion --lion-max-iter 2 -o "$BATS_FILE_TMPDIR/lion.vpet"
}

# run_program NAME OUT: the program NAME writing OUT.
run_program() {
  local d=$BATS_FILE_TMPDIR
  case $1 in
    peft-train)
      "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 4 -t 1 --epochs 2 --method lora \
        --checkpoint "$2.ck" -o "$2" ;;
    vit-extract) "$BIN/vit-extract" -q -m "$MODEL" -d "$d/task" -b 4 -o "$2" ;;
    spt-sensitivity)
      "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$d/task" -b 4 --batches 3 --budget 3k \
        --scores "$2.scores" -o "$2" ;;
    lion-prune) "$BIN/lion-prune" -q -i "$d/lion.vpet" --sparsity 0.5 -o "$2" ;;
  esac
}

# Kill points each program passes (write: an output's write, commit: a
# complete temporary about to be moved into place, record/batch/step).
kill_points() {
  case $1 in
    peft-train) echo step:1 step:4 write:1 write:2 commit:1 commit:2 write:5 commit:3 ;;
    vit-extract) echo batch:1 write:1 write:2 record:1 record:2 commit:1 ;;
    spt-sensitivity) echo batch:1 batch:3 write:1 write:2 commit:1 commit:2 ;;
    lion-prune) echo write:1 write:2 commit:1 ;;
  esac
}

@test "SIGKILL at fixed points leaves no partial output; the previous one stays; the next run cleans up" {
  cd "$BATS_TEST_TMPDIR"
  for name in peft-train vit-extract spt-sensitivity lion-prune; do
    for point in $(kill_points "$name"); do
      rm -rf run && mkdir run
      echo previous >run/out
      VPET_FAULT=KILL@$point run run_program "$name" run/out
      [ "$status" -eq 137 ] || fail "$name at $point: exit $status, not killed ($output)"
      # Each output is the previous file, or absent, or whole: never cut short
      # (a kill between two outputs' renames leaves the first one in place, whole).
      for f in run/out run/out.*; do
        case $f in *.tmp.*|'run/out.*') continue ;; esac
        [ "$(cat "$f")" = previous ] && continue
        "$BIN/vpet-info" "$f" >/dev/null || fail "$name at $point: $f is not whole"
      done
    done
    run run_program "$name" run/out
    assert_success
    [ -z "$(ls run | grep '\.tmp\.')" ] || fail "$name: temporaries outlived the next run: $(ls run)"
  done
}

# Training whose SIGINT (sent by the program itself at POINT) saves a
# checkpoint, then resumes from it; the result equals an uninterrupted run's.
interrupt_and_resume() {
  local point=$1
  local args=(-q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 4 -t 1 --epochs 3 --method bitfit
    --drop-path 0.1)
  rm -f ck.vpet cut.vpet
  VPET_FAULT=INT@$point run "$BIN/peft-train" "${args[@]}" --checkpoint ck.vpet -o cut.vpet
  [ "$status" -eq 130 ] || fail "INT at $point: exit $status ($output)"
  [ ! -e cut.vpet ] || fail "INT at $point: an adapter was written"
  [ -z "$(ls | grep '\.tmp\.')" ] || fail "INT at $point: a temporary was left"
  run "$BIN/peft-train" "${args[@]}" --checkpoint ck.vpet --resume ck.vpet -o cut.vpet
  assert_success
  run same_tensors whole.vpet cut.vpet
  assert_success
}

@test "SIGINT mid-epoch, at an epoch's end and during a checkpoint write: --resume is bit-identical" {
  cd "$BATS_TEST_TMPDIR"
  "$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 4 -t 1 --epochs 3 \
    --method bitfit --drop-path 0.1 -o whole.vpet
  # 12 images in batches of 4: 3 steps an epoch. The first checkpoint's writes
  # are write:1..; its commit is commit:1.
  for point in step:2 step:3 step:4 write:1 write:2 commit:1 commit:2; do
    interrupt_and_resume "$point"
  done
}

@test "a checkpoint cut short is refused by name, with where it ends and the one before it" {
  cd "$BATS_TEST_TMPDIR"
  local train=("$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 4 -t 1 --epochs 3
    --method bitfit)
  "${train[@]}" -o whole.vpet
  VPET_FAULT=INT@commit:2 run "${train[@]}" --checkpoint ck.vpet -o a.vpet
  assert_equal "$status" 130
  # ck.vpet after epoch 2, ck.vpet.prev after epoch 1.
  run "$BIN/vpet-info" --json ck.vpet.prev
  assert_output --partial '"epoch": 1'
  head -c $(( $(stat -c %s ck.vpet) - 100 )) ck.vpet >cut.vpet
  run "${train[@]}" --resume cut.vpet -o b.vpet
  assert_failure 1
  assert_output --partial "cut.vpet: record 1 (byte "
  assert_output --partial "truncated"
  mv cut.vpet ck.vpet
  run "${train[@]}" --resume ck.vpet -o b.vpet
  assert_failure 1
  assert_output --partial "the checkpoint before it is ck.vpet.prev (--resume ck.vpet.prev)"
  [ ! -e b.vpet ]
  run "${train[@]}" --resume ck.vpet.prev -o b.vpet
  assert_success
  run same_tensors whole.vpet b.vpet
  assert_success
}
