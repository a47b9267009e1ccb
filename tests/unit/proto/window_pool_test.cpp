// Self-Prompt's windows against a direct computation: windows cut token by
// token, pooled value by value, for the paper's case and the edge cases.
#include "vpet/proto/window_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace vpet::proto {
namespace {

// Image `image`'s windows, pooled by loops: consecutive runs of
// w = ⌊N/(P−1)⌋ tokens from the first, the last run as long as what is left;
// one run of all N tokens for P = 1.
torch::Tensor direct_pooled(const torch::Tensor& image, std::int64_t prompts, Pooling pooling) {
  const std::int64_t n = image.size(0), width = image.size(1);
  const std::int64_t w = prompts == 1 ? n : n / (prompts - 1);
  std::vector<torch::Tensor> rows;
  for (std::int64_t start = 0; start < n; start += w) {
    const std::int64_t end = std::min(start + w, n);
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

void expect_matches_direct(std::int64_t patches, std::int64_t prompts,
                           std::int64_t expected_windows) {
  SCOPED_TRACE("N = " + std::to_string(patches) + ", P = " + std::to_string(prompts));
  const auto layout = window_layout(patches, prompts);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->windows(), expected_windows);
  torch::manual_seed(0);
  const torch::Tensor tokens = torch::randn({2, patches, 3});
  for (Pooling pooling : {Pooling::Mean, Pooling::Max}) {
    const torch::Tensor pooled = pool_windows(tokens, *layout, pooling);
    ASSERT_EQ(pooled.sizes(), (std::vector<std::int64_t>{2, expected_windows, 3}));
    for (std::int64_t b = 0; b < 2; ++b) {
      EXPECT_TRUE(
          torch::allclose(pooled[b], direct_pooled(tokens[b], prompts, pooling), 1e-5, 1e-6));
    }
  }
}

TEST(WindowPool, PapersCaseIsNineteenWindowsOfTenAndOneOfSix) {
  const auto layout = window_layout(196, 20);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->width, 10);
  EXPECT_EQ(layout->full, 19);
  EXPECT_EQ(layout->remainder, 6);
  expect_matches_direct(196, 20, 20);
}

TEST(WindowPool, NoEmptyWindowWhenPMinusOneDividesN) {
  expect_matches_direct(16, 5, 4);   // w = 4: four windows, nothing left over
  expect_matches_direct(196, 8, 7);  // w = 28
}

TEST(WindowPool, SmallWindowsGiveMoreRowsThanPrompts) {
  expect_matches_direct(16, 7, 8);       // w = 2
  expect_matches_direct(196, 100, 196);  // w = 1: every token its own window
  expect_matches_direct(16, 17, 16);     // P − 1 = N
}

TEST(WindowPool, OnePromptPoolsTheWholeImage) {
  expect_matches_direct(16, 1, 1);
}

TEST(WindowPool, RemainderWindow) {
  expect_matches_direct(10, 4, 4);
}  // w = 3: 3, 3, 3, 1

TEST(WindowPool, MorePromptsThanPatchesPlusOneHasNoLayout) {
  EXPECT_FALSE(window_layout(16, 18).has_value());
  EXPECT_FALSE(window_layout(1, 3).has_value());
  EXPECT_TRUE(window_layout(1, 2).has_value());
}

}  // namespace
}  // namespace vpet::proto
