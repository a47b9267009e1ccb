// The new head's initialisations (--head-init, --head-bias), reproducible
// from the seed. timm's trunc_normal_ cuts at ±2 absolute, so at std 0.02 the
// draw is a plain normal; VPT's kaiming fan-out has std √(2/classes).
#include <gtest/gtest.h>

#include "vpet/error.h"
#include "vpet/train/head.h"

namespace {

using vpet::train::HeadInit;
using vpet::train::make_head;
using vpet::train::parse_head_init;

TEST(Head, TruncNormalStatistics) {
  torch::Generator generator = at::detail::createCPUGenerator(0);
  torch::nn::Linear head = make_head(256, 400, generator);
  const torch::Tensor w = head->weight.detach();
  EXPECT_EQ(w.sizes(), (std::vector<std::int64_t>{400, 256}));
  EXPECT_NEAR(w.mean().item<double>(), 0.0, 5e-4);
  EXPECT_NEAR(w.std().item<double>(), 0.02, 3e-4);
  // Beyond ±2σ: no 2σ cut (about 4.6% of a normal's draws lie there).
  EXPECT_NEAR(w.abs().gt(0.04).to(torch::kFloat64).mean().item<double>(), 0.0455, 0.004);
  EXPECT_TRUE(head->bias.detach().eq(0).all().item<bool>());
}

TEST(Head, SameSeedSameHead) {
  torch::Generator a = at::detail::createCPUGenerator(7), b = at::detail::createCPUGenerator(7);
  EXPECT_TRUE(torch::equal(make_head(48, 3, a)->weight, make_head(48, 3, b)->weight));
}

TEST(Head, VptsKaimingFanOutAndUniformBias) {
  torch::Generator generator = at::detail::createCPUGenerator(1);
  const HeadInit init = parse_head_init("kaiming-fan-out", "uniform");
  torch::nn::Linear head = make_head(400, 200, generator, init);
  EXPECT_NEAR(head->weight.std().item<double>(), std::sqrt(2.0 / 200), 1e-3);
  const torch::Tensor bias = head->bias.detach();
  EXPECT_LE(bias.abs().max().item<double>(), 1.0 / 20.0);  // ±1/√400
  EXPECT_GT(bias.abs().max().item<double>(), 0.9 / 20.0);
  EXPECT_EQ(init.describe(), "kaiming-fan-out");
}

TEST(Head, OtherStdsAndBadSpecs) {
  torch::Generator generator = at::detail::createCPUGenerator(2);
  EXPECT_NEAR(make_head(300, 300, generator, parse_head_init("trunc-normal:0.01", "zero"))
                  ->weight.std()
                  .item<double>(),
              0.01, 2e-4);
  EXPECT_NEAR(make_head(300, 300, generator, parse_head_init("normal:0.5", "zero"))
                  ->weight.std()
                  .item<double>(),
              0.5, 1e-2);
  EXPECT_EQ(parse_head_init("trunc-normal", "zero").describe(), "trunc-normal:0.02");
  for (const char* bad : {"trunc-normal:", "normal", "normal:-1", "normal:x", "xavier"}) {
    EXPECT_THROW(parse_head_init(bad, "zero"), vpet::UsageError) << bad;
  }
  EXPECT_THROW(parse_head_init("trunc-normal", "ones"), vpet::UsageError);
}

}  // namespace
