#!/usr/bin/env bash
# A VTAB-1k sweep (examples/vtab1k/Makefile) as Slurm job arrays, one array
# task per run, then the table:
#
#   examples/slurm/submit.sh [--tune] [--throttle N] [--sbatch ARGS] [MAKE VARIABLES...]
#
#   examples/slurm/submit.sh --throttle 32 VTAB=/data/vtab-1k MODEL=vit-b16.safetensors \
#     OUT=/shared/vtab1k METHODS="lora spt-lora" SEEDS="0 1 2" THREADS=4
#
# Without --tune: one array over the sweep's (task, method, seed) runs, then
# a job that makes the table once every run succeeded. With --tune (VTAB-1k's
# two stages, as make tune-then-test): first an array over every (task,
# method, grid point) on train800/val200, then the runs with each task's
# best point, then the table. --throttle N: at most N array tasks at once
# (sbatch --array=...%N; default 16); --sbatch ARGS: more sbatch options for
# every job (a partition, a time limit). OUT must be on a filesystem every
# node sees. Resubmitting after a failure redoes only what has no output.
# SBATCH names the sbatch to call (default: sbatch).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export VPET_MAKEFILE=${VPET_MAKEFILE:-$here/../vtab1k/Makefile}
tune=0 throttle=16 extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --tune) tune=1 ;;
    --throttle) throttle=${2:?--throttle needs N}; shift ;;
    --sbatch) read -r -a extra <<<"${2:?--sbatch needs its options}"; shift ;;
    -h | --help) sed -n '2,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    -*) echo "submit.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
case $throttle in '' | *[!0-9]* | 0) echo "submit.sh: --throttle needs a count >= 1" >&2; exit 2 ;; esac
sbatch=${SBATCH:-sbatch}
# The variables travel to the array tasks in MAKE_ARGS (sbatch exports the
# environment), shell-quoted: METHODS="lora spt-lora" stays one word.
make_args=("$@")
quoted() { printf '%q ' "${make_args[@]}"; }
export MAKE_ARGS
MAKE_ARGS=$(quoted)
count() { make -s -f "$VPET_MAKEFILE" "${make_args[@]}" "print-$1-targets" | wc -l; }
# submit STAGE [DEPENDENCY]: an array over the stage's targets; prints its id.
submit() {
  local stage=$1 after=${2:-} n
  n=$(count "$stage")
  [ "$n" -gt 0 ] || { echo "submit.sh: the $stage stage has no targets" >&2; exit 1; }
  STAGE=$stage "$sbatch" --parsable "${extra[@]}" ${after:+--dependency=afterok:$after} \
    --array="0-$((n - 1))%$throttle" "$here/vtab1k-task.sh"
}
after=
if [ "$tune" = 1 ]; then
  after=$(submit tune)
  echo "grid: job $after"
  make_args+=(TUNED=1)
  MAKE_ARGS=$(quoted)
fi
runs=$(submit run "$after")
echo "runs: job $runs"
table=$("$sbatch" --parsable "${extra[@]}" --dependency="afterok:$runs" --job-name=vpet-table \
  --wrap="make -f '$VPET_MAKEFILE' $MAKE_ARGS table")
echo "table: job $table"
