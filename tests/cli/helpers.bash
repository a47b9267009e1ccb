# Shared setup for the bats tests of the vpet programs.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

BIN=${VPET_BIN:-$BATS_TEST_DIRNAME/../../build/bin}
FIXTURES=$BATS_TEST_DIRNAME/../fixtures
# Debian's interpreter: it has the test oracles (torch, msgpack_numpy, Pillow).
PY=/usr/bin/python3

# The three parity images as a list file, in a fixed order, labels 0 1 2.
make_image_list() {
  local list=$BATS_TEST_TMPDIR/images.txt
  printf '%s 0\n%s 1\n%s 2\n' "$FIXTURES/vit/images/rgb.png" "$FIXTURES/vit/images/gray.png" \
    "$FIXTURES/vit/images/photo.jpg" >"$list"
  echo "$list"
}

# No file other than those named may exist in the temp dir (no stray temporaries).
assert_only_files() {
  local listing
  listing=$(cd "$BATS_TEST_TMPDIR" && ls -A | sort | tr '\n' ' ')
  assert_equal "$listing" "$*"
}
