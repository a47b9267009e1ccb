#!/usr/bin/env bats
# The benchmark's PyTorch reference (bench/reference.py) must compute what
# peft-train computes, or its timings compare different work: the first
# step's loss from the same start bundle, for a linear-hook method and for
# masked memory tokens (extra keys and values, a second row pass).

load helpers

@test "bench/reference.py computes peft-train's first-step loss (lora, memory)" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/bench.py" --parity-only --bin "$BIN" \
    --model "$FIXTURES/vit/a_timm.safetensors" --data "$BATS_TEST_TMPDIR/task" --batch 6 \
    --methods lora,memory --threads 1 --work "$BATS_TEST_TMPDIR/bench"
  assert_success
  assert_line --partial "parity parity lora: "
  assert_line --partial "parity parity memory: "
  refute_output --partial "MISMATCH"
}

# rsLoRA's scale alpha / √r (peft's use_rslora), against the reference's
# LoRA: at rank 8 it is √8 where the standard scale is 1, so a wrong scale
# moves the loss of a start bundle whose B is not zero.
@test "bench/reference.py computes peft-train's first-step loss for rsLoRA (--lora-scale rs)" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  local lora=(--method lora --rank 8 --lora-scale rs --lora-dropout 0 -b 6)
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${lora[@]}" --epochs 2 --lr 0.05 \
    -o "$dir/start.vpet"
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${lora[@]}" --epochs 1 \
    --rewind-from "$dir/start.vpet" --metrics "$dir/metrics.jsonl" -o "$dir/trained.vpet"
  local reference=("$PY" "$BATS_TEST_DIRNAME/../../bench/reference.py" --model "$model"
    --data "$dir/task" --method lora --init "$dir/start.vpet" --batch 6 --steps 1 --warmup 0
    --no-dropout --threads 1)
  run "${reference[@]}" --lora-scale rs
  assert_success
  local rs=$output
  run "${reference[@]}"
  assert_success
  run "$PY" - "$dir/metrics.jsonl" "$rs" "$output" <<'PYTHON'
import json, sys
vpet = [l["loss"] for l in map(json.loads, open(sys.argv[1])) if l["type"] == "step"][0]
rs, standard = (json.loads(a)["first_loss"] for a in sys.argv[2:4])
assert abs(vpet - rs) <= 1e-5 * max(1, abs(rs)), (vpet, rs)
assert abs(vpet - standard) > 1e-4, ("the scale does not show in the loss", vpet, standard)
PYTHON
  assert_success
}

# LoRA+: B learns at 16 times A's rate (its decay too, as a torch param
# group's lr scales it). Three full-batch steps from a start whose B is not
# zero: every loss is the reference's, and not the ratio-1 run's.
@test "bench/reference.py computes peft-train's losses for LoRA+ (--lr-ratio-b 16)" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  local lora=(--method lora --rank 8 --lora-dropout 0 -b 6)
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${lora[@]}" --epochs 2 --lr 0.05 \
    -o "$dir/start.vpet"
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${lora[@]}" --epochs 3 --lr 0.01 \
    --lr-ratio-b 16 --rewind-from "$dir/start.vpet" --metrics "$dir/metrics.jsonl" \
    -o "$dir/trained.vpet"
  local reference=("$PY" "$BATS_TEST_DIRNAME/../../bench/reference.py" --model "$model"
    --data "$dir/task" --method lora --init "$dir/start.vpet" --batch 6 --steps 3 --warmup 0
    --lr 0.01 --no-dropout --threads 1)
  run "${reference[@]}" --lr-ratio-b 16
  assert_success
  local plus=$output
  run "${reference[@]}"
  assert_success
  run "$PY" - "$dir/metrics.jsonl" "$plus" "$output" <<'PYTHON'
import json, sys
vpet = [l["loss"] for l in map(json.loads, open(sys.argv[1])) if l["type"] == "step"]
plus, plain = (json.loads(a)["losses"] for a in sys.argv[2:4])
assert len(vpet) == len(plus) == 3, (vpet, plus)
assert all(abs(a - b) <= 1e-5 * max(1, abs(b)) for a, b in zip(vpet, plus)), (vpet, plus)
assert abs(vpet[2] - plain[2]) > 1e-4, ("the ratio does not show in the loss", vpet, plain)
PYTHON
  assert_success
}

