// The new head's initialisation: trunc-normal(0.02) within ±2σ, bias 0,
// reproducible from the seed.
#include <gtest/gtest.h>

#include "vpet/train/head.h"

namespace {

TEST(Head, TruncNormalStatistics) {
  torch::Generator generator = at::detail::createCPUGenerator(0);
  torch::nn::Linear head = vpet::train::make_head(256, 400, generator);
  const torch::Tensor w = head->weight.detach();
  EXPECT_EQ(w.sizes(), (std::vector<std::int64_t>{400, 256}));
  EXPECT_LE(w.abs().max().item<double>(), 0.04);
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 5e-4);
  // A normal truncated at ±2σ has std 0.8796·σ.
  EXPECT_NEAR(w.std().item<double>(), 0.02 * 0.8796, 3e-4);
  EXPECT_TRUE(head->bias.detach().eq(0).all().item<bool>());
}

TEST(Head, SameSeedSameHead) {
  torch::Generator a = at::detail::createCPUGenerator(7), b = at::detail::createCPUGenerator(7);
  EXPECT_TRUE(torch::equal(vpet::train::make_head(48, 3, a)->weight,
                           vpet::train::make_head(48, 3, b)->weight));
}

}  // namespace
