#!/usr/bin/env bats
# Every example in examples/ runs, on tiny data and few steps, so that none
# of them can rot: the method pipelines, the VTAB-1k Makefile and the demo.

load helpers

EXAMPLES=$BATS_TEST_DIRNAME/../../examples
MODEL=$FIXTURES/vit/a_timm.safetensors
FMNIST=/usr/share/datasets/fashion-mnist

setup() {
  export VPET_BIN=$BIN
  # After the examples' recipes: the tiny model's 32 px, one epoch, no warmup.
  export TRAIN_OPTIONS="--epochs 1 --warmup 0 --img-size 32 -b 8 -t 1 -q"
}

@test "spt.sh: spt-sensitivity | peft-train, then peft-eval" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 1
  cd "$BATS_TEST_TMPDIR"
  run "$EXAMPLES/spt.sh" "$MODEL" task task 2k spt.vpet
  assert_success
  assert_output --partial "spt-lora"
  [ -f spt.vpet ]
  run "$EXAMPLES/spt.sh" "$MODEL"
  assert_failure 2
}

@test "self_prompt.sh: vit-extract | prompt-init-proto, then VPT-deep from the prototypes" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 2
  cd "$BATS_TEST_TMPDIR"
  run "$EXAMPLES/self_prompt.sh" "$MODEL" task task 3 sp.vpet
  assert_success
  assert_output --partial "vpt-deep"
  run "$BIN/vpet-info" --json sp.vpet.prompts
  echo "$output" | jq -e '.header.kind == "prompts"'
}

@test "lion_imp.sh: the lottery-ticket loop" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 3
  cd "$BATS_TEST_TMPDIR"
  TRAIN_OPTIONS="--epochs 1 -b 8 -t 1 -q --lion-width 16" run "$EXAMPLES/lion_imp.sh" \
    "$MODEL" task task 1 imp
  assert_success
  [ -f imp/round1.vpet ] && [ -f imp/pruned1.vpet ]
  assert_output --partial "round1"
}

@test "pgn.sh: train, invert, evaluate latent and pixel prompts" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4 4
  cd "$BATS_TEST_TMPDIR"
  TRAIN_OPTIONS="$TRAIN_OPTIONS --pgn-input-size 32 --pgn-library 8 --pgn-prompts 2" \
    run "$EXAMPLES/pgn.sh" "$MODEL" task task out
  assert_success
  assert_output --partial "latent"
  assert_output --partial "rgb8"
}

# A VTAB-1k folder: <task>/{train800,val200,train800val200,test}.txt.
make_vtab() {
  local task split
  for task in "$@"; do
    make_colour_task "$BATS_TEST_TMPDIR/images/$task" 3 5
    mkdir -p "$BATS_TEST_TMPDIR/vtab/$task"
    for split in train800 val200 train800val200 test; do
      (cd "$BATS_TEST_TMPDIR/images/$task" && find . -name '*.png' | sort | awk -F/ -v task="$task" '
        { print "../../images/" task "/" $2 "/" $3 " " ($2 == "blue" ? 0 : $2 == "green" ? 1 : 2) }'
      ) >"$BATS_TEST_TMPDIR/vtab/$task/$split.txt"
    done
  done
}

