#!/usr/bin/env bash
# One array task of a VTAB-1k sweep on Slurm (examples/slurm/submit.sh
# submits it): array task i makes the i-th target of the stage STAGE of
# examples/vtab1k/Makefile with the variables MAKE_ARGS, i.e. one (task,
# method, seed) run, or in STAGE=tune one (task, method, grid point). The
# first stages (SPT's plan, Self-Prompt's prototypes) are made by whichever
# array task needs them first; outputs are written atomically, so two that
# race write the same file.
#SBATCH --job-name=vpet-vtab1k
#SBATCH --cpus-per-task=4
#SBATCH --output=vpet-%A_%a.log
set -euo pipefail
makefile=${VPET_MAKEFILE:?the sweep Makefile (submit.sh sets it)}
index=${SLURM_ARRAY_TASK_ID:?not an array task (submit with examples/slurm/submit.sh)}
# submit.sh's variables, shell-quoted (printf %q).
eval "make_args=(${MAKE_ARGS:-})"
mapfile -t targets < <(make -s -f "$makefile" "${make_args[@]}" "print-${STAGE:-run}-targets")
if [ "$index" -ge "${#targets[@]}" ]; then
  echo "vtab1k-task.sh: array task $index, but stage ${STAGE:-run} has ${#targets[@]} targets" >&2
  exit 2
fi
exec make -f "$makefile" "${make_args[@]}" "${targets[$index]}"
