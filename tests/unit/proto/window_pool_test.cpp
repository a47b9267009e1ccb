// Self-Prompt's windows against direct computations: the released code's
// rule (train.py, prompt_sample_type mean_pooling/max_pooling) transcribed
// loop for loop, and the cover rule cut token by token, for the paper's case
// and the edge cases where they part.
#include "vpet/proto/window_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "vpet/error.h"

namespace vpet::proto {
namespace {

// One row per [begin, end) run of tokens, pooled value by value.
torch::Tensor pool_runs(const torch::Tensor& image,
                        const std::vector<std::pair<std::int64_t, std::int64_t>>& runs,
                        Pooling pooling) {
  const std::int64_t width = image.size(1);
  std::vector<torch::Tensor> rows;
  for (const auto& [start, end] : runs) {
    torch::Tensor row = torch::empty({width}, torch::kFloat64);
    for (std::int64_t d = 0; d < width; ++d) {
      double value = pooling == Pooling::Mean ? 0.0 : image[start][d].item<double>();
      for (std::int64_t t = start; t < end; ++t) {
        const double x = image[t][d].item<double>();
        value = pooling == Pooling::Mean ? value + x / double(end - start) : std::max(value, x);
      }
      row[d] = value;
    }
    rows.push_back(row);
  }
  return torch::stack(rows).to(torch::kFloat32);
}

// train.py: window_size = L // (P - 1); remain_size = L % window_size;
// x[:, p*w:(p+1)*w] for p in range(P - 1), then x[:, -remain_size:] (all of
// x when remain_size is 0). P = 1 divides by zero there: the whole image.
std::vector<std::pair<std::int64_t, std::int64_t>> reference_runs(std::int64_t n,
                                                                  std::int64_t prompts) {
  if (prompts == 1) return {{0, n}};
  const std::int64_t w = n / (prompts - 1), remain = n % w;
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;
  for (std::int64_t p = 0; p < prompts - 1; ++p) runs.emplace_back(p * w, (p + 1) * w);
  runs.emplace_back(remain == 0 ? 0 : n - remain, n);
  return runs;
}

// Consecutive runs of w tokens from the first, the last as long as what is left.
std::vector<std::pair<std::int64_t, std::int64_t>> cover_runs(std::int64_t n,
                                                              std::int64_t prompts) {
  const std::int64_t w = prompts == 1 ? n : n / (prompts - 1);
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;
  for (std::int64_t start = 0; start < n; start += w)
    runs.emplace_back(start, std::min(start + w, n));
  return runs;
}

void expect_matches_direct(std::int64_t patches, std::int64_t prompts, WindowRule rule,
                           std::int64_t expected_windows) {
  SCOPED_TRACE("N = " + std::to_string(patches) + ", P = " + std::to_string(prompts) + ", " +
               window_rule_name(rule));
  const auto layout = window_layout(patches, prompts, rule);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->windows(), expected_windows);
  const auto runs = rule == WindowRule::Reference ? reference_runs(patches, prompts)
                                                  : cover_runs(patches, prompts);
  torch::manual_seed(0);
  const torch::Tensor tokens = torch::randn({2, patches, 3});
  for (Pooling pooling : {Pooling::Mean, Pooling::Max}) {
    const torch::Tensor pooled = pool_windows(tokens, *layout, pooling);
    ASSERT_EQ(pooled.sizes(), (std::vector<std::int64_t>{2, expected_windows, 3}));
    for (std::int64_t b = 0; b < 2; ++b) {
      EXPECT_TRUE(torch::allclose(pooled[b], pool_runs(tokens[b], runs, pooling), 1e-5, 1e-6));
    }
  }
}

TEST(WindowPool, PapersCaseIsNineteenWindowsOfTenAndOneOfSixUnderBothRules) {
  for (WindowRule rule : {WindowRule::Reference, WindowRule::Cover}) {
    const auto layout = window_layout(196, 20, rule);
    ASSERT_TRUE(layout.has_value());
    EXPECT_EQ(layout->width, 10);
    EXPECT_EQ(layout->full, 19);
    EXPECT_EQ(layout->last_start, 190);
    EXPECT_EQ(layout->last_length, 6);
    expect_matches_direct(196, 20, rule, 20);
  }
}

TEST(WindowPool, TheReferenceAlwaysGivesPRows) {
  expect_matches_direct(16, 5, WindowRule::Reference, 5);   // w = 4, no remainder: + whole image
  expect_matches_direct(196, 8, WindowRule::Reference, 8);  // w = 28
  expect_matches_direct(16, 7, WindowRule::Reference, 7);   // w = 2: tokens 12..15 only last
  expect_matches_direct(196, 100, WindowRule::Reference, 100);  // w = 1: 99 tokens + whole image
  expect_matches_direct(16, 17, WindowRule::Reference, 17);     // P − 1 = N
  expect_matches_direct(10, 4, WindowRule::Reference, 4);       // w = 3: 3, 3, 3, then token 9
}

TEST(WindowPool, CoverWindowsSpanEveryToken) {
  expect_matches_direct(16, 5, WindowRule::Cover, 4);       // four windows, nothing left over
  expect_matches_direct(196, 8, WindowRule::Cover, 7);      // w = 28
  expect_matches_direct(16, 7, WindowRule::Cover, 8);       // w = 2
  expect_matches_direct(196, 100, WindowRule::Cover, 196);  // every token its own window
  expect_matches_direct(10, 4, WindowRule::Cover, 4);       // 3, 3, 3, 1
}

TEST(WindowPool, OnePromptPoolsTheWholeImage) {
  expect_matches_direct(16, 1, WindowRule::Reference, 1);
  expect_matches_direct(16, 1, WindowRule::Cover, 1);
}

TEST(WindowPool, MorePromptsThanPatchesPlusOneHasNoLayout) {
  EXPECT_FALSE(window_layout(16, 18).has_value());
  EXPECT_FALSE(window_layout(1, 3).has_value());
  EXPECT_TRUE(window_layout(1, 2).has_value());
  EXPECT_THROW(parse_window_rule("all"), UsageError);
}

}  // namespace
}  // namespace vpet::proto
