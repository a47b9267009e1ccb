#!/usr/bin/env bash
# The FGVC table from peft-eval's reports OUT/<task>/<method>-s<seed>.json:
# one row per method with each task's top-1 as mean ± standard deviation over
# the seeds (the sample deviation, n − 1; 0 for one seed), the mean over the
# tasks of the task means, and the trainable parameters in millions without
# the head.
#
#   TASKS="..." METHODS="..." SEEDS="..." examples/fgvc/aggregate.sh OUT > table.tsv
set -euo pipefail

out=${1:?usage: aggregate.sh OUT}
for method in $METHODS; do
  for task in $TASKS; do
    for seed in $SEEDS; do
      report=$out/$task/$method-s$seed.json
      [ -f "$report" ] || { echo "aggregate.sh: $report is missing" >&2; exit 1; }
      jq -r --arg m "$method" --arg t "$task" '[$m, $t, .top1, .params_trainable] | @tsv' "$report"
    done
  done
done | awk -F '\t' -v OFS='\t' '
  function add(list, item) { return index(" " list " ", " " item " ") ? list : list " " item }
  {
    methods = add(methods, $1); tasks = add(tasks, $2)
    sum[$1, $2] += $3; squares[$1, $2] += $3 * $3; runs[$1, $2]++
    params[$1] += $4; count[$1]++
  }
  END {
    ntasks = split(substr(tasks, 2), task, " ")
    printf "method"
    for (i = 1; i <= ntasks; i++) printf "\t%s", task[i]
    printf "\tmean of %d tasks\tparams (M, no head)\n", ntasks
    split(substr(methods, 2), method, " ")
    for (m = 1; m in method; m++) {
      name = method[m]; printf "%s", name; total = 0
      for (i = 1; i <= ntasks; i++) {
        n = runs[name, task[i]]; mean = sum[name, task[i]] / n
        var = n > 1 ? (squares[name, task[i]] - n * mean * mean) / (n - 1) : 0
        printf "\t%.2f ± %.2f", mean, sqrt(var > 0 ? var : 0); total += mean
      }
      printf "\t%.2f\t%.4f\n", total / ntasks, params[name] / count[name] / 1e6
    }
  }'