@test "vtab1k/Makefile: tasks x methods with make -j, both means labelled" {
  make_vtab cifar dmlab
  cd "$BATS_TEST_TMPDIR"
  # LAUNCH: every step through a launcher (here one that logs and runs it,
  # as srun would run it on a cluster).
  printf '#!/bin/sh\necho "$(basename "$1")" >>"%s/launched"\nexec "$@"\n' "$PWD" >launch
  chmod +x launch
  local sweep=(make -s -j2 -f "$EXAMPLES/vtab1k/Makefile" BIN="$BIN" VTAB=vtab MODEL="$MODEL"
    OUT=res NATURAL=cifar SPECIALIZED= STRUCTURED=dmlab METHODS="linear self-prompt" SEEDS=0
    THREADS=1 PROMPTS=2 PREPROCESS="--img-size 32" TRAIN_OPTIONS="--epochs 1 --warmup 0 -b 8"
    LAUNCH="$PWD/launch")
  run "${sweep[@]}"
  assert_success
  # 2 tasks x 2 methods trained and evaluated, 2 prototype pipelines.
  [ "$(sort launched | uniq -c | awk '{printf "%s:%s ", $2, $1}')" = \
    "peft-eval:4 peft-train:4 prompt-init-proto:2 vit-extract:2 " ]
  # Interrupted before its last evaluation and the table: run again, the
  # sweep does those alone.
  rm res/dmlab/linear-s0.json res/table.tsv launched
  run "${sweep[@]}"
  assert_success
  [ "$(cat launched)" = peft-eval ]
  assert_output --partial "mean of 2 group means"
  assert_output --partial "mean of 2 tasks"
  [ "$(wc -l <res/table.tsv)" -eq 3 ]
  # Parameters exclude the head: the linear probe trains none.
  awk -F '\t' '$1 == "linear" { exit !($NF == "0.0000") }' res/table.tsv
  [ -f res/cifar/self-prompt.prompts ] && [ -f res/dmlab/self-prompt-s0.json ]
  # Self-Prompt trained with its recipe, the tiny model's size and one epoch over it.
  "$PY" - <<'PYTHON'
import msgpack
header = next(iter(msgpack.Unpacker(open("res/cifar/self-prompt-s0.vpet", "rb"), raw=False)))
recipe = header["training"]["recipe"]
assert recipe["name"] == "self-prompt-supervised-vtab1k", recipe
assert recipe["overridden"] == {"img-size": "224", "epochs": "100", "warmup": "10",
                                "batch": "32", "prompts": "20"}, recipe["overridden"]
PYTHON
}

@test "vtab1k/Makefile tune-then-test: a grid on train800/val200, the best point on train800val200/test" {
  make_vtab cifar
  cd "$BATS_TEST_TMPDIR"
  run make -s -j2 -f "$EXAMPLES/vtab1k/Makefile" BIN="$BIN" VTAB=vtab MODEL="$MODEL" OUT=res \
    NATURAL=cifar SPECIALIZED= STRUCTURED= METHODS="linear vpt-deep" SEEDS=0 THREADS=1 \
    PREPROCESS="--img-size 32" TRAIN_OPTIONS="--epochs 2 --warmup 0 -b 8" \
    TUNE_LR="0.0001 0.3" TUNE_WD="0" TUNE_PROMPTS="1 2" tune-then-test
  echo "$output"
  assert_success
  ls res/tune/cifar/linear res/tune/cifar/vpt-deep
  [ -f res/tune/cifar/linear/lr0.0001_wd0.json ] && [ -f res/tune/cifar/linear/lr0.3_wd0.json ]
  [ -f res/tune/cifar/vpt-deep/lr0.3_wd0_p2.json ] && [ -f res/table.tsv ]
  run "$PY" - <<'PYTHON'
import json, msgpack
def top1(path):
    return json.load(open(path))["top1"]
grids = {"linear": ["lr0.0001_wd0", "lr0.3_wd0"],
         "vpt-deep": ["lr0.0001_wd0_p1", "lr0.0001_wd0_p2", "lr0.3_wd0_p1", "lr0.3_wd0_p2"]}
for method, points in grids.items():
    scores = [top1(f"res/tune/cifar/{method}/{p}.json") for p in points]
    best = points[scores.index(max(scores))]  # the first of the best
    parts = dict((w[:2] if w[:2] in ("lr", "wd") else "p", w[2:] if w[:2] in ("lr", "wd") else w[1:])
                 for w in best.split("_"))
    options = open(f"res/tune/cifar/{method}.best").read().split()
    assert options[:4] == ["--lr", parts["lr"], "--wd", parts["wd"]], (options, best)
    header = next(iter(msgpack.Unpacker(open(f"res/cifar/{method}-s0.vpet", "rb"), raw=False)))
    settings = header["training"]["settings"]
    assert abs(settings["lr"] - float(parts["lr"])) < 1e-12, (settings["lr"], best)
    if method == "vpt-deep":
        assert header["config"]["prompts"] == int(parts["p"]), header["config"]
    assert json.load(open(f"res/cifar/{method}-s0.json"))["data"].endswith("test.txt")
print("ok")
PYTHON
  echo "$output"
  assert_output "ok"
}

