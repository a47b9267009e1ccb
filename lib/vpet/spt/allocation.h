// SPT's budget allocation (reference/spt-selfprompt-vpt.md §1.2): rank every
// candidate scalar by sensitivity, once, globally; for each τ of a sweep,
// select the τ top-ranked scalars and decide per tensor:
//
//   vector (bias, LayerNorm)  c ≥ numel/β        → tuned in full, cost numel
//                             else               → sparse, cost c
//   matrix [out, in]          c ≥ P_struct/α     → a LoRA/Adapter module,
//                                                  cost P_struct (its own
//                                                  selected entries are not
//                                                  tuned then)
//                             else               → sparse, cost c
//
// with c the tensor's selected entries and P_struct the module's parameter
// count (peft::spt::module_cost). total(τ) = Σ costs + the class token. For
// each requested budget the τ whose total is closest wins; on a tie the
// larger τ (SPT's code keeps the later one). total(τ) is not monotone, hence
// the sweep.
//
// Ranking: descending score; equal scores by candidate order (the flat
// index), which makes the result independent of sort stability. Only the
// top scores are ever sorted: a radix selection over the float bits finds
// the cut-off without copying the score vector.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "vpet/peft/spt_plan.h"

namespace vpet::spt {

struct AllocationSettings {
  peft::spt::Structure structure = peft::spt::Structure::LoRA;
  std::int64_t rank = 8;
  double alpha = 10.0;  // a matrix gets a module from P_struct/α selected entries
  double beta = 5.0;    // a vector is tuned in full from numel/β selected entries
  // τ grid: multiples of tau_step. 0: a hundredth of the smallest budget,
  // at most SPT's 0.02M. (SPT's fixed 0.02M step leaves its plans up to 25%
  // off their budget: its shipped 0.2M plans hold 0.152M to 0.260M.) The
  // sweep covers at least SPT's 79 steps, and goes on until the total passes
  // 1.5 times the largest budget or every candidate is selected (the last τ
  // is then the number of candidates, which may be off the grid).
  std::int64_t tau_step = 0;

  // Throws vpet::UsageError naming the option for a value out of range.
  void validate() const;
};

struct Allocation {
  std::vector<peft::spt::Plan> plans;                        // one per budget, in the order asked
  std::vector<std::pair<std::int64_t, std::int64_t>> sweep;  // (τ, total(τ))
  std::int64_t tau_step = 0;                                 // as resolved
};

// Indices of the `count` highest scores, highest first; equal scores in
// ascending index order. `scores`: 1-d float32, finite and non-negative
// (throws vpet::Error otherwise).
std::vector<std::int64_t> top_ranked(const torch::Tensor& scores, std::int64_t count);

// `scores`: the flat sensitivity of `candidates`, in their order.
// `class_token`: the class token's size (trained and counted), 0 if none.
Allocation allocate(const torch::Tensor& scores,
                    const std::vector<peft::spt::Candidate>& candidates, std::int64_t class_token,
                    const std::vector<std::int64_t>& budgets, const AllocationSettings& settings);

}  // namespace vpet::spt
