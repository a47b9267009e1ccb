#!/usr/bin/env bats
# Hostile input (issue 15's defects 1, 6 and 9): sizes that files and options
# state are bounded before anything is allocated, a bundle's configuration is
# data (exit 1, the file and the key), usage errors name the option.

load helpers

TINY=random:width=24,depth=2,heads=2,patch=8,img=16,seed=1

# A tiny model's bundle of METHOD (extra peft-train options after it).
bundle() {
  local method=$1
  shift
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  "$BIN/peft-train" -q -m "$TINY" -d "$BATS_TEST_TMPDIR/task" --method "$method" --epochs 1 \
    "$@" -o "$BATS_TEST_TMPDIR/$method.vpet"
}

@test "a tokens header claiming depth 2^40 is refused before prompts are sized from it" {
  local list
  list=$(make_image_list)
  "$BIN/vit-extract" -q -m "$TINY" -d "$list" --feature tokens --layers all \
    -o "$BATS_TEST_TMPDIR/tokens.vpet"
  edit_vpet "$BATS_TEST_TMPDIR/tokens.vpet" 'h["backbone"]["depth"] = 2 ** 40'
  # 7.6 GB before the fix.
  run_bounded "$BIN/prompt-init-proto" "$BATS_TEST_TMPDIR/tokens.vpet" \
    -o "$BATS_TEST_TMPDIR/prompts.vpet"
  assert_failure 1
  assert_output --partial "tokens.vpet: the header's backbone depth 1099511627776 exceeds the 3 layers"
  assert [ ! -e "$BATS_TEST_TMPDIR/prompts.vpet" ]
}

@test "sizes given as options are bounded: threads, random models, image size, prompts" {
  local list
  list=$(make_image_list)
  run "$BIN/vit-extract" -m "$TINY" -d "$list" -t 100000 -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "--threads must be at most 1024, got 100000"
  run "$BIN/vit-extract" -m random:depth=1000000 -d "$list" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "random models are bounded"
  run "$BIN/vit-extract" -m random:width=200000,heads=1 -d "$list" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "random models are bounded"
  run "$BIN/vit-extract" -m "$TINY" -d "$list" --img-size 100000 -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "--img-size must be at most 8192"
  "$BIN/vit-extract" -q -m "$TINY" -d "$list" --feature tokens --layers all \
    -o "$BATS_TEST_TMPDIR/tokens.vpet"
  run "$BIN/prompt-init-proto" "$BATS_TEST_TMPDIR/tokens.vpet" --prompts 100000000 \
    -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "--prompts"
  assert_output --partial "65536"
  make_colour_task "$BATS_TEST_TMPDIR/task" 1
  run "$BIN/peft-train" -m "$TINY" -d "$BATS_TEST_TMPDIR/task" --method memory --memory 100000000 \
    -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "--memory must be <= 65536"
  assert [ ! -e "$BATS_TEST_TMPDIR/x.vpet" ]
}

@test "--img-size off the patch grid is a usage error (exit 2) naming the option" {
  run "$BIN/vit-extract" -m "$TINY" -d "$(make_image_list)" --img-size 20 \
    -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 2
  assert_output --partial "--img-size 20: "
  assert_output --partial "not a multiple of the patch size 8"
}

@test "a bundle's configuration is data: exit 1 naming the bundle and the key" {
  bundle lora --rank 2
  local b=$BATS_TEST_TMPDIR/lora.vpet list=$BATS_TEST_TMPDIR/task
  cp "$b" "$BATS_TEST_TMPDIR/rank0.vpet"
  edit_vpet "$BATS_TEST_TMPDIR/rank0.vpet" 'h["config"]["rank"] = 0'
  run "$BIN/peft-eval" -m "$TINY" -a "$BATS_TEST_TMPDIR/rank0.vpet" -d "$list"
  assert_failure 1
  assert_output --partial "rank0.vpet: config key 'rank' must be >= 1"
  refute_output --partial "--rank"
  cp "$b" "$BATS_TEST_TMPDIR/unknown.vpet"
  edit_vpet "$BATS_TEST_TMPDIR/unknown.vpet" 'h["method"] = "telepathy"'
  run "$BIN/peft-eval" -m "$TINY" -a "$BATS_TEST_TMPDIR/unknown.vpet" -d "$list"
  assert_failure 1
  assert_output --partial "unknown.vpet: unknown method 'telepathy'"
  bundle memory --memory 2
  edit_vpet "$BATS_TEST_TMPDIR/memory.vpet" 'h["config"]["memory"] = 2 ** 40'
  run_bounded "$BIN/peft-eval" -m "$TINY" -a "$BATS_TEST_TMPDIR/memory.vpet" -d "$list"
  assert_failure 1
  assert_output --partial "memory.vpet: config key 'memory' must be <= 65536"
}

