#!/usr/bin/env bats
# prompt-init-proto: interface, every method deep and shallow on tokens of the
# tiny fixture ViT (checked by a numpy oracle), peft-train --init-prompts,
# refusals, and memory that stays flat however many images stream through.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors  # 2 blocks, 16 patches of width 48, a class token

# 24 noisy 32×32 PNGs in three colour classes, under $BATS_TEST_TMPDIR/train.
make_images() {
  make_colour_task "$BATS_TEST_TMPDIR/train" 8 0
}

# Every layer's tokens of those images, in $BATS_TEST_TMPDIR/tokens.vpet.
make_tokens() {
  make_images
  "$BIN/vit-extract" -q -m "$MODEL" -d "$BATS_TEST_TMPDIR/train" --feature tokens --layers all \
    -b 10 -o "$BATS_TEST_TMPDIR/tokens.vpet"
}

# The numpy oracle: checks a prompts file against the tokens it came from.
# check_prompts PROMPTS TOKENS METHOD DEPTH P
check_prompts() {
  "$PY" - "$@" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
prompts_path, tokens_path, method, depth = sys.argv[1:5]
P = int(sys.argv[5])
def read(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))
header, record = read(prompts_path)
theader, *records, end = read(tokens_path)
assert end["format"] == "vpet-end" and end["records"] == len(records), end
assert header["format"] == "vpet" and header["kind"] == "prompts", header
assert header["program"] == "prompt-init-proto"
assert header["method"] == method and header["depth"] == depth and header["prompts"] == P
assert header["backbone"] == theader["backbone"], "backbone not carried over"
assert header["backbone"]["fingerprint"].startswith("sha256:")
assert header["preprocess"] == theader["preprocess"]
prompts = record["prompts"]
L = theader["backbone"]["depth"] if depth == "deep" else 1
assert prompts.dtype == np.float32 and prompts.shape == (L, P, 48), (prompts.dtype, prompts.shape)
assert header["layers"] == list(range(L)), header["layers"]
tokens = np.concatenate([r["features"] for r in records])       # [n, layers, 1 + 16, 48]
n = tokens.shape[0]
assert header["images"] == n == 24
stats = header["layer_stats"]
assert [s["layer"] for s in stats] == list(range(L))
for layer in range(L):
    patches = tokens[:, theader["layers"].index(layer), 1:]       # class token dropped
    assert stats[layer]["tokens_seen"] == n * 16
    got = prompts[layer]
    if method == "random":
        candidates = patches.reshape(-1, 48)
    elif method in ("mean", "max"):
        pool = np.mean if method == "mean" else np.max
        if P == 1:
            windows = [patches]
        elif header["windows"] == "reference":
            # Self-Prompt's train.py: P - 1 windows of w, then x[:, -remain_size:].
            w = 16 // (P - 1)
            remain = 16 % w
            windows = [patches[:, p * w:(p + 1) * w] for p in range(P - 1)] + [patches[:, -remain:]]
        else:
            w = 16 // (P - 1)
            windows = [patches[:, s:s + w] for s in range(0, 16, w)]
        candidates = np.stack([pool(x, axis=1) for x in windows], 1).reshape(-1, 48)
    if method != "kmeans":
        assert stats[layer]["candidates"] == len(candidates)
        hits = [np.flatnonzero(np.abs(candidates - row).max(1) < 1e-5) for row in got]
        assert all(len(h) >= 1 for h in hits), "a prompt is not a candidate row"
        assert len({int(h[0]) for h in hits}) == P, "prompts are not distinct rows"
    else:
        # With every token sampled and --tol 0, Lloyd stops at a fixed point:
        # each centre is the mean of the tokens nearest to it.
        x = patches.reshape(-1, 48).astype(np.float64)
        d = ((x[:, None, :] - got[None].astype(np.float64)) ** 2).sum(-1)
        nearest = d.argmin(1)
        for c in range(P):
            if (nearest == c).any():
                assert np.allclose(x[nearest == c].mean(0), got[c], atol=1e-4), (layer, c)
        assert stats[layer]["candidates"] == n * 16
        assert stats[layer]["converged"] and stats[layer]["iterations"] >= 1
        assert np.isclose(stats[layer]["inertia"], d.min(1).sum(), rtol=1e-3)
print("ok")
PY
}

@test "--help lists every option with its default" {
  run "$BIN/prompt-init-proto" --help
  assert_success
  for option in --input --method --prompts --deep --shallow --seed --sample-frac --max-tokens \
    --iters --tol --minibatch --output --threads --device; do
    assert_output --partial -- "$option"
  done
  assert_output --partial "(default: random)"
  assert_output --partial "20 with --deep, 100 with --shallow"
  assert_output --partial "(default: 10000)"
}

