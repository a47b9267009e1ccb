#!/usr/bin/env bats
# Output files of every program (vpet-format(5), OUTPUT FILES): a FIFO, a
# device or a symlink is never replaced by a regular file; a closed pipe, a
# full disk or an unwritable directory ends the program with nothing partial
# left; the outputs of one run are all or nothing; what is printed must arrive.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

# One small set of inputs for every program, made once for the file.
setup_file() {
  local d=$BATS_FILE_TMPDIR
  make_colour_task "$d/task" 4 0
  printf '%s 0\n%s 1\n%s 2\n' "$FIXTURES/vit/images/rgb.png" "$FIXTURES/vit/images/gray.png" \
    "$FIXTURES/vit/images/photo.jpg" >"$d/images.txt"
  "$BIN/vit-extract" -q -m "$MODEL" -d "$d/images.txt" --feature tokens --layers all \
    -o "$d/tokens.vpet"
  "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 6 -t 1 --epochs 1 --method lion \
    --lion-max-iter 2 -o "$d/lion.vpet"
  "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 6 -t 1 --epochs 1 --method pgn \
    -o "$d/pgn.vpet"
  "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 6 -t 1 --epochs 1 --method lora \
    -o "$d/lora.vpet"
  "$BIN/peft-export" -q -m "$MODEL" -a "$d/lora.vpet" --peft "$d/peft"
}

# program NAME OUT: runs program NAME with the output (-o, or --confusion for
# peft-eval) at OUT, on the inputs above.
program() {
  local d=$BATS_FILE_TMPDIR name=$1 out=$2
  shift 2
  case $name in
    vit-extract) "$BIN/vit-extract" -q -m "$MODEL" -d "$d/images.txt" -o "$out" "$@" ;;
    spt-sensitivity)
      "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$d/task" --batches 1 -b 6 --budget 3k \
        -o "$out" "$@" ;;
    prompt-init-proto) "$BIN/prompt-init-proto" -q --prompts 2 "$d/tokens.vpet" -o "$out" "$@" ;;
    peft-train)
      "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 6 -t 1 --epochs 1 --method bitfit \
        -o "$out" "$@" ;;
    lion-prune) "$BIN/lion-prune" -q -i "$d/lion.vpet" --sparsity 0.5 -o "$out" "$@" ;;
    pgn-invert) "$BIN/pgn-invert" -q -m "$MODEL" -i "$d/pgn.vpet" -o "$out" "$@" ;;
    peft-eval)
      "$BIN/peft-eval" -q -m "$MODEL" -a "$d/lora.vpet" -d "$d/task" --confusion "$out" "$@" \
        >/dev/null ;;
    peft-export) "$BIN/peft-export" -q -m "$MODEL" --from-peft "$d/peft" -o "$out" "$@" ;;
  esac
}

PROGRAMS=(vit-extract spt-sensitivity prompt-init-proto peft-train lion-prune pgn-invert peft-eval
  peft-export)

# What a program wrote is whole: vpet-info reads it to its end (TSV: a header row).
assert_complete() {
  if [ "$1" = peft-eval ]; then
    head -1 "$2" | grep -q blue || fail "$2: not a confusion table"
  else
    run "$BIN/vpet-info" "$2"
    assert_success
  fi
}

@test "-o to a FIFO delivers every byte to its reader and leaves the FIFO" {
  cd "$BATS_TEST_TMPDIR"
  mkfifo p
  for name in "${PROGRAMS[@]}"; do
    cat p >"got-$name" &
    local reader=$!
    run program "$name" p
    assert_success
    wait "$reader"
    [ -p p ] || fail "$name replaced the FIFO"
    assert_complete "$name" "got-$name"
  done
  assert_only_files $(printf 'got-%s ' "${PROGRAMS[@]}" | tr ' ' '\n' | sort | tr '\n' ' ')p
}