# reference_steps METHOD OPTIONS...: three full-batch steps of peft-train
# from a trained start (every tensor moved), with weight decay (which the
# methods' vectors do not take), against bench/reference.py's METHOD from the
# same bundle (with $reference_options): every loss the same to 1e-5.
reference_steps() {
  local method=$1
  shift
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  local train=("$BIN/peft-train" -q -m "$model" -d "$dir/task" --method "$method" -b 6 "$@")
  "${train[@]}" --epochs 2 --lr 0.05 -o "$dir/start.vpet"
  "${train[@]}" --epochs 3 --lr 0.01 --wd 0.1 --rewind-from "$dir/start.vpet" \
    --metrics "$dir/metrics.jsonl" -o "$dir/trained.vpet"
  # shellcheck disable=SC2086 # reference_options: words for reference.py
  "$PY" "$BATS_TEST_DIRNAME/../../bench/reference.py" --model "$model" --data "$dir/task" \
    --method "$method" --init "$dir/start.vpet" --batch 6 --steps 3 --warmup 0 --lr 0.01 \
    --wd 0.1 --no-dropout --threads 1 ${reference_options:-} >"$dir/reference.json"
  run same_losses "$dir/metrics.jsonl" "$dir/reference.json" 3 1e-5
  echo "$output"
  assert_success
}

# DoRA, as bench/reference.py writes it from peft's DoraLinearLayer (the
# weight norm detached; a reference that keeps it in the graph fails here).
@test "bench/reference.py computes peft-train's losses for DoRA (peft's use_dora)" {
  reference_steps dora --rank 8 --lora-dropout 0
}

# SSF, as bench/reference.py places it from dongzelian/SSF's
# models/vision_transformer.py.
@test "bench/reference.py computes peft-train's losses for SSF (the released code's placement)" {
  reference_steps ssf
}

# The memory paper's "head + class token" baseline.
@test "bench/reference.py computes peft-train's losses for head-class" {
  reference_steps head-class
}

# Unmasked memory: every token attends to the memory, the class token trained.
@test "bench/reference.py computes peft-train's losses for unmasked memory" {
  reference_options="--memory-mode unmasked" reference_steps memory --memory-mode unmasked
}

@test "under bf16 autocast peft-train and torch.autocast agree to bf16 rounding (lora, lion)" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 2
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/bench.py" --parity-only --bin "$BIN" \
    --model "$FIXTURES/vit/a_timm.safetensors" --data "$BATS_TEST_TMPDIR/task" --batch 6 \
    --methods lora,lion --threads 1 --precision bf16 --work "$BATS_TEST_TMPDIR/bench"
  assert_success
  assert_line --partial "parity parity lion: "
  refute_output --partial "MISMATCH"
}

# Self-Prompt Tuning's released path (bench/self_prompt_reference.py, a
# transcription of WangYZ1608/Self-Prompt-Tuning) against peft-train under
# the self-prompt-supervised recipe: from the same prompts and head, the
# losses of five full-batch steps agree, so the optimiser groups (prompt
# weight decay, the head's own decay, biases without), the warmup from 0
# and the cosine are the released code's, not only the forward pass.
@test "bench/self_prompt_reference.py: the released code's losses are peft-train's, step for step" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  "$BIN/vit-extract" -q -m "$model" -d "$dir/task" --feature tokens --layers all -o "$dir/tokens.vpet"
  "$BIN/prompt-init-proto" -q --prompts 4 -o "$dir/prompts.vpet" "$dir/tokens.vpet"
  local recipe=(--recipe self-prompt-supervised-vtab1k --img-size 32 --prompts 4 -b 12)
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${recipe[@]}" --init-prompts "$dir/prompts.vpet" \
    --epochs 1 --warmup 0 --lr 0.01 -o "$dir/start.vpet"
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${recipe[@]}" --rewind-from "$dir/start.vpet" \
    --epochs 5 --warmup 2 --metrics "$dir/metrics.jsonl" -o "$dir/trained.vpet"
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/self_prompt_reference.py" --model "$model" \
    --data "$dir/task" --init "$dir/start.vpet" --epochs 5 --warmup 2 --batch 12
  assert_success
  echo "$output" >"$dir/reference.json"
  # The fourth step's loss moves by 8e-5 when the head's decay is 0, not 1.
  run same_losses "$dir/metrics.jsonl" "$dir/reference.json" 5 2e-6
  assert_success
}

