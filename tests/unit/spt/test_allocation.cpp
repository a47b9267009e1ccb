// The allocation against a direct, slow re-implementation of
// reference/spt-selfprompt-vpt.md §1.2: a full stable sort, a mask per τ,
// the thresholds, the closest τ with ties to the later one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vpet/error.h"
#include "vpet/spt/allocation.h"

namespace vpet::spt {
namespace {

using peft::spt::Candidate;
using peft::spt::Plan;
using peft::spt::Structure;
using peft::spt::Tuning;

Candidate tensor(const std::string& name, std::vector<std::int64_t> shape) {
  Candidate c;
  c.name = name;
  c.shape = std::move(shape);
  return c;
}

// Matrices of several shapes and vectors, like a ViT's but small.
std::vector<Candidate> mixed_candidates() {
  return {tensor("a.weight", {16, 8}), tensor("a.bias", {16}), tensor("n.weight", {8}),
          tensor("b.weight", {8, 16}), tensor("b.bias", {8}),  tensor("c.weight", {12, 12}),
          tensor("c.bias", {12}),      tensor("n.bias", {8}),  tensor("d.weight", {4, 24})};
}

// Scores with many exact ties (few distinct values).
torch::Tensor tied_scores(std::int64_t n, std::uint64_t seed) {
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 40, {n}, generator, torch::kFloat32).div(7.0);
}

// Everything below is written from the spec, as plainly as possible.
struct SlowResult {
  std::vector<std::int64_t> totals;  // per τ of the sweep
  std::vector<Plan> plans;
};

SlowResult slow_allocate(const torch::Tensor& scores, const std::vector<Candidate>& candidates,
                         std::int64_t class_token, const std::vector<std::int64_t>& budgets,
                         const AllocationSettings& settings,
                         const std::vector<std::int64_t>& taus) {
  const float* s = scores.data_ptr<float>();
  std::vector<std::int64_t> order(std::size_t(scores.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [s](std::int64_t a, std::int64_t b) { return s[a] > s[b]; });
  std::vector<std::int64_t> offsets;
  std::int64_t offset = 0;
  for (const auto& c : candidates) {
    offsets.push_back(offset);
    offset += c.numel();
  }
  auto build = [&](std::int64_t tau, std::int64_t budget, std::int64_t* total) {
    std::vector<bool> mask(std::size_t(offset), false);
    for (std::int64_t r = 0; r < tau; ++r) mask[std::size_t(order[std::size_t(r)])] = true;
    Plan plan;
    plan.structure = settings.structure;
    plan.rank = settings.rank;
    plan.budget = budget;
    plan.selected = tau;
    plan.class_token = class_token;
    *total = class_token;
    for (std::size_t t = 0; t < candidates.size(); ++t) {
      const Candidate& c = candidates[t];
      std::vector<std::int64_t> chosen;
      for (std::int64_t i = 0; i < c.numel(); ++i) {
        if (mask[std::size_t(offsets[t] + i)]) chosen.push_back(i);
      }
      const auto count = std::int64_t(chosen.size());
      Tuning tuning = count > 0 ? Tuning::Sparse : Tuning::Frozen;
      std::int64_t cost = count;
      if (c.shape.size() == 2) {
        const std::int64_t module =
            settings.structure == Structure::LoRA
                ? settings.rank * (c.shape[0] + c.shape[1])
                : 2 * settings.rank * c.shape[0] + settings.rank + c.shape[0];
        if (double(count) >= double(module) / settings.alpha)
          tuning = Tuning::Module, cost = module;
      } else if (double(count) >= double(c.numel()) / settings.beta) {
        tuning = Tuning::Full, cost = c.numel();
      }
      *total += cost;
      if (tuning == Tuning::Frozen) continue;
      plan.tuned[c.name].tuning = tuning;
      if (tuning == Tuning::Sparse)
        plan.tuned[c.name].indices = torch::tensor(chosen, torch::kInt64);
    }
    peft::spt::count(plan, candidates);
    return plan;
  };
  SlowResult result;
  for (std::int64_t tau : taus) {
    std::int64_t total = 0;
    build(tau, 0, &total);
    result.totals.push_back(total);
  }
  for (std::int64_t budget : budgets) {
    std::size_t best = 0;
    for (std::size_t j = 1; j < taus.size(); ++j) {
      const std::int64_t gap = std::abs(result.totals[j] - budget);
      const std::int64_t best_gap = std::abs(result.totals[best] - budget);
      if (gap < best_gap || gap == best_gap) best = j;  // a tie: the later τ
    }
    std::int64_t total = 0;
    result.plans.push_back(build(taus[best], budget, &total));
  }
  return result;
}

void expect_same_plan(const Plan& a, const Plan& b) {
  EXPECT_EQ(a.selected, b.selected);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.structured_params, b.structured_params);
  EXPECT_EQ(a.unstructured_params, b.unstructured_params);
  ASSERT_EQ(a.tuned.size(), b.tuned.size());
  for (const auto& [name, tensor_plan] : a.tuned) {
    ASSERT_TRUE(b.tuned.count(name)) << name;
    EXPECT_EQ(int(tensor_plan.tuning), int(b.tuned.at(name).tuning)) << name;
    if (tensor_plan.tuning == Tuning::Sparse) {
      EXPECT_TRUE(torch::equal(tensor_plan.indices, b.tuned.at(name).indices)) << name;
    }
  }
}

TEST(SptRanking, OrdersByScoreThenByIndex) {
  const torch::Tensor scores = tied_scores(5000, 3);
  const float* s = scores.data_ptr<float>();
  std::vector<std::int64_t> order(5000);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [s](std::int64_t a, std::int64_t b) { return s[a] > s[b]; });
  for (std::int64_t count : {1, 17, 999, 1000, 4999, 5000}) {
    const auto top = top_ranked(scores, count);
    EXPECT_EQ(top, std::vector<std::int64_t>(order.begin(), order.begin() + count)) << count;
  }
  // Zero and denormal scores rank too; a NaN is refused.
  const torch::Tensor small = torch::tensor({0.0f, 1e-42f, 0.0f, 2e-42f});
  EXPECT_EQ(top_ranked(small, 4), (std::vector<std::int64_t>{3, 1, 0, 2}));
  EXPECT_THROW(top_ranked(torch::tensor({1.0f, NAN}), 1), Error);
  EXPECT_THROW(top_ranked(torch::tensor({1.0f, -1.0f}), 1), Error);
}

