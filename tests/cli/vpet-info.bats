#!/usr/bin/env bats
# vpet-info: interface, files written by Python's msgpack_numpy, safetensors, bad input.

load helpers

@test "--help, --version, bad option" {
  run "$BIN/vpet-info" --help
  assert_success
  assert_output --partial "--json"
  assert_output --partial "--records"
  run "$BIN/vpet-info" --version
  assert_success
  assert_output --regexp '^vpet-info \(vpet\) '
  run "$BIN/vpet-info" --bogus
  assert_failure 2
}

# A stream Python writes with msgpack_numpy: a vpet header and two records.
write_python_stream() {
  "$PY" - "$1" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
header = {"format": "vpet", "version": 1, "kind": "features", "program": "python",
          "program_version": "0", "args": []}
with open(sys.argv[1], "wb") as f:
    f.write(msgpack.packb(header))
    for start in (0, 4):
        record = {"features": np.arange(start * 3, start * 3 + 12, dtype=np.float32).reshape(4, 3),
                  "labels": np.arange(start, start + 4, dtype=np.int64),
                  "mask": np.array([True, False, True, True])}
        f.write(msgpack.packb(record, default=msgpack_numpy.encode))
PY
}

@test "reads what Python's msgpack_numpy wrote, summed over records" {
  write_python_stream "$BATS_TEST_TMPDIR/py.vpet"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/py.vpet"
  assert_success
  assert_output --partial '"program": "python"'
  assert_output --partial "records: 2"
  assert_output --regexp "features +float32 +\[8, 3\] +0 +23 +11.5"
  assert_output --regexp "labels +int64 +\[8\] +0 +7 +3.5"
  assert_output --regexp "mask +bool +\[8\] +0 +1 +0.75"
}

@test "--records lists each record; --json is valid JSON" {
  write_python_stream "$BATS_TEST_TMPDIR/py.vpet"
  run "$BIN/vpet-info" --records "$BATS_TEST_TMPDIR/py.vpet"
  assert_success
  assert_output --partial "record 2:"
  run bash -c "'$BIN/vpet-info' --json '$BATS_TEST_TMPDIR/py.vpet' | '$PY' -c 'import json,sys; d=json.load(sys.stdin); print(d[\"records\"], d[\"tensors\"][0][\"shape\"])'"
  assert_success
  assert_output "2 [8, 3]"
}

@test "a msgpack stream without a vpet header is shown as records" {
  "$PY" -c '
import msgpack, msgpack_numpy, numpy as np
open("'"$BATS_TEST_TMPDIR"'/raw.msgpack", "wb").write(
    msgpack.packb({"w": np.ones((2, 2), np.float16)}, default=msgpack_numpy.encode))'
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/raw.msgpack"
  assert_success
  assert_output --partial "without a vpet header"
  assert_output --regexp "w +float16 +\[2, 2\] +1 +1 +1"
}

@test "reads from standard input" {
  write_python_stream "$BATS_TEST_TMPDIR/py.vpet"
  run bash -c "'$BIN/vpet-info' - <'$BATS_TEST_TMPDIR/py.vpet'"
  assert_success
  assert_output --partial "records: 2"
}

@test "a safetensors checkpoint: metadata and tensors" {
  run "$BIN/vpet-info" "$FIXTURES/vit/a_timm.safetensors"
  assert_success
  assert_output --partial "safetensors:"
  assert_output --regexp "blocks.0.attn.qkv.weight +float16 +\[144, 48\]"
  run bash -c "'$BIN/vpet-info' --json '$FIXTURES/vit/a_timm.safetensors' | '$PY' -c 'import json,sys; print(json.load(sys.stdin)[\"format\"])'"
  assert_output "safetensors"
}

@test "a truncated stream fails with exit 1 naming the record and byte offset" {
  write_python_stream "$BATS_TEST_TMPDIR/py.vpet"
  local size
  size=$(stat -c %s "$BATS_TEST_TMPDIR/py.vpet")
  head -c $((size - 10)) "$BATS_TEST_TMPDIR/py.vpet" >"$BATS_TEST_TMPDIR/cut.vpet"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/cut.vpet"
  assert_failure 1
  assert_output --partial "cut.vpet"
  assert_output --partial "record 2"
  assert_output --partial "byte"
}

@test "garbage, a missing file and a truncated safetensors fail with exit 1" {
  head -c 3000 /dev/urandom >"$BATS_TEST_TMPDIR/noise"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/noise"
  assert_failure 1
  assert_output --partial "noise"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/missing.vpet"
  assert_failure 1
  assert_output --partial "missing.vpet"
  head -c 3000 "$FIXTURES/vit/a_timm.safetensors" >"$BATS_TEST_TMPDIR/cut.safetensors"
  run "$BIN/vpet-info" "$BATS_TEST_TMPDIR/cut.safetensors"
  assert_failure 1
  assert_output --partial "cut.safetensors"
}