@test "-o /dev/null leaves /dev/null a character device (and a copy of its node too)" {
  cd "$BATS_TEST_TMPDIR"
  # A copy of the node first, where mknod is allowed: a regression replaces the copy,
  # not the machine's /dev/null.
  if mknod null c 1 3 2>/dev/null; then
    for name in "${PROGRAMS[@]}"; do
      run program "$name" null
      assert_success
      [ -c null ] || fail "$name replaced the device node"
    done
  fi
  for name in "${PROGRAMS[@]}"; do
    run program "$name" /dev/null
    assert_success
    [ -c /dev/null ] || fail "$name replaced /dev/null"
  done
}

@test "-o to a symlink replaces the file it points to and keeps the link" {
  cd "$BATS_TEST_TMPDIR"
  mkdir real
  for name in "${PROGRAMS[@]}"; do
    echo old >"real/$name.out"
    ln -s "real/$name.out" "$name.link"
    run program "$name" "$name.link"
    assert_success
    [ -L "$name.link" ] || fail "$name replaced the link"
    assert_complete "$name" "real/$name.out"
  done
  [ "$(ls real | wc -l)" -eq ${#PROGRAMS[@]} ] || fail "temporaries left in real/: $(ls real)"
}

@test "/dev/stdout and /dev/fd/N write that descriptor: >> appends, >(...) reads it" {
  cd "$BATS_TEST_TMPDIR"
  echo first >log
  program prompt-init-proto /dev/stdout >>log
  [ "$(head -1 log)" = first ] || fail "the shell's >> did not append"
  tail -c +7 log >stream
  run "$BIN/vpet-info" stream
  assert_success
  program vit-extract >(cat >sub.vpet)
  for _ in $(seq 100); do [ -s sub.vpet ] && "$BIN/vpet-info" sub.vpet >/dev/null 2>&1 && break; sleep 0.1; done
  run "$BIN/vpet-info" sub.vpet
  assert_success
  assert_output --partial '"vpet-end"'
}

# A pipe whose reader has gone before the first byte: the deterministic form
# of `| head -c 10` (where a small output may fit the pipe's buffer).
closed_stdout() {
  "$PY" - "$@" <<'PYTHON'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
sys.stderr.write(p.stderr.decode())
sys.exit(p.returncode)
PYTHON
}

@test "a closed standard output ends each program quietly, exit 1, no partial file" {
  cd "$BATS_TEST_TMPDIR"
  local d=$BATS_FILE_TMPDIR
  for name in "${PROGRAMS[@]}"; do
    [ "$name" = peft-eval ] && continue
    run closed_stdout bash -c "$(declare -f program); BIN='$BIN' MODEL='$MODEL' \
      BATS_FILE_TMPDIR='$d' program $name -"
    assert_failure 1
    refute_output --partial "error"
  done
  run closed_stdout "$BIN/peft-eval" -q -m "$MODEL" -a "$d/lora.vpet" -d "$d/task" --json
  assert_failure 1
  refute_output --partial "error"
  run closed_stdout "$BIN/vpet-info" "$d/tokens.vpet"
  assert_failure 1
  refute_output --partial "error"
  assert_only_files
  # And as a user writes it: nothing partial either way.
  set -o pipefail
  program vit-extract - --feature tokens --layers all | head -c 10 >/dev/null || true
  "$BIN/vpet-info" --records "$d/tokens.vpet" | head -c 10 >/dev/null || true
  assert_only_files
}

@test "a full disk (/dev/full, a small tmpfs) exits 1 naming the path and keeps the old file" {
  cd "$BATS_TEST_TMPDIR"
  run program vit-extract /dev/full
  assert_failure 1
  assert_output --partial "/dev/full: write failed: No space left on device"
  unshare -m true 2>/dev/null || skip "no mount namespace here (unshare -m): the tmpfs case needs one"
  # Inside a private mount namespace: a 64 KiB tmpfs, gone with the namespace.
  cat >full.sh <<SH
set -e
mount -t tmpfs -o size=64k tmpfs "$BATS_TEST_TMPDIR/small"
cd "$BATS_TEST_TMPDIR/small"
echo old >out.vpet
head -c 60000 /dev/zero >filler
$(declare -f program)
BIN='$BIN' MODEL='$MODEL' BATS_FILE_TMPDIR='$BATS_FILE_TMPDIR'
set +e
program spt-sensitivity out.vpet 2>"$BATS_TEST_TMPDIR/err"
echo \$? >"$BATS_TEST_TMPDIR/status"
cat out.vpet >"$BATS_TEST_TMPDIR/kept"
ls -A >"$BATS_TEST_TMPDIR/listing"
SH
  mkdir small
  unshare -m --propagation private bash full.sh || skip "mounting a tmpfs is not allowed here"
  assert_equal "$(cat status)" 1
  run cat err
  assert_output --partial "out.vpet"
  assert_output --partial "No space left on device"
  assert_equal "$(cat kept)" old
  assert_equal "$(cat listing | tr '\n' ' ')" "filler out.vpet "
}

@test "a missing or read-only directory fails before the work, naming the path" {
  cd "$BATS_TEST_TMPDIR"
  for name in "${PROGRAMS[@]}"; do
    run program "$name" missing/dir/out
    assert_failure 1
    assert_output --partial "missing/dir/out"
  done
  # peft-train finds it before training, not after the epochs.
  run "$BIN/peft-train" -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 6 -t 1 --epochs 50 \
    --method bitfit -o missing/dir/out --checkpoint ck.vpet
  assert_failure 1
  refute_output --partial "epoch 1"
  run "$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 6 -t 1 --epochs 50 \
    --method bitfit -o out.vpet --metrics missing/m.jsonl
  assert_failure 1
  assert_output --partial "missing/m.jsonl"
  assert_only_files
  if [ "$(id -u)" -ne 0 ]; then  # root writes anywhere
    mkdir ro && chmod 555 ro
    run program vit-extract ro/out.vpet
    assert_failure 1
    assert_output --partial "ro/out.vpet"
  fi
}

@test "two outputs of one run naming one file are a usage error; /dev/null twice is fine" {
  cd "$BATS_TEST_TMPDIR"
  local train=("$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 6 -t 1 --epochs 1
    --method bitfit)
  run "${train[@]}" --checkpoint x.vpet -o x.vpet
  assert_failure 2
  assert_output --partial "--checkpoint and -o/--output name the same file"
  run "${train[@]}" --metrics x.vpet -o ./x.vpet
  assert_failure 2
  assert_output --partial "--metrics and -o/--output name the same file"
  ln -s x.vpet link
  run "${train[@]}" --export-backbone link -o x.vpet
  assert_failure 2
  run "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" --budget 3k -o - \
    --scores /dev/stdout
  assert_failure 2
  assert_only_files link
  run "${train[@]}" --metrics /dev/null -o /dev/null
  assert_success
}

@test "the outputs of one run are all or nothing: a failed export leaves no bundle" {
  cd "$BATS_TEST_TMPDIR"
  echo old >a.vpet
  run "$BIN/peft-train" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" -b 6 -t 1 --epochs 1 \
    --method bitfit -o a.vpet --export-backbone /dev/full
  assert_failure 1
  assert_output --partial "/dev/full"
  assert_equal "$(cat a.vpet)" old
  run "$BIN/spt-sensitivity" -q -m "$MODEL" -d "$BATS_FILE_TMPDIR/task" --batches 1 -b 6 \
    --budget 3k --scores /dev/full -o plan.vpet
  assert_failure 1
  assert_only_files a.vpet
}

@test "what is printed must arrive: vpet-info and peft-eval >/dev/full exit 1" {
  local d=$BATS_FILE_TMPDIR
  run bash -c "'$BIN/vpet-info' '$d/tokens.vpet' >/dev/full"
  assert_failure 1
  assert_output --partial "standard output: write failed: No space left on device"
  run bash -c "'$BIN/vpet-info' --json '$d/tokens.vpet' >/dev/full"
  assert_failure 1
  run bash -c "'$BIN/peft-eval' -q -m '$MODEL' -a '$d/lora.vpet' -d '$d/task' --json >/dev/full"
  assert_failure 1
  assert_output --partial "No space left on device"
  run bash -c "'$BIN/peft-train' --help >/dev/full"
  assert_failure 1
}

@test "a producer that fails mid-stream fails its consumer too, even without pipefail" {
  cd "$BATS_TEST_TMPDIR"
  local d=$BATS_FILE_TMPDIR
  cp "$d/images.txt" list.txt
  echo not an image >bad.png
  echo "$BATS_TEST_TMPDIR/bad.png 0" >>list.txt
  # Batches of 2: the first record is out before the bad image fails the second.
  run bash -c "'$BIN/vit-extract' -q -m '$MODEL' -d list.txt -b 2 --feature tokens --layers all |
    '$BIN/prompt-init-proto' -q --prompts 1 -o prompts.vpet"
  assert_failure 1
  assert_output --partial "bad.png"
  assert_output --partial "standard input: the stream ends after 1 record(s) without its end record"
  [ ! -e prompts.vpet ]
  run bash -c "'$BIN/vit-extract' -q -m '$MODEL' -d list.txt -b 2 | '$BIN/vpet-info' -"
  assert_failure 1
  assert_output --partial "without its end record"
  run bash -c "'$BIN/vit-extract' -q -m '$MODEL' -d list.txt -b 2 |
    '$BIN/peft-train' -q --features - --method linear --epochs 1 -o a.vpet"
  assert_failure 1
  assert_output --partial "without its end record"
  assert_only_files bad.png list.txt
}

@test "prompts and plans that record no backbone fingerprint are refused" {
  cd "$BATS_TEST_TMPDIR"
  local d=$BATS_FILE_TMPDIR
  "$BIN/prompt-init-proto" -q --prompts 2 "$d/tokens.vpet" -o prompts.vpet
  program spt-sensitivity plan.vpet
  "$PY" - <<'PYTHON'
import msgpack, msgpack_numpy
for name in ("prompts.vpet", "plan.vpet"):
    maps = list(msgpack.Unpacker(open(name, "rb"), object_hook=msgpack_numpy.decode, raw=False))
    del maps[0]["backbone"]
    with open("bare-" + name, "wb") as f:
        for m in maps:
            f.write(msgpack.packb(m, default=msgpack_numpy.encode))
PYTHON
  run "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 6 -t 1 --epochs 1 --method vpt-deep \
    --init-prompts bare-prompts.vpet -o a.vpet
  assert_failure 1
  assert_output --partial "bare-prompts.vpet: the header records no backbone fingerprint"
  run "$BIN/peft-train" -q -m "$MODEL" -d "$d/task" -b 6 -t 1 --epochs 1 --method spt-lora \
    --plan bare-plan.vpet -o a.vpet
  assert_failure 1
  assert_output --partial "bare-plan.vpet: the header records no backbone fingerprint"
  [ ! -e a.vpet ]
}

@test "SIGQUIT and an external SIGPIPE leave no temporary; a SIGKILL's is removed by the next run" {
  cd "$BATS_TEST_TMPDIR"
  ulimit -c 0
  run env VPET_FAULT=QUIT@record:1 "$BIN/vit-extract" -q -m "$MODEL" \
    -d "$BATS_FILE_TMPDIR/images.txt" -b 1 -o out.vpet
  assert_equal "$status" 131
  assert_only_files
  run env VPET_FAULT=PIPE@record:1 "$BIN/vit-extract" -q -m "$MODEL" \
    -d "$BATS_FILE_TMPDIR/images.txt" -b 1 -o out.vpet
  assert_failure 1
  assert_only_files
  run env VPET_FAULT=KILL@record:1 "$BIN/vit-extract" -q -m "$MODEL" \
    -d "$BATS_FILE_TMPDIR/images.txt" -b 1 -o out.vpet
  assert_equal "$status" 137
  ls -A | grep -Eq '^out\.vpet\.tmp\.[0-9]+\.[A-Za-z0-9]{6}$' || fail "expected the killed writer's temporary: $(ls -A)"
  run program vit-extract out.vpet
  assert_success
  assert_only_files out.vpet
  run env VPET_FAULT=nonsense "$BIN/vpet-info" out.vpet
  assert_failure 2
  assert_output --partial "VPET_FAULT"
}