TEST(SptAllocation, EqualsTheSpecsDirectComputation) {
  const auto candidates = mixed_candidates();
  std::int64_t total = 0;
  for (const auto& c : candidates) total += c.numel();
  for (Structure structure : {Structure::LoRA, Structure::Adapter}) {
    for (std::uint64_t seed : {1, 2, 3}) {
      const torch::Tensor scores = tied_scores(total, seed);
      AllocationSettings settings;
      settings.structure = structure;
      settings.rank = 2;
      settings.alpha = 3.0;
      settings.beta = 4.0;
      settings.tau_step = 7;
      const std::vector<std::int64_t> budgets = {60, 150, 333, 500};
      const Allocation fast = allocate(scores, candidates, 5, budgets, settings);
      std::vector<std::int64_t> taus;
      for (const auto& [tau, sum] : fast.sweep) taus.push_back(tau);
      // The sweep: SPT's 79 steps at least, then on past 1.5× the largest budget.
      ASSERT_GE(taus.size(), 79u);
      EXPECT_EQ(taus.front(), 7);
      const SlowResult slow = slow_allocate(scores, candidates, 5, budgets, settings, taus);
      for (std::size_t j = 0; j < taus.size(); ++j) {
        EXPECT_EQ(fast.sweep[j].second, slow.totals[j]) << "tau " << taus[j];
      }
      for (std::size_t b = 0; b < budgets.size(); ++b)
        expect_same_plan(fast.plans[b], slow.plans[b]);

      // A budget halfway between two totals: the later τ wins.
      for (std::size_t j = 0; j + 1 < taus.size(); ++j) {
        const std::int64_t lo = slow.totals[j], hi = slow.totals[j + 1];
        if (hi - lo < 2 || (hi - lo) % 2 != 0) continue;
        const std::int64_t middle = (lo + hi) / 2;
        const Allocation tie = allocate(scores, candidates, 5, {middle}, settings);
        const SlowResult slow_tie = slow_allocate(scores, candidates, 5, {middle}, settings, taus);
        expect_same_plan(tie.plans[0], slow_tie.plans[0]);
        EXPECT_GE(tie.plans[0].selected, taus[j + 1]);
        break;
      }
    }
  }
}