@test "--version" {
  run "$BIN/prompt-init-proto" --version
  assert_success
  assert_output --regexp '^prompt-init-proto \(vpet\) [0-9]+\.[0-9]+\.[0-9]+'
}

@test "usage errors exit 2 before reading anything" {
  local p=$BIN/prompt-init-proto out=$BATS_TEST_TMPDIR/p.vpet
  run "$p" --no-such-option
  assert_failure 2
  run "$p" --method median -o "$out" /nonexistent
  assert_failure 2
  assert_output --partial "random, mean, max, kmeans"
  run "$p" --deep --shallow -o "$out" /nonexistent
  assert_failure 2
  run "$p" --prompts 0 -o "$out" /nonexistent
  assert_failure 2
  run "$p" --method kmeans --sample-frac 0 -o "$out" /nonexistent
  assert_failure 2
  run "$p" --method kmeans --sample-frac 1.5 -o "$out" /nonexistent
  assert_failure 2
  run "$p" --method kmeans --prompts 20 --max-tokens 10 -o "$out" /nonexistent
  assert_failure 2
  assert_output --partial "--max-tokens 10"
  run "$p" --method kmeans --iters 0 -o "$out" /nonexistent
  assert_failure 2
  run "$p" --method kmeans --minibatch -1 -o "$out" /nonexistent
  assert_failure 2
  run "$p" a.vpet b.vpet
  assert_failure 2
  assert_only_files ""
}

@test "every method, deep and shallow, from vit-extract's tokens; the numpy oracle agrees" {
  make_tokens
  local tokens=$BATS_TEST_TMPDIR/tokens.vpet
  for method in random mean max; do
    run "$BIN/prompt-init-proto" -q --method "$method" --prompts 6 -o "$BATS_TEST_TMPDIR/d.vpet" \
      "$tokens"
    assert_success
    run check_prompts "$BATS_TEST_TMPDIR/d.vpet" "$tokens" "$method" deep 6
    assert_output "ok"
    run "$BIN/prompt-init-proto" -q --method "$method" --shallow --prompts 5 \
      -o "$BATS_TEST_TMPDIR/s.vpet" "$tokens"
    assert_success
    run check_prompts "$BATS_TEST_TMPDIR/s.vpet" "$tokens" "$method" shallow 5
    assert_output "ok"
    if [ "$method" != random ]; then
      # P − 1 = 4 divides the 16 patches: the rules part (reference: 5 rows an image).
      run "$BIN/prompt-init-proto" -q --method "$method" --windows cover --prompts 5 \
        -o "$BATS_TEST_TMPDIR/c.vpet" "$tokens"
      assert_success
      run check_prompts "$BATS_TEST_TMPDIR/c.vpet" "$tokens" "$method" deep 5
      assert_output "ok"
    fi
  done
  # P − 1 = 4 divides N = 16: four windows of 4 per image, no empty fifth.
  run "$BIN/prompt-init-proto" -q --method mean --prompts 5 -o "$BATS_TEST_TMPDIR/m.vpet" "$tokens"
  assert_success
  run check_prompts "$BATS_TEST_TMPDIR/m.vpet" "$tokens" mean deep 5
  assert_output "ok"
  for depth in deep shallow; do
    run "$BIN/prompt-init-proto" -q --method kmeans --"$depth" --prompts 4 --tol 0 --iters 500 \
      -o "$BATS_TEST_TMPDIR/k.vpet" "$tokens"
    assert_success
    run check_prompts "$BATS_TEST_TMPDIR/k.vpet" "$tokens" kmeans "$depth" 4
    assert_output "ok"
  done
}

@test "a pipe from vit-extract; the summary on stderr; defaults" {
  make_images
  "$BIN/vit-extract" -q -m "$MODEL" -d "$BATS_TEST_TMPDIR/train" --feature tokens --layers all |
    "$BIN/prompt-init-proto" --method kmeans --prompts 4 -o "$BATS_TEST_TMPDIR/k.vpet" \
      2>"$BATS_TEST_TMPDIR/log"
  run cat "$BATS_TEST_TMPDIR/log"
  assert_line --regexp '^prompt-init-proto: layer 0: 384 tokens seen, 384 sampled, inertia [0-9.e+]+ after [0-9]+ iterations \((converged|stopped at --iters)\)$'
  assert_line --partial "layer 1: 384 tokens seen"
  assert_line --partial "wrote [2, 4, 48] prompts (kmeans, deep) from 24 images"
  # Defaults: random, deep, 20 prompts; standard output.
  "$BIN/vit-extract" -q -m "$MODEL" -d "$BATS_TEST_TMPDIR/train" --feature tokens --layers all |
    "$BIN/prompt-init-proto" -q | "$BIN/vpet-info" --json - >"$BATS_TEST_TMPDIR/info.json"
  run "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["header"]["method"], d["header"]["depth"], d["tensors"][0]["shape"])' "$BATS_TEST_TMPDIR/info.json"
  assert_output "random deep [2, 20, 48]"
}