# The rows prompt-init-proto picks are rows the released rule can pick: a
# token of the layer (random), or one of its windows pooled as train.py
# pools them, including the whole-image window when P-1 divides N (P = 5
# on the 16 patches here) and P = 3 (two windows of 8 and the whole image).
@test "prompt-init-proto's random, mean and max prompts are candidates of the released rule" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  "$BIN/vit-extract" -q -m "$model" -d "$dir/task" --feature tokens --layers all -o "$dir/tokens.vpet"
  for method in random mean max; do
    local files=()
    for prompts in 3 5; do
      for seed in 0 1; do
        files+=("$dir/$method-$prompts-$seed.vpet")
        "$BIN/prompt-init-proto" -q --method "$method" --prompts "$prompts" --seed "$seed" \
          -o "${files[-1]}" "$dir/tokens.vpet"
      done
    done
    run "$PY" "$BATS_TEST_DIRNAME/../../bench/self_prompt_reference.py" --model "$model" \
      --data "$dir/task" --sample "$method" --check-prompts "${files[@]}"
    assert_success
    [ "$(grep -c '"worst_relative_distance"' <<<"$output")" -eq 4 ]
  done
  # Mean prompts are not max-pooled windows: the check can fail.
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/self_prompt_reference.py" --model "$model" \
    --data "$dir/task" --sample max --check-prompts "$dir/mean-5-0.vpet"
  assert_failure
  assert_output --partial "from every row the released rule (max_pooling) can pick"
}

# SPT's released path (bench/spt_reference.py, a transcription of
# ziplab/SPT in its own module structure: separate q/k/v Linears,
# StructuredTuningModule, the sparse-grad Linear, set_weight_decay, timm's
# per-epoch cosine stepped after each epoch) against peft-train under the
# spt-*-vtab1k recipes, dropout and drop-path off: from the same trained
# start (B and the deltas not zero), the losses of five full-batch epochs
# agree for LoRA and Adapter plans, so the modules' placement, the deltas,
# the weight-decay groups and the warmup from 1e-6 are SPT's.
@test "bench/spt_reference.py: SPT's released code trains as peft-train --method spt-lora|spt-adapter" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  for kind in lora adapter; do
    "$BIN/spt-sensitivity" -q -m "$model" -d "$dir/task" --structured $kind --batches 3 -b 4 \
      --budget 4k -o "$dir/plan-$kind.vpet"
    local recipe=(--recipe spt-$kind-vtab1k --img-size 32 --plan "$dir/plan-$kind.vpet" -b 12
      --module-dropout 0 --module-drop-path 0 --drop-path 0)
    "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${recipe[@]}" --epochs 1 --warmup 0 \
      --lr 0.05 -o "$dir/start-$kind.vpet"
    "$BIN/peft-train" -q -m "$model" -d "$dir/task" "${recipe[@]}" \
      --rewind-from "$dir/start-$kind.vpet" --epochs 5 --warmup 2 \
      --metrics "$dir/metrics-$kind.jsonl" -o "$dir/trained-$kind.vpet"
    run "$PY" "$BATS_TEST_DIRNAME/../../bench/spt_reference.py" --model "$model" \
      --data "$dir/task" --plan "$dir/plan-$kind.vpet" --init "$dir/start-$kind.vpet" \
      --epochs 5 --warmup 2 --batch 12 --drop-path 0 --no-structured-drop-out \
      --no-structured-drop-path --train-sparse-norms
    assert_success
    echo "$output" >"$dir/reference-$kind.json"
    run same_losses "$dir/metrics-$kind.jsonl" "$dir/reference-$kind.json" 5 2e-6
    assert_success
  done
}

