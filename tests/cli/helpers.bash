# Shared setup for the bats tests of the vpet programs.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

BIN=${VPET_BIN:-$BATS_TEST_DIRNAME/../../build/bin}
FIXTURES=$BATS_TEST_DIRNAME/../fixtures
# The oracles' interpreter: Debian's has torch, torchvision, msgpack_numpy and
# Pillow; VPET_PYTHON names another (a GPU machine's PyTorch install).
PY=${VPET_PYTHON:-/usr/bin/python3}

# Under `make test SANITIZE=...` (VPET_SANITIZED=1) ASan's quarantine, shadow memory and
# redzones multiply peak RSS and the instrumentation slows every program: a test that
# bounds memory or wall time skips there, saying which bound it could not hold.
skip_if_sanitized() {
  [ -z "${VPET_SANITIZED:-}" ] || skip "sanitized build (VPET_SANITIZED=1): $1 does not hold under ASan"
}

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
  local expected="$*"
  assert_equal "${listing% }" "${expected% }"
}

# Noisy 32×32 PNGs in three colour classes (blue, green, red), PER_CLASS of
# each, under DIR/<class>/: a task the tiny fixture model learns at once.
make_colour_task() {
  "$PY" - "$1" "$2" "${3:-0}" <<'PYTHON'
import os, random, sys
from PIL import Image
root, per_class, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(seed)
for label, name in enumerate(("blue", "green", "red")):
    os.makedirs(f"{root}/{name}", exist_ok=True)
    for i in range(per_class):
        im = Image.new("RGB", (32, 32))
        im.putdata([tuple((150 if c == 2 - label else 20) + random.randrange(96)
                          for c in range(3)) for _ in range(32 * 32)])
        im.save(f"{root}/{name}/{i}.png")
PYTHON
}

# Tensors of two bundles are bit-identical.
same_tensors() {
  "$PY" - "$1" "$2" <<'PYTHON'
import sys, msgpack, msgpack_numpy, numpy as np
def record(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))[1]
a, b = record(sys.argv[1]), record(sys.argv[2])
assert a.keys() == b.keys(), (a.keys(), b.keys())
bad = [k for k in a if not np.array_equal(a[k], b[k])]
assert not bad, bad
PYTHON
}

# Rewrites the vpet file FILE with the Python statements EDIT run on `h` (its
# header, the first msgpack map), `r` (its first record) and `objects` (all
# of them, end record included), the msgpack of everything else unchanged.
# Tensors are msgpack-numpy maps with bytes keys (r["x"][b"data"]).
edit_vpet() {
  "$PY" - "$1" "$2" <<'PYTHON'
import sys, msgpack
path, edit = sys.argv[1], sys.argv[2]
objects = list(msgpack.Unpacker(open(path, "rb"), raw=False, strict_map_key=False))
h = objects[0]
r = objects[1] if len(objects) > 1 else None
exec(edit)
with open(path, "wb") as f:
    for o in objects:
        f.write(msgpack.packb(o, use_bin_type=True))
PYTHON
}

# `run` under a 3 GB address-space limit (the allocation a bad size asks for
# would be far larger). ASan reserves terabytes of shadow address space, so a
# sanitized build runs without the limit: its own allocator then reports.
run_bounded() {
  if [ -n "${VPET_SANITIZED:-}" ]; then
    run "$@"
  else
    run bash -c 'ulimit -v 3000000; exec "$@"' _ "$@"
  fi
}

# The step losses of a peft-train --metrics file equal a reference's JSON
# "losses" ($3 of them) to relative $4.
same_losses() {
  "$PY" - "$1" "$2" "$3" "$4" <<'PYTHON'
import json, sys
vpet = [l["loss"] for l in map(json.loads, open(sys.argv[1])) if l["type"] == "step"]
ref = json.load(open(sys.argv[2]))["losses"]
steps, tolerance = int(sys.argv[3]), float(sys.argv[4])
assert len(vpet) == len(ref) == steps, (vpet, ref)
worst = max(abs(a - b) / abs(b) for a, b in zip(vpet, ref))
assert worst < tolerance, (vpet, ref, worst)
print("worst relative difference", worst)
PYTHON
}
