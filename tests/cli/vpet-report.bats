#!/usr/bin/env bats
# vpet-report: the table of a fixed set of reports line by line in its four
# formats, the figures gnuplot made, labels from paths, from the reports and
# from a real peft-train/peft-eval run, and bad input refused by file and line.

load helpers

MODEL=$FIXTURES/vit/a_timm.safetensors

# A sweep's folder OUT/<task>/<method>-s<seed>.json: two methods, two seeds,
# three tasks of VTAB-1k's three groups; lora misses dmlab's seed 1.
make_sweep() {
  local task method seed top1 params
  while read -r task method seed top1 params; do
    mkdir -p "res/$task"
    printf '{"top1": %s, "top5": 99, "params_trainable": %s, "params_trainable_with_head": %s, "method": "x", "training": {"seconds": %s}}\n' \
      "$top1" "$params" "$((params + 100))" "$seed.5" >"res/$task/$method-s$seed.json"
  done <<'RUNS'
cifar lora 0 70 294912
cifar lora 1 72 294912
eurosat lora 0 95 294912
eurosat lora 1 96 294912
dmlab lora 0 40 294912
cifar linear 0 60 0
cifar linear 1 61 0
eurosat linear 0 90 0
eurosat linear 1 90 0
dmlab linear 0 30 0
dmlab linear 1 34 0
RUNS
}

PATTERN=(--name-pattern '{task}/{method}-s{seed}.json')

@test "--help lists the options; no input is a usage error" {
  run "$BIN/vpet-report" --help
  assert_success
  assert_output --partial "--name-pattern"
  assert_output --partial "--plot-params"
  run "$BIN/vpet-report"
  assert_failure 2
  run "$BIN/vpet-report" -f html x.json
  assert_failure 2
  assert_output --partial "--format 'html'"
  run "$BIN/vpet-report" --plot-params fig.pdf x.json
  assert_failure 2
  assert_output --partial ".png or .svg"
  run "$BIN/vpet-report" --name-pattern '{tsk}.json' x.json
  assert_failure 2
}

@test "a sweep's table: seeds' mean ± std, VTAB groups, both means, missing means as -" {
  cd "$BATS_TEST_TMPDIR"
  make_sweep
  run "$BIN/vpet-report" -q "${PATTERN[@]}" -f tsv --methods lora,linear res
  assert_success
  assert_line --index 0 "$(printf 'method\tcifar\teurosat\tdmlab\tNatural\tSpecialized\tStructured\tmean of 3 group means\tmean of 3 tasks\tparams (M, no head)')"
  assert_line --index 1 "$(printf 'lora\t71.00 ± 1.41\t95.50 ± 0.71\t40.00\t71.00\t95.50\t40.00\t68.83\t68.83\t0.2949')"
  assert_line --index 2 "$(printf 'linear\t60.50 ± 0.71\t90.00 ± 0.00\t32.00 ± 2.83\t60.50\t90.00\t32.00\t60.83\t60.83\t0.0000')"
  [ "${#lines[@]}" -eq 3 ]

  run "$BIN/vpet-report" -q "${PATTERN[@]}" --no-groups --tasks cifar,eurosat --metric top5 \
    --with-head --column 'train s=training.seconds' --digits 1 res
  assert_success
  # Rows as first read (res/cifar/linear-s0.json first); the column's mean over cifar and eurosat.
  assert_line --index 0 "method       cifar     eurosat  mean of 2 tasks  params (M, with head)  train s"
  assert_line --index 1 "linear  99.0 ± 0.0  99.0 ± 0.0             99.0                 0.0001      1.0"
  assert_line --index 2 "lora    99.0 ± 0.0  99.0 ± 0.0             99.0                 0.2950      1.0"

  run "$BIN/vpet-report" -q "${PATTERN[@]}" --group A=cifar,eurosat -f markdown --tasks cifar,eurosat res
  assert_success
  assert_line --index 0 "| method | cifar | eurosat | A | mean of 2 tasks | params (M, no head) |"
  assert_line --index 1 "| :--- | ---: | ---: | ---: | ---: | ---: |"
  assert_line --index 3 "| lora | 71.00 ± 1.41 | 95.50 ± 0.71 | 83.25 | 83.25 | 0.2949 |"

  run "$BIN/vpet-report" -q "${PATTERN[@]}" -f latex --no-groups --tasks dmlab --methods lora res
  assert_success
  assert_output "$(printf '%s\n' '\begin{tabular}{lrr}' '\toprule' \
    'method & dmlab & params (M, no head) \\' '\midrule' 'lora & 40.00 & 0.2949 \\' \
    '\bottomrule' '\end{tabular}')"
}