# SPT's sensitivity pass (engine.py get_sensitivity) against
# spt-sensitivity --scores, through the same head (a linear probe's, given
# to both with --head / --init) and drop-path 0: the same scores for every
# candidate tensor. The keys' bias gets no gradient in exact arithmetic (a
# shift of every key is one softmax ignores), so both hold rounding noise
# there, compared against the scale of all scores.
@test "bench/spt_reference.py: SPT's sensitivity pass gives spt-sensitivity's scores" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  "$BIN/peft-train" -q -m "$model" -d "$dir/task" --method linear --epochs 2 --lr 0.1 -b 6 \
    -o "$dir/probe.vpet"
  "$BIN/spt-sensitivity" -q -m "$model" -d "$dir/task" --head "$dir/probe.vpet" --drop-path 0 \
    --batches 3 -b 4 --budget 2k --scores "$dir/scores.safetensors" -o "$dir/plan.vpet"
  run "$PY" "$BATS_TEST_DIRNAME/../../bench/spt_reference.py" --model "$model" \
    --data "$dir/task" --sensitivity "$dir/reference.safetensors" --batches 3 --batch 4 \
    --drop-path 0 --init "$dir/probe.vpet"
  assert_success
  run "$PY" - "$dir/scores.safetensors" "$dir/reference.safetensors" "$BATS_TEST_DIRNAME/../../bench" <<'PYTHON'
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np
from full_to_safetensors import read_safetensors
vpet, ref = read_safetensors(sys.argv[1])[0], read_safetensors(sys.argv[2])[0]
assert vpet.keys() == ref.keys(), sorted(set(vpet) ^ set(ref))
assert len(vpet) == 34, len(vpet)
scale = max(float(np.abs(s).max()) for s in ref.values())
worst = max(float(np.abs(vpet[k] - ref[k]).max()) / max(float(np.abs(ref[k]).max()), 1e-6 * scale)
            for k in ref)
assert worst < 1e-4, worst
print("worst relative difference", worst)
PYTHON
  assert_success
  # Through another head, other scores: the head is what both used.
  "$BIN/spt-sensitivity" -q -m "$model" -d "$dir/task" --drop-path 0 --batches 3 -b 4 \
    --budget 2k --scores "$dir/fresh.safetensors" -o "$dir/plan-fresh.vpet"
  run "$PY" - "$dir/fresh.safetensors" "$dir/reference.safetensors" "$BATS_TEST_DIRNAME/../../bench" <<'PYTHON'
import sys
sys.path.insert(0, sys.argv[3])
import numpy as np
from full_to_safetensors import read_safetensors
fresh, ref = read_safetensors(sys.argv[1])[0], read_safetensors(sys.argv[2])[0]
key = "blocks.0.attn.v.weight"
assert np.abs(fresh[key] - ref[key]).max() > 1e-2 * np.abs(ref[key]).max()
PYTHON
  assert_success
}

# SPT's allocation rule (engine.py get_sensitivity's sweep: the top-tau
# entries, the alpha and beta rules, the module costs, the class token in
# the total, the closest total with ties to the later tau) on
# spt-sensitivity's own scores: at every tau of the plan file's sweep the
# same total, and for every budget the same modules, vectors and sparse
# entries, for LoRA and Adapter costs. Scores through another head are
# refused, so the check can fail.
@test "bench/spt_reference.py: SPT's allocation rule makes spt-sensitivity's plans" {
  make_colour_task "$BATS_TEST_TMPDIR/task" 4
  local model=$FIXTURES/vit/a_timm.safetensors dir=$BATS_TEST_TMPDIR
  local check=("$PY" "$BATS_TEST_DIRNAME/../../bench/spt_reference.py" --model "$model"
    --data "$dir/task")
  for kind in lora adapter; do
    "$BIN/spt-sensitivity" -q -m "$model" -d "$dir/task" --structured $kind --batches 3 -b 4 \
      --budget 2k --budget 4k --budget 10k --scores "$dir/scores-$kind.safetensors" \
      -o "$dir/plan-$kind.vpet"
    run "${check[@]}" --plan "$dir/plan-$kind.vpet" --check-allocation "$dir/scores-$kind.safetensors"
    assert_success
    assert_output --partial '"plans": 3'
  done
  "$BIN/spt-sensitivity" -q -m "$model" -d "$dir/task" --seed 1 --batches 3 -b 4 --budget 4k \
    --scores "$dir/scores-other.safetensors" -o "$dir/plan-other.vpet"
  run "${check[@]}" --plan "$dir/plan-lora.vpet" --check-allocation "$dir/scores-other.safetensors"
  assert_failure
}
