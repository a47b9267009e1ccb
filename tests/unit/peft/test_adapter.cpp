// Adapters: 2·D·b + b + D per block, the identity at init (up = 0),
// sequential reads the MLP's output and parallel its input, learns in both
// styles, round-trips, refuses bad settings.
#include <gtest/gtest.h>

#include "method_test_support.h"

namespace vpet::peft {
namespace {

using model::Site;

TEST(Adapter, CountIsTwoDbPlusBPlusDPerBlock) {
  model::Backbone backbone = test::tiny_backbone();
  const auto& c = backbone.vit->config();
  for (const char* style : {"sequential", "parallel"}) {
    auto adapter =
        test::attached("adapter", {{"bottleneck", 5}, {"adapter_style", style}}, backbone.vit);
    EXPECT_EQ(adapter->parameter_count(), c.depth * (2 * c.width * 5 + 5 + c.width)) << style;
  }
  auto defaults = test::attached("adapter", nlohmann::json::object(), backbone.vit);
  EXPECT_EQ(
      defaults->config(),
      nlohmann::json({{"bottleneck", 8}, {"adapter_style", "sequential"}, {"adapter_scale", 0.1}}));
  EXPECT_EQ(defaults->trainable().front().first, "blocks.0.adapter.down.weight");
}

TEST(Adapter, StartsAsTheFrozenModel) {
  model::Backbone backbone = test::tiny_backbone();
  const torch::Tensor pixels = torch::randn({3, 3, 32, 32});
  for (const char* style : {"sequential", "parallel"}) {
    auto adapter = test::attached("adapter", {{"adapter_style", style}}, backbone.vit);
    EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, *adapter),
                             test::frozen_features(backbone.vit, pixels)))
        << style;
  }
}

TEST(Adapter, SequentialReadsTheMlpOutputAndParallelItsInput) {
  model::Backbone backbone = test::tiny_backbone();
  torch::NoGradGuard no_grad;
  const torch::Tensor input = torch::randn({2, 5, 48}), output = torch::randn({2, 5, 48});
  for (const char* style : {"sequential", "parallel"}) {
    auto adapter = test::attached(
        "adapter", {{"adapter_style", style}, {"adapter_scale", 0.5}, {"bottleneck", 3}},
        backbone.vit);
    const NamedTensors t = adapter->trainable();  // down.weight, down.bias, up.weight, up.bias
    for (const auto& [name, tensor] : t) tensor.normal_();
    const torch::Tensor source = std::string(style) == "parallel" ? input : output;
    const torch::Tensor expected =
        output + 0.5 * torch::linear(torch::relu(torch::linear(source, t[0].second, t[1].second)),
                                     t[2].second, t[3].second);
    EXPECT_TRUE(torch::allclose(adapter->linear(0, Site::Mlp, input, output), expected, 1e-6, 1e-6))
        << style;
    EXPECT_TRUE(torch::equal(adapter->linear(0, Site::Fc2, input, output), output));
  }
}

TEST(Adapter, LearnsWithTheBackboneFrozen) {
  test::expect_learns("adapter", {{"adapter_style", "sequential"}});
  test::expect_learns("adapter", {{"adapter_style", "parallel"}});
}

TEST(Adapter, RefusesBadSettings) {
  EXPECT_EQ(test::usage_error("adapter", {{"bottleneck", 0}}), "--bottleneck must be >= 1");
  EXPECT_NE(test::usage_error("adapter", {{"adapter_style", "serial"}}).find("--adapter-style"),
            std::string::npos);
  EXPECT_NE(test::usage_error("adapter", {{"adapter_scale", "big"}}).find("--adapter-scale"),
            std::string::npos);
}

}  // namespace
}  // namespace vpet::peft