@test "the same seed gives the same prompts, another seed other prompts" {
  make_tokens
  local p=$BIN/prompt-init-proto tokens=$BATS_TEST_TMPDIR/tokens.vpet
  for method in random max kmeans; do
    "$p" -q --method "$method" --prompts 4 --seed 1 -o "$BATS_TEST_TMPDIR/a.vpet" "$tokens"
    "$p" -q --method "$method" --prompts 4 --seed 1 -o "$BATS_TEST_TMPDIR/b.vpet" <"$tokens"
    "$p" -q --method "$method" --prompts 4 --seed 2 -o "$BATS_TEST_TMPDIR/c.vpet" "$tokens"
    # The args differ (file vs stdin, seed); compare the tensors.
    run "$PY" - "$BATS_TEST_TMPDIR"/{a,b,c}.vpet <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
def prompts(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))[1]["prompts"]
a, b, c = map(prompts, sys.argv[1:])
assert np.array_equal(a, b) and not np.array_equal(a, c)
print("ok")
PY
    assert_output "ok"
  done
  run "$p" -q --method kmeans --minibatch 32 --sample-frac 0.5 --prompts 4 -o "$BATS_TEST_TMPDIR/m.vpet" "$tokens"
  assert_success
}

@test "peft-train --init-prompts takes the prompts, and refuses a wrong shape or backbone" {
  make_tokens
  local tokens=$BATS_TEST_TMPDIR/tokens.vpet train=$BATS_TEST_TMPDIR/train
  "$BIN/prompt-init-proto" -q --method kmeans --prompts 4 -o "$BATS_TEST_TMPDIR/deep.vpet" "$tokens"
  "$BIN/prompt-init-proto" -q --method mean --shallow --prompts 4 -o "$BATS_TEST_TMPDIR/shallow.vpet" "$tokens"
  local train_args=(-q -m "$MODEL" -d "$train" --epochs 1 --batch 8 -t 1)
  run "$BIN/peft-train" "${train_args[@]}" --method vpt-deep --init-prompts "$BATS_TEST_TMPDIR/deep.vpet" \
    --lr 1e-7 -o "$BATS_TEST_TMPDIR/vpt-deep.vpet"
  assert_success
  run "$BIN/peft-train" "${train_args[@]}" --method vpt-shallow \
    --init-prompts "$BATS_TEST_TMPDIR/shallow.vpet" -o "$BATS_TEST_TMPDIR/vpt-shallow.vpet"
  assert_success
  # A learning rate of 1e-7 for three steps leaves the prompts where they started.
  run "$PY" - "$BATS_TEST_TMPDIR/deep.vpet" "$BATS_TEST_TMPDIR/vpt-deep.vpet" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
def record(path):
    with open(path, "rb") as f:
        return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))[1]
init, trained = record(sys.argv[1])["prompts"], record(sys.argv[2])["prompts"]
assert init.shape == trained.shape == (2, 4, 48)
assert np.abs(init - trained).max() < 1e-5, np.abs(init - trained).max()
print("ok")
PY
  assert_output "ok"
  run "$BIN/peft-train" "${train_args[@]}" --method vpt-deep \
    --init-prompts "$BATS_TEST_TMPDIR/shallow.vpet" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 1
  assert_output --partial "holds prompts [1, 4, 48]"
  run "$BIN/peft-train" "${train_args[@]}" --method vpt-deep --prompts 5 \
    --init-prompts "$BATS_TEST_TMPDIR/deep.vpet" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 1
  assert_output --partial "needs [2, 5, 48]"
  run "$BIN/peft-train" "${train_args[@]}" -m "$FIXTURES/vit/b_timm.safetensors" --method vpt-deep \
    --init-prompts "$BATS_TEST_TMPDIR/deep.vpet" -o "$BATS_TEST_TMPDIR/x.vpet"
  assert_failure 1
  assert_output --partial "not for this model"
  [ ! -e "$BATS_TEST_TMPDIR/x.vpet" ]
}

