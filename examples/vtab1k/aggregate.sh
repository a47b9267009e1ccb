#!/usr/bin/env bash
# The VTAB-1k table from peft-eval's reports OUT/<task>/<method>-s<seed>.json:
# one row per method with each task's top-1 (mean over seeds), the group
# means, both VTAB means, labelled (the VPT lineage's mean of the group means
# and V-PETL's plain mean of the tasks), and the trainable parameters in
# millions, without the head (mean over tasks: SPT's plans differ per task).
#
#   NATURAL="..." SPECIALIZED="..." STRUCTURED="..." METHODS="..." SEEDS="..." \
#     examples/vtab1k/aggregate.sh OUT > table.tsv
set -euo pipefail

out=${1:?usage: aggregate.sh OUT}
# One line per run: method, group, task, top-1, parameters.
for method in $METHODS; do
  for group in Natural Specialized Structured; do
    tasks=$(case $group in Natural) echo "${NATURAL-}" ;; Specialized) echo "${SPECIALIZED-}" ;;
      Structured) echo "${STRUCTURED-}" ;; esac)
    for task in $tasks; do
      for seed in $SEEDS; do
        report=$out/$task/$method-s$seed.json
        [ -f "$report" ] || { echo "aggregate.sh: $report is missing" >&2; exit 1; }
        jq -r --arg m "$method" --arg g "$group" --arg t "$task" \
          '[$m, $g, $t, .top1, .params_trainable] | @tsv' "$report"
      done
    done
  done
done | awk -F '\t' -v OFS='\t' '
  function add(list, item) { return index(" " list " ", " " item " ") ? list : list " " item }
  {
    methods = add(methods, $1); tasks = add(tasks, $3); group[$3] = $2
    sum[$1, $3] += $4; runs[$1, $3]++; params[$1] += $5; count[$1]++
  }
  END {
    ntasks = split(substr(tasks, 2), task, " ")
    ngroups = 0
    split("Natural Specialized Structured", names, " ")
    for (g = 1; g <= 3; g++) {
      for (i = 1; i <= ntasks; i++) if (group[task[i]] == names[g]) { used[++ngroups] = names[g]; break }
    }
    printf "method"
    for (i = 1; i <= ntasks; i++) printf "\t%s", task[i]
    for (g = 1; g <= ngroups; g++) printf "\t%s", used[g]
    printf "\tmean of %d group means\tmean of %d tasks\tparams (M, no head)\n", ngroups, ntasks
    split(substr(methods, 2), method, " ")
    for (m = 1; m in method; m++) {
      name = method[m]; printf "%s", name; total = 0
      delete gsum; delete gcount
      for (i = 1; i <= ntasks; i++) {
        top1 = sum[name, task[i]] / runs[name, task[i]]
        printf "\t%.2f", top1; total += top1
        gsum[group[task[i]]] += top1; gcount[group[task[i]]]++
      }
      means = 0
      for (g = 1; g <= ngroups; g++) {
        printf "\t%.2f", gsum[used[g]] / gcount[used[g]]; means += gsum[used[g]] / gcount[used[g]]
      }
      printf "\t%.2f\t%.2f\t%.4f\n", means / ngroups, total / ntasks, params[name] / count[name] / 1e6
    }
  }'
