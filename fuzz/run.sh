#!/usr/bin/env bash
# Runs fuzz targets for a while each (make fuzz, make fuzz-smoke; fuzz/README.md):
#   fuzz/run.sh BIN SECONDS [JOBS [TARGET...]]
# BIN holds build-fuzz's fuzz_<target> executables. Each target runs SECONDS
# over a scratch copy of fuzz/corpus/<target>/ (the committed corpus does not
# grow) and fuzz/regressions/<target>/, with its dictionary (fuzz/dict/) where
# there is one; JOBS targets at a time. A crash, leak, timeout or sanitizer
# report fails the run: the input is kept in $FUZZ_FAILURES (default
# BIN/../failures/<target>/) and the log's end is shown. A table of
# executions and coverage per target ends the output. FUZZ_SEED=N fixes
# libFuzzer's seed: the mutations are then the same on every run (make
# fuzz-smoke, so that CI does not turn red on a new random draw), and only
# how far a run gets in SECONDS varies.
set -euo pipefail
bin=$(realpath "$1")
seconds=$2
jobs=${3:-1}
shift $(($# < 3 ? $# : 3))
cd "$(dirname "$0")/.."
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in fuzz/targets/*.cpp; do targets+=("$(basename "$t" .cpp)"); done
fi
export FUZZ_FAILURES=${FUZZ_FAILURES:-$bin/../failures}
export OMP_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export bin seconds scratch

run_one() {
  local t=$1 dir=$scratch/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp fuzz/corpus/"$t"/* "$dir/corpus/"
  # Inputs up to 256 KB; the bundles' pixel-prompts seed is 1.2 MB.
  local max_len=262144
  [ "$t" = bundle ] && max_len=1400000
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len"
    -artifact_prefix="$dir/artifacts/" -print_final_stats=1)
  [ -n "${FUZZ_SEED:-}" ] && args+=(-seed="$FUZZ_SEED")
  local dict
  case $t in
    stream | tensor_codec | features | tokens | plan | prompts | bundle | checkpoint) dict=msgpack ;;
    safetensors | json) dict=json ;;
    npy | npz) dict=npy ;;
    *) dict=$t ;;
  esac
  [ -f fuzz/dict/$dict.dict ] && args+=(-dict=fuzz/dict/$dict.dict)
  local dirs=("$dir/corpus")
  [ -d fuzz/regressions/"$t" ] && dirs+=(fuzz/regressions/"$t")
  if "$bin/fuzz_$t" "${args[@]}" "${dirs[@]}" >"$dir/log" 2>&1; then
    echo ok >"$dir/status"
  else
    echo FAILED >"$dir/status"
    mkdir -p "$FUZZ_FAILURES/$t"
    cp "$dir"/artifacts/* "$FUZZ_FAILURES/$t/" 2>/dev/null || true
    echo "fuzz_$t failed; its input is in $FUZZ_FAILURES/$t/" >&2
    grep -vE '^#|NEW_FUNC|^\s+#[0-9]+ 0x[0-9a-f]+ in (fuzzer::|main|_start|__libc)' "$dir/log" | tail -30 >&2
  fi
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

failed=0
printf '%-14s %6s %10s %7s %7s %7s\n' target status runs exec/s cov ft
for t in "${targets[@]}"; do
  log=$scratch/$t/log
  status=$(cat "$scratch/$t/status" 2>/dev/null || echo FAILED)
  [ "$status" = ok ] || failed=1
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  printf '%-14s %6s %10s %7s %7s %7s\n' "$t" "$status" "${runs:--}" "${rate:--}" "${cov:--}" "${ft:--}"
done
exit $failed