TEST(SptAllocation, AppliesTheThresholdsAtTheirBoundaries) {
  // One 4×4 matrix (LoRA r=1: 8 parameters, α=2: a module from 4 entries) and
  // one 10-vector (β=5: in full from 2 entries). Scores rank the matrix first.
  const std::vector<Candidate> candidates = {tensor("m.weight", {4, 4}), tensor("v.bias", {10})};
  std::vector<float> values(26, 0.0f);
  for (int i = 0; i < 16; ++i) values[std::size_t(i)] = 100.0f - float(i);
  for (int i = 0; i < 10; ++i) values[std::size_t(16 + i)] = 50.0f - float(i);
  const torch::Tensor scores = torch::tensor(values);
  AllocationSettings settings;
  settings.rank = 1;
  settings.alpha = 2.0;
  settings.beta = 5.0;
  settings.tau_step = 1;
  const Allocation allocation = allocate(scores, candidates, 0, {3, 8}, settings);
  // τ = 3: three entries of m, below its threshold: sparse, 3 parameters.
  EXPECT_EQ(allocation.sweep[2], std::make_pair(std::int64_t(3), std::int64_t(3)));
  // τ = 4: the module (8); τ = 17: the module and one vector entry; τ = 18: the vector in full.
  EXPECT_EQ(allocation.sweep[3].second, 8);
  EXPECT_EQ(allocation.sweep[16].second, 9);
  EXPECT_EQ(allocation.sweep[17].second, 18);
  EXPECT_EQ(int(allocation.plans[0].tuning("m.weight")), int(Tuning::Sparse));
  // Budget 8 is met exactly by τ = 4..16; the latest wins.
  EXPECT_EQ(allocation.plans[1].selected, 16);
  EXPECT_EQ(int(allocation.plans[1].tuning("m.weight")), int(Tuning::Module));
  EXPECT_EQ(int(allocation.plans[1].tuning("v.bias")), int(Tuning::Frozen));
}

TEST(SptAllocation, SweepsOnWhileModulesAbsorbTheSelection) {
  // A 100×100 matrix ranked first, whose module (rank 1: 200 parameters)
  // absorbs all its 10,000 entries; then a 300-vector. Budget 250 is met
  // only at τ = 10,050, far past the first stretch of the ranking.
  const std::vector<Candidate> candidates = {tensor("m.weight", {100, 100}),
                                             tensor("v.bias", {300})};
  const torch::Tensor scores =
      torch::cat({torch::linspace(2.0, 1.0, 10000), torch::linspace(0.9, 0.1, 300)});
  AllocationSettings settings;
  settings.rank = 1;
  settings.tau_step = 1;
  const Allocation allocation = allocate(scores, candidates, 0, {250}, settings);
  EXPECT_EQ(allocation.plans[0].selected, 10050);
  EXPECT_EQ(allocation.plans[0].params(), 250);
  EXPECT_EQ(int(allocation.plans[0].tuning("m.weight")), int(Tuning::Module));
  EXPECT_EQ(allocation.plans[0].tuned.at("v.bias").indices.numel(), 50);
}

TEST(SptAllocation, RefusesBadSettings) {
  const auto candidates = mixed_candidates();
  const torch::Tensor scores = torch::ones({10});
  AllocationSettings settings;
  EXPECT_THROW(allocate(scores, candidates, 0, {100}, settings), Error);  // wrong length
  settings.alpha = 0.0;
  EXPECT_THROW(settings.validate(), UsageError);
  settings = {};
  settings.rank = 0;
  EXPECT_THROW(settings.validate(), UsageError);
}

}  // namespace
}  // namespace vpet::spt
