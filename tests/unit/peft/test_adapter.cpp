// Adapters: 2·D·b + b + D per block (twice for houlsby), the identity at
// init, each style's forward equal to a PyTorch transcription of the code
// that defines it (tests/fixtures/make_method_fixtures.py: AdaptFormer's
// released Block.forward, its paper's equation, adapter-bert), learns in
// every style, refuses bad settings.
#include <gtest/gtest.h>

#include "../fixture_paths.h"
#include "method_test_support.h"
#include "vpet/io/safetensors.h"

namespace vpet::peft {
namespace {

using model::Site;

TEST(Adapter, CountIsTwoDbPlusBPlusDPerBlock) {
  model::Backbone backbone = test::tiny_backbone();
  const auto& c = backbone.vit->config();
  for (const char* style : {"sequential", "parallel", "parallel-released", "houlsby"}) {
    auto adapter =
        test::attached("adapter", {{"bottleneck", 5}, {"adapter_style", style}}, backbone.vit);
    const std::int64_t per_adapter = 2 * c.width * 5 + 5 + c.width;
    EXPECT_EQ(adapter->parameter_count(),
              c.depth * per_adapter * (std::string(style) == "houlsby" ? 2 : 1))
        << style;
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
  for (const char* style : {"sequential", "parallel", "parallel-released"}) {
    auto adapter = test::attached("adapter", {{"adapter_style", style}}, backbone.vit);
    EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, *adapter),
                             test::frozen_features(backbone.vit, pixels)))
        << style;
  }
  // Houlsby's near-identity: both weights N(0, 1e-3²) truncated at ±2σ.
  auto houlsby = test::attached("adapter", {{"adapter_style", "houlsby"}}, backbone.vit);
  for (const auto& [name, tensor] : houlsby->trainable()) {
    if (name.find("weight") == std::string::npos) continue;
    EXPECT_LE(tensor.abs().max().item<double>(), 2e-3 + 1e-9) << name;
    EXPECT_GT(tensor.abs().max().item<double>(), 0.0) << name;
  }
  EXPECT_LT((backbone.vit->features(pixels, *houlsby) - test::frozen_features(backbone.vit, pixels))
                .abs()
                .max()
                .item<double>(),
            1e-2);
}

// Each style against the PyTorch transcription of its defining code.
TEST(Adapter, EachStyleMatchesItsReferenceForward) {
  model::Backbone backbone = test::tiny_backbone();
  const io::TensorMap fixture = io::read_safetensors(vpet::test::kVit + "adapters.safetensors");
  const io::TensorMap expected = io::read_safetensors(vpet::test::kVit + "expected_a.safetensors");
  const torch::Tensor pixels = *expected.find("pixels");
  for (const std::string style : {"sequential", "parallel", "parallel-released", "houlsby"}) {
    auto adapter = test::attached(
        "adapter", {{"adapter_style", style}, {"adapter_scale", 0.5}, {"bottleneck", 4}},
        backbone.vit);
    torch::NoGradGuard no_grad;
    for (const auto& [name, tensor] : adapter->trainable()) {
      const torch::Tensor* value = fixture.find(style + "/" + name);
      ASSERT_NE(value, nullptr) << style << ": " << name;
      tensor.copy_(*value);
    }
    const torch::Tensor got = backbone.vit->features(pixels, *adapter);
    EXPECT_LE((got - *fixture.find(style + "/pre_logits")).abs().max().item<double>(), 1e-4)
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
  for (const char* style : {"sequential", "parallel", "parallel-released", "houlsby"}) {
    test::expect_learns("adapter", {{"adapter_style", style}});
  }
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