@test "figures: PNG and SVG from gnuplot, titles from the data, written atomically" {
  command -v gnuplot >/dev/null || skip "gnuplot not installed"
  cd "$BATS_TEST_TMPDIR"
  make_sweep
  printf '%s\n' '{"type":"run","method":"lora","data":"vtab/cifar/train800val200.txt","seed":0,"recipe":null}' \
    '{"type":"step","epoch":1,"step":1,"loss":1.1,"lr":0.001}' \
    '{"type":"step","epoch":1,"step":2,"loss":0.8,"lr":0.002}' \
    '{"type":"eval","epoch":1,"step":2,"top1":55}' >res/cifar/lora-s0.metrics.jsonl
  run "$BIN/vpet-report" -q "${PATTERN[@]}" res -o table.txt \
    --plot-params params.png --plot-params params.svg --plot-curves curves.png --plot-curves curves.svg
  assert_success
  for png in params.png curves.png; do
    [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
    [ "$(stat -c %s "$png")" -gt 5000 ]
  done
  grep -q '<svg' params.svg
  grep -q 'against trainable parameters' params.svg
  grep -q 'linear (no trainable parameters)' params.svg
  grep -q 'training of lora on cifar, seed 0' curves.svg
  grep -q '^lora ' table.txt
  assert_only_files curves.png curves.svg params.png params.svg res table.txt

  # A figure that cannot be made leaves no output behind, the table neither.
  run "$BIN/vpet-report" -q "${PATTERN[@]}" --methods linear res -o t2.txt --plot-params p2.png
  assert_failure 1
  assert_output --partial "no method with trainable parameters"
  [ ! -e t2.txt ] && [ ! -e p2.png ]
  # Without gnuplot on PATH: said so, exit 1.
  run env PATH=/nonexistent "$BIN/vpet-report" -q "${PATTERN[@]}" res --plot-params p3.png
  assert_failure 1
  assert_output --partial "gnuplot-nox"
  assert_only_files curves.png curves.svg params.png params.svg res table.txt
}

@test "bad input: exit 1 naming the file and line" {
  cd "$BATS_TEST_TMPDIR"
  mkdir -p r
  echo '{"top1": 1, "params_trainable": 0, "method": "m"}' >r/a.json
  printf '%s\n' '{"top1": 1, "params_trainable": 0, "method": "m"}' 'not json' >r/b.json
  run "$BIN/vpet-report" r
  assert_failure 1
  assert_output --partial "r/b.json:2: not JSON"
  printf '{"model": "x"}\n' >r/b.json
  run "$BIN/vpet-report" r -o out.txt
  assert_failure 1
  assert_output --partial "r/b.json:1: neither a peft-eval --json report"
  [ ! -e out.txt ]
  echo '{"top1": 2, "params_trainable": 0, "method": "m", "seed": 0, "data": "v/t/test.txt"}' >r/b.json
  echo '{"top1": 3, "params_trainable": 0, "method": "m", "seed": 0, "data": "v/t/test.txt"}' >r/c.json
  run "$BIN/vpet-report" r/b.json r/c.json
  assert_failure 1
  assert_output --partial "r/c.json:1: m on t with seed 0 again (first in r/b.json:1)"
  echo '{"top1": "high", "params_trainable": 0, "method": "m"}' >r/b.json
  run "$BIN/vpet-report" r/b.json
  assert_failure 1
  assert_output --partial 'r/b.json:1: no number "top1"'
  run "$BIN/vpet-report" "${PATTERN[@]}" r/a.json
  assert_failure 1
  assert_output --partial "does not match --name-pattern"
  run "$BIN/vpet-report" missing
  assert_failure 1
  assert_output --partial "missing: no such file or folder"
  mkdir empty
  run "$BIN/vpet-report" empty
  assert_failure 1
  assert_output --partial "no .json or .jsonl file"
  run "$BIN/vpet-report" --methods other r/a.json
  assert_failure 1
  assert_output --partial "--methods: no report of 'other'"
}

@test "a real run: peft-eval's seed and data and peft-train's run line label the runs" {
  cd "$BATS_TEST_TMPDIR"
  make_colour_task colours/train 4 0
  make_colour_task colours/test 2 1
  for seed in 3 4; do
    "$BIN/peft-train" -q -m "$MODEL" -d colours/train --method bitfit --epochs 1 -b 6 -t 1 \
      --seed "$seed" --eval-every 1 --val colours/test --metrics "log$seed.jsonl" -o "b$seed.vpet"
    "$BIN/peft-eval" -q -m "$MODEL" -a "b$seed.vpet" -d colours/test -t 1 --json >"e$seed.json"
  done
  jq -e '.seed == 3 and .data == "colours/test"' e3.json
  jq -s -e 'map(select(.type == "run")) | length == 1 and .[0].method == "bitfit" and .[0].seed == 3
    and .[0].data == "colours/train"' log3.jsonl
  run "$BIN/vpet-report" -q e3.json e4.json log3.jsonl log4.jsonl -f tsv
  assert_success
  assert_line --index 0 "$(printf 'method\tcolours\tparams (M, no head)')"
  local mean
  mean=$(printf '%.2f' "$(jq -s 'map(.top1) | add / 2' e3.json e4.json)")
  [[ "${lines[1]}" == bitfit$'\t'"$mean ± "* ]]
  # Standard input works as an input.
  run "$BIN/vpet-report" -q - <e3.json
  assert_success
  assert_line --index 1 --partial "bitfit"
  if command -v gnuplot >/dev/null; then
    run "$BIN/vpet-report" -q log3.jsonl log4.jsonl --plot-curves c.svg
    assert_success
    grep -q 'training curves of 2 runs on colours' c.svg
    grep -q 'bitfit seed 4' c.svg
  fi
}
