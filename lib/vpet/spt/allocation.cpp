#include "vpet/spt/allocation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "vpet/error.h"

namespace vpet::spt {
namespace {

using peft::spt::Candidate;
using peft::spt::Plan;
using peft::spt::Tuning;

// SPT's sweep: τ = 0.02M, 0.04M, ... 1.58M.
constexpr std::int64_t kSptTauStep = 20000;
constexpr std::int64_t kSptTauSteps = 79;
// A bound on the sweep's length (each value costs a pass over the tensors).
constexpr std::int64_t kMaxSweep = 1000000;

// The bit pattern of a non-negative float orders as the float does.
std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// The bit pattern of the count-th highest score (count >= 1), by two
// 16-bit histogram passes: high halves, then low halves within the bucket.
std::uint32_t cutoff_bits(const float* scores, std::int64_t n, std::int64_t count) {
  std::vector<std::int64_t> histogram(1 << 16);
  for (std::int64_t i = 0; i < n; ++i) ++histogram[bits_of(scores[i]) >> 16];
  std::int64_t above = 0;
  std::uint32_t high = 0xffff;
  while (above + histogram[high] < count) above += histogram[high--];
  std::fill(histogram.begin(), histogram.end(), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::uint32_t bits = bits_of(scores[i]);
    if ((bits >> 16) == high) ++histogram[bits & 0xffff];
  }
  std::uint32_t low = 0xffff;
  while (above + histogram[low] < count) above += histogram[low--];
  return (high << 16) | low;
}

// Which candidate each flat index belongs to.
class TensorIndex {
 public:
  explicit TensorIndex(const std::vector<Candidate>& candidates) {
    std::int64_t offset = 0;
    for (const Candidate& candidate : candidates) {
      offsets_.push_back(offset);
      offset += candidate.numel();
    }
    total_ = offset;
  }
  std::size_t tensor_of(std::int64_t flat) const {
    return std::size_t(std::upper_bound(offsets_.begin(), offsets_.end(), flat) - offsets_.begin() -
                       1);
  }
  std::int64_t offset(std::size_t tensor) const { return offsets_[tensor]; }
  std::int64_t total() const { return total_; }

 private:
  std::vector<std::int64_t> offsets_;
  std::int64_t total_ = 0;
};

// The §1.2 decision for one tensor with `selected` entries among the top τ.
Tuning decide(const Candidate& candidate, std::int64_t selected, const AllocationSettings& settings,
              std::int64_t* cost) {
  if (candidate.is_matrix()) {
    const std::int64_t module = peft::spt::module_cost(settings.structure, settings.rank,
                                                       candidate.shape[0], candidate.shape[1]);
    if (double(selected) >= double(module) / settings.alpha) {
      *cost = module;
      return Tuning::Module;
    }
  } else if (double(selected) >= double(candidate.numel()) / settings.beta) {
    *cost = candidate.numel();
    return Tuning::Full;
  }
  *cost = selected;
  return selected > 0 ? Tuning::Sparse : Tuning::Frozen;
}

std::int64_t total_cost(const std::vector<Candidate>& candidates,
                        const std::vector<std::int64_t>& selected, std::int64_t class_token,
                        const AllocationSettings& settings) {
  std::int64_t total = class_token;
  for (std::size_t t = 0; t < candidates.size(); ++t) {
    std::int64_t cost = 0;
    decide(candidates[t], selected[t], settings, &cost);
    total += cost;
  }
  return total;
}

// The plan that selects the `tau` top-ranked scalars.
Plan plan_at(const std::vector<Candidate>& candidates, const std::vector<std::int64_t>& ranked,
             std::int64_t tau, std::int64_t budget, std::int64_t class_token,
             const AllocationSettings& settings, const TensorIndex& index) {
  std::vector<std::int64_t> selected(candidates.size(), 0);
  for (std::int64_t r = 0; r < tau; ++r) ++selected[index.tensor_of(ranked[std::size_t(r)])];
  Plan plan;
  plan.structure = settings.structure;
  plan.rank = settings.rank;
  plan.budget = budget;
  plan.selected = tau;
  plan.class_token = class_token;
  std::vector<Tuning> tunings(candidates.size());
  for (std::size_t t = 0; t < candidates.size(); ++t) {
    std::int64_t cost = 0;
    tunings[t] = decide(candidates[t], selected[t], settings, &cost);
  }
  std::vector<std::vector<std::int64_t>> sparse(candidates.size());
  for (std::int64_t r = 0; r < tau; ++r) {
    const std::size_t t = index.tensor_of(ranked[std::size_t(r)]);
    if (tunings[t] == Tuning::Sparse) sparse[t].push_back(ranked[std::size_t(r)] - index.offset(t));
  }
  for (std::size_t t = 0; t < candidates.size(); ++t) {
    if (tunings[t] == Tuning::Frozen) continue;
    peft::spt::TensorPlan& tensor_plan = plan.tuned[candidates[t].name];
    tensor_plan.tuning = tunings[t];
    if (tunings[t] == Tuning::Sparse) {
      std::sort(sparse[t].begin(), sparse[t].end());
      tensor_plan.indices = torch::tensor(sparse[t], torch::kInt64);
    }
  }
  peft::spt::count(plan, candidates);
  return plan;
}

}  // namespace

void AllocationSettings::validate() const {
  if (rank < 1) throw UsageError("--rank must be >= 1");
  if (!(alpha > 0.0) || !std::isfinite(alpha)) throw UsageError("--alpha must be > 0");
  if (!(beta > 0.0) || !std::isfinite(beta)) throw UsageError("--beta must be > 0");
  if (tau_step < 0) throw UsageError("--tau-step must be >= 0 (0: automatic)");
}

std::vector<std::int64_t> top_ranked(const torch::Tensor& scores_in, std::int64_t count) {
  const torch::Tensor scores = scores_in.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* data = scores.data_ptr<float>();
  const std::int64_t n = scores.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(data[i] >= 0.0f) || !std::isfinite(data[i])) {
      throw Error("sensitivity score " + std::to_string(i) + " is " + std::to_string(data[i]) +
                  "; scores must be finite and non-negative (did the loss diverge?)");
    }
  }
  count = std::min(count, n);
  if (count <= 0) return {};
  const std::uint32_t cutoff = cutoff_bits(data, n, count);
  // Everything above the cut-off, then entries at it in index order until
  // `count`: ties are broken by index.
  std::vector<std::int64_t> chosen;
  chosen.reserve(std::size_t(count));
  for (std::int64_t i = 0; i < n; ++i) {
    if (bits_of(data[i]) > cutoff) chosen.push_back(i);
  }
  for (std::int64_t i = 0; i < n && std::int64_t(chosen.size()) < count; ++i) {
    if (bits_of(data[i]) == cutoff) chosen.push_back(i);
  }
  std::sort(chosen.begin(), chosen.end(), [data](std::int64_t a, std::int64_t b) {
    return data[a] != data[b] ? data[a] > data[b] : a < b;
  });
  return chosen;
}