# examples/slurm/submit.sh with a stand-in sbatch that records each
# submission and runs it at once (array tasks in order, SLURM_ARRAY_TASK_ID
# set), so that each job's dependencies have run before it: the grid array,
# the runs after it, the table after them.
@test "slurm/submit.sh: the grid, the runs and the table as dependent job arrays" {
  make_vtab cifar dmlab
  cd "$BATS_TEST_TMPDIR"
  cat >sbatch <<'SH'
#!/usr/bin/env bash
id=$(($(cat ids 2>/dev/null || echo 0) + 1)); echo "$id" >ids
array= wrap= dependency= script=
for a in "$@"; do
  case $a in
    --array=*) array=${a#--array=} ;;
    --wrap=*) wrap=${a#--wrap=} ;;
    --dependency=*) dependency=${a#--dependency=} ;;
    --*) ;;
    *) script=$a ;;
  esac
done
echo "$id array=$array dependency=$dependency stage=${STAGE:-}" >>submissions
if [ -n "$wrap" ]; then
  sh -c "$wrap" >"job-$id.log" 2>&1 || exit 1
else
  range=${array%%\%*}
  for ((i = ${range%-*}; i <= ${range#*-}; i++)); do
    SLURM_ARRAY_TASK_ID=$i bash "$script" >>"job-$id.log" 2>&1 || exit 1
  done
fi
echo "$id"
SH
  chmod +x sbatch
  run env SBATCH="$PWD/sbatch" "$EXAMPLES/slurm/submit.sh" --tune --throttle 3 BIN="$BIN" \
    VTAB=vtab MODEL="$MODEL" OUT=res NATURAL=cifar SPECIALIZED= STRUCTURED=dmlab \
    METHODS="linear vpt-deep" SEEDS=0 THREADS=1 PREPROCESS="--img-size 32" \
    TRAIN_OPTIONS="--epochs 1 --warmup 0 -b 8" TUNE_LR="0.001 0.01" TUNE_WD=0 TUNE_PROMPTS="1 2"
  echo "$output"
  assert_success
  assert_output --partial "table: job 3"
  # 2 tasks x (2 linear + 4 vpt-deep points); then 2 tasks x 2 methods x 1 seed.
  [ "$(cat submissions)" = "1 array=0-11%3 dependency= stage=tune
2 array=0-3%3 dependency=afterok:1 stage=run
3 array= dependency=afterok:2 stage=" ]
  [ -f res/table.tsv ] && [ -f res/tune/dmlab/vpt-deep.best ] && [ -f res/dmlab/vpt-deep-s0.json ]
  run "$EXAMPLES/slurm/submit.sh" --throttle 0 OUT=res
  assert_failure 2
}

# The first N images of Fashion-MNIST's training and test files, as IDX
# files of their own under DIR (the demo reads the data set's folder).
make_small_fmnist() {
  "$PY" - "$FMNIST" "$1" "$2" <<'PYTHON'
import gzip, struct, sys
source, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for split in ("train", "t10k"):
    for kind, item in (("images-idx3", 784), ("labels-idx1", 1)):
        with gzip.open(f"{source}/{split}-{kind}-ubyte.gz") as f:
            magic = f.read(4)
            dims = struct.unpack(">%dI" % magic[3], f.read(4 * magic[3]))
            data = f.read(n * item)
        with gzip.open(f"{target}/{split}-{kind}-ubyte.gz", "wb") as f:
            f.write(magic + struct.pack(">%dI" % magic[3], n, *dims[1:]) + data)
PYTHON
}

@test "demo/Makefile: pre-training, every method, the table, TSV, JSON and figure" {
  [ -e "$FMNIST/train-images-idx3-ubyte.gz" ] || skip "dataset-fashion-mnist not installed"
  command -v gnuplot >/dev/null || skip "gnuplot not installed"
  cd "$BATS_TEST_TMPDIR"
  mkdir fmnist
  make_small_fmnist fmnist 200
  # The demo's own TRAIN_OPTIONS (from EPOCHS and WARMUP), not setup's.
  run env -u TRAIN_OPTIONS make -s -j2 -f "$EXAMPLES/demo/Makefile" BIN="$BIN" OUT=out FMNIST=fmnist \
    MODEL_SPEC=random:width=16,depth=2,heads=2,patch=7,img=28,chans=1 \
    PRETRAIN_PER_CLASS=4 PRETRAIN_OPTIONS="--epochs 1 -b 8 -q" \
    TRAIN_PER_CLASS=4 VAL_PER_CLASS=1 \
    EPOCHS=1 WARMUP=0 SPT_BUDGET=300 PROMPTS=2 OPTIONS_lion="--lion-width 8"
  assert_success
  for row in linear full bitfit vpt-shallow vpt-deep self-prompt lora adapter memory \
    spt-lora spt-adapter lion lion-pruned pgn pgn-pixels; do
    assert_output --partial "$row"
  done
  [ "$(wc -l <out/results.tsv)" -eq 16 ]
  # Every test image of classes 5-9 among the first 200 of t10k.
  local tests
  tests=$("$PY" -c 'import gzip; print(sum(b >= 5 for b in gzip.open("fmnist/t10k-labels-idx1-ubyte.gz").read()[8:]))')
  jq -e --argjson n "$tests" 'length == 15 and all(.[]; .n == $n and .training.seconds > 0)' \
    out/results.json
  [ "$(head -c 4 out/results.png | tail -c 3)" = PNG ]
  grep -q 'top-1 on fmnist against trainable parameters' out/results.svg
  # vpet-report's columns: top-1 on the task, parameters, the measurements.
  assert_line --regexp '^method +fmnist +params \(M, no head\) +% of backbone +train s +train peak MiB +val top-1 %$'

  # A second run redoes nothing.
  run env -u TRAIN_OPTIONS make -q -f "$EXAMPLES/demo/Makefile" BIN="$BIN" OUT=out FMNIST=fmnist out/results.tsv
  assert_success
}

# FGVC tasks in VPT's layout: TASK/images/<class>/<n>.png and {train,val,test}.json.
make_fgvc() {
  for task in "$@"; do
    make_colour_task "$BATS_TEST_TMPDIR/fgvc/$task/images" 3 5
    "$PY" - "$BATS_TEST_TMPDIR/fgvc/$task" <<'PYTHON'
import json, os, sys
root = sys.argv[1]
labels = {"blue": 10, "green": 20, "red": 30}   # VPT's loader renumbers them 0, 1, 2
entries = {f"{c}/{n}": labels[c] for c in sorted(labels) for n in sorted(os.listdir(f"{root}/images/{c}"))}
for split in ("train", "val", "test"):
    json.dump(entries, open(f"{root}/{split}.json", "w"))
PYTHON
  done
}

@test "fgvc/Makefile: VPT's JSON splits with --root, augmented training, mean ± std table" {
  make_fgvc cub dogs
  cd "$BATS_TEST_TMPDIR"
  run make -s -j2 -f "$EXAMPLES/fgvc/Makefile" BIN="$BIN" FGVC=fgvc MODEL="$MODEL" OUT=res \
    TASKS="cub dogs" ROOT_cub=fgvc/cub/images ROOT_dogs=fgvc/dogs/images METHODS="linear lora" \
    SEEDS="0 1" THREADS=1 PREPROCESS="--img-size 32" TRAIN_OPTIONS="--epochs 1 --warmup 0 -b 8"
  assert_success
  assert_output --partial "mean of 2 tasks"
  [ "$(wc -l <res/table.tsv)" -eq 3 ]
  awk -F '\t' '$1 == "lora" { exit !($2 ~ / ± /) }' res/table.tsv
  jq -e '.training.settings.run.augment.crop == "random"' <(
    "$PY" -c 'import sys, json, msgpack, msgpack_numpy
print(json.dumps(next(iter(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False)))))' res/cub/lora-s0.vpet)
}