@test "bad input exits 1, names it, and leaves no output" {
  make_tokens
  local p=$BIN/prompt-init-proto tmp=$BATS_TEST_TMPDIR tokens=$BATS_TEST_TMPDIR/tokens.vpet
  # Not a tokens stream: pooled features.
  "$BIN/vit-extract" -q -m "$MODEL" -d "$tmp/train" -o "$tmp/features.vpet"
  run "$p" -q -o "$tmp/out.vpet" "$tmp/features.vpet"
  assert_failure 1
  assert_output --partial "features.vpet: this is a 'features' stream, but a 'tokens' stream is needed"
  # A layer missing: deep needs layers 0 and 1, shallow layer 0.
  "$BIN/vit-extract" -q -m "$MODEL" -d "$tmp/train" --feature tokens --layers 0,2 -o "$tmp/l02.vpet"
  run "$p" -q -o "$tmp/out.vpet" "$tmp/l02.vpet"
  assert_failure 1
  assert_output --partial "l02.vpet has no layer 1"
  "$BIN/vit-extract" -q -m "$MODEL" -d "$tmp/train" --feature tokens --layers 1,2 -o "$tmp/l12.vpet"
  run "$p" -q --shallow -o "$tmp/out.vpet" "$tmp/l12.vpet"
  assert_failure 1
  assert_output --partial "has no layer 0"
  # Truncated, from a file and from a pipe.
  head -c 20000 "$tokens" >"$tmp/cut.vpet"
  run "$p" -q -o "$tmp/out.vpet" "$tmp/cut.vpet"
  assert_failure 1
  assert_output --partial "cut.vpet: record"
  assert_output --partial "truncated"
  run bash -c "head -c 20000 '$tokens' | '$p' -q -o '$tmp/out.vpet'"
  assert_failure 1
  assert_output --partial "standard input"
  # Not msgpack at all; no input.
  run "$p" -q -o "$tmp/out.vpet" "$FIXTURES/images/random.bin"
  assert_failure 1
  run "$p" -q -o "$tmp/out.vpet" "$tmp/missing.vpet"
  assert_failure 1
  assert_output --partial "missing.vpet"
  # Windows that cannot be cut: P − 1 = 17 > 16 patches.
  run "$p" -q --method max --prompts 18 -o "$tmp/out.vpet" "$tokens"
  assert_failure 1
  assert_output --partial "use at most 17 prompts"
  # Fewer candidates than prompts: 24 images of 16 tokens.
  run "$p" -q --prompts 400 -o "$tmp/out.vpet" "$tokens"
  assert_failure 1
  assert_output --partial "384 candidate rows from 24 images, fewer than the 400"
  assert_only_files "cut.vpet features.vpet l02.vpet l12.vpet tokens.vpet train "
}

# A synthetic tokens stream of RECORDS records of 32 images (3 layers, 1 + 64
# tokens of width 128: 3.2 MB a record) on stdout, made from a few records
# written over and over: what it holds does not matter, how much does.
synthetic_tokens() {
  "$PY" - "$1" <<'PY'
import sys, msgpack, msgpack_numpy, numpy as np
header = {"format": "vpet", "version": 2, "kind": "tokens", "program": "bats", "program_version": "0",
          "args": [], "end_record": True, "layers": [0, 1, 2], "prefix_tokens": 1,
          "backbone": {"depth": 2, "width": 128, "fingerprint": "sha256:synthetic"}}
out = sys.stdout.buffer
out.write(msgpack.packb(header))
rng = np.random.default_rng(0)
records = [msgpack.packb({"features": rng.standard_normal((32, 3, 65, 128), dtype=np.float32)},
                         default=msgpack_numpy.encode) for _ in range(3)]
for i in range(int(sys.argv[1])):
    out.write(records[i % 3])
out.write(msgpack.packb({"format": "vpet-end", "records": int(sys.argv[1]),
                         "samples": 32 * int(sys.argv[1])}))
PY
}

# Peak resident memory (KiB) of prompt-init-proto reading RECORDS synthetic records.
peak_kib() {
  local records=$1
  shift
  synthetic_tokens "$records" |
    /usr/bin/time -f '%M' -o "$BATS_TEST_TMPDIR/rss" "$BIN/prompt-init-proto" -q -t 2 "$@" \
      -o "$BATS_TEST_TMPDIR/p.vpet"
  cat "$BATS_TEST_TMPDIR/rss"
}

@test "memory stays flat however many images stream through" {
  skip_if_sanitized "a peak-RSS bound"
  [ -x /usr/bin/time ] || skip "/usr/bin/time not installed"
  # 40 records (1280 images, 0.13 GB) against 400 (12800 images, 1.3 GB):
  # whatever grew with the images would add hundreds of MB.
  local method small large
  for method in random max kmeans; do
    small=$(peak_kib 40 --method "$method" --prompts 20)
    large=$(peak_kib 400 --method "$method" --prompts 20)
    echo "# $method: $small KiB for 1280 images, $large KiB for 12800" >&3
    [ "$large" -lt $((small + 16 * 1024)) ] || fail "$method: $small KiB -> $large KiB"
  done
}