@test "a path with control bytes, or a megabyte long, is escaped and shortened in messages" {
  local list=$BATS_TEST_TMPDIR/list.txt
  printf 'evil\r\033[2Jname.png 0\n' >"$list"
  run "$BIN/vit-extract" -m "$TINY" -d "$list" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 1
  assert_output --partial 'evil\x0D\x1B[2Jname.png'
  [[ $output != *$'\r'* && $output != *$'\033'* ]]
  "$PY" -c 'import sys; open(sys.argv[1], "w").write("x" * 1000000 + ".png 0\n")' "$list"
  run "$BIN/vit-extract" -m "$TINY" -d "$list" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 1
  assert_output --partial "bytes left out"
  assert [ "${#output}" -lt 5000 ]
}

@test "names that are not UTF-8 (folders, files) are written escaped, so every vpet file reads back" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 1
  mv "$BATS_TEST_TMPDIR/task/red" "$BATS_TEST_TMPDIR/task/r"$'\xff'"d"
  mv "$BATS_TEST_TMPDIR/task" "$BATS_TEST_TMPDIR/t"$'\xe9'
  "$BIN/vit-extract" -q -m "$TINY" -d "$BATS_TEST_TMPDIR/t"$'\xe9' -o "$BATS_TEST_TMPDIR/f.vpet"
  run "$BIN/vpet-info" --json "$BATS_TEST_TMPDIR/f.vpet"
  assert_success
  run "$PY" -c '
import sys, msgpack
data = open(sys.argv[1], "rb").read()
unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)  # str must be UTF-8
unpacker.feed(data)
list(unpacker)
assert b"t\\xE9" in data and b"r\\xFFd" in data
print("ok")' "$BATS_TEST_TMPDIR/f.vpet"
  assert_output ok
}

@test "an option value that does not parse names the option" {
  run "$BIN/peft-train" -m "$TINY" -d x --lr nan
  assert_failure 2
  assert_output --partial "--lr: 'nan' is not a valid value"
  run "$BIN/vit-extract" -m "$TINY" -d x --batch=many
  assert_failure 2
  assert_output --partial "--batch: 'many' is not a valid value"
}

@test "--max-image-pixels: a decompression bomb is refused from its header, naming the file" {
  # A real 300x300 PNG passes the default (Pillow's 178956970) and fails a
  # lower limit; a header claiming 20000x20000 fails the default, before decoding.
  "$PY" - "$BATS_TEST_TMPDIR" <<'PYTHON'
import struct, sys, zlib
from PIL import Image
Image.new("RGB", (300, 300), (9, 99, 199)).save(sys.argv[1] + "/big.png")
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
open(sys.argv[1] + "/bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
    chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
PYTHON
  echo "big.png 0" >"$BATS_TEST_TMPDIR/big.txt"
  echo "bomb.png 0" >"$BATS_TEST_TMPDIR/bomb.txt"
  run "$BIN/vit-extract" -q -m "$TINY" -d "$BATS_TEST_TMPDIR/big.txt" -o "$BATS_TEST_TMPDIR/a.vpet"
  assert_success
  run "$BIN/vit-extract" -m "$TINY" -d "$BATS_TEST_TMPDIR/big.txt" --max-image-pixels 50000 \
    -o "$BATS_TEST_TMPDIR/b.vpet"
  assert_failure 1
  assert_output --partial "big.png: image too large (300x300 = 90000 pixels; at most 50000"
  assert [ ! -e "$BATS_TEST_TMPDIR/b.vpet" ]
  run_bounded "$BIN/vit-extract" -m "$TINY" -d "$BATS_TEST_TMPDIR/bomb.txt" \
    -o "$BATS_TEST_TMPDIR/c.vpet"
  assert_failure 1
  assert_output --partial "bomb.png: image too large (20000x20000 = 400000000 pixels"
}