Allocation allocate(const torch::Tensor& scores, const std::vector<Candidate>& candidates,
                    std::int64_t class_token, const std::vector<std::int64_t>& budgets,
                    const AllocationSettings& settings) {
  settings.validate();
  if (budgets.empty()) throw UsageError("give at least one --budget");
  const TensorIndex index(candidates);
  if (scores.dim() != 1 || scores.numel() != index.total()) {
    throw Error("the sensitivity vector has " + std::to_string(scores.numel()) +
                " entries, but the candidates have " + std::to_string(index.total()));
  }
  const std::int64_t smallest = *std::min_element(budgets.begin(), budgets.end());
  const std::int64_t largest = *std::max_element(budgets.begin(), budgets.end());
  Allocation allocation;
  allocation.tau_step = settings.tau_step > 0
                            ? settings.tau_step
                            : std::max<std::int64_t>(1, std::min(kSptTauStep, smallest / 100));
  const std::int64_t step = allocation.tau_step;
  // The ranking is computed for SPT's sweep or twice the largest budget at
  // first, and extended (doubled) while the sweep needs more: entries inside
  // a matrix that got a module cost nothing more, so total(τ) may stay far
  // below τ.
  std::int64_t reach = std::min(index.total(), std::max(kSptTauSteps * step, 2 * largest + step));
  std::vector<std::int64_t> ranked = top_ranked(scores, reach);
  std::vector<std::int64_t> selected(candidates.size(), 0);
  std::int64_t tau = 0;
  bool done = false;
  while (!done && tau < index.total()) {
    if (tau == reach) {
      reach = std::min(index.total(), 2 * reach);
      ranked = top_ranked(scores, reach);  // the same order, longer
    }
    const std::int64_t next = std::min(reach, tau + step);
    for (std::int64_t r = tau; r < next; ++r) ++selected[index.tensor_of(ranked[std::size_t(r)])];
    tau = next;
    const std::int64_t total = total_cost(candidates, selected, class_token, settings);
    allocation.sweep.emplace_back(tau, total);
    if (std::int64_t(allocation.sweep.size()) > kMaxSweep) {
      throw UsageError("--tau-step " + std::to_string(step) + " needs more than " +
                       std::to_string(kMaxSweep) + " values of tau; use a larger step");
    }
    // total(τ) is not monotone: go on a little past the largest budget.
    const bool past_spt_sweep = std::int64_t(allocation.sweep.size()) >= kSptTauSteps;
    done = past_spt_sweep && 2 * total >= 3 * largest;
  }
  for (std::int64_t budget : budgets) {
    std::size_t best = 0;
    for (std::size_t j = 0; j < allocation.sweep.size(); ++j) {
      // <=: on a tie the later τ wins.
      if (std::llabs(allocation.sweep[j].second - budget) <=
          std::llabs(allocation.sweep[best].second - budget)) {
        best = j;
      }
    }
    allocation.plans.push_back(plan_at(candidates, ranked, allocation.sweep[best].first, budget,
                                       class_token, settings, index));
  }
  return allocation;
}

}  // namespace vpet::spt
