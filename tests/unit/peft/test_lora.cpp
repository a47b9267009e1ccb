// LoRA: r·(in + out) per target per block, the identity at init (B = 0), q,
// k and v adapted separately through the fused qkv, the rsLoRA scale,
// learns, round-trips, refuses bad settings.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/lora.h"

namespace vpet::peft {
namespace {

using model::Site;

TEST(LoRA, CountIsRankTimesInPlusOutPerTargetPerBlock) {
  model::Backbone backbone = test::tiny_backbone();
  const auto& c = backbone.vit->config();
  const std::int64_t d = c.width, h = c.mlp_hidden, r = 4;
  auto all = test::attached("lora", {{"rank", r}, {"targets", {"q", "k", "v", "o", "fc1", "fc2"}}},
                            backbone.vit);
  EXPECT_EQ(all->parameter_count(), c.depth * (4 * r * (d + d) + 2 * r * (d + h)));
  auto defaults = test::attached("lora", nlohmann::json::object(), backbone.vit);
  EXPECT_EQ(defaults->parameter_count(), c.depth * 2 * 8 * (d + d));  // q, v at rank 8
  EXPECT_EQ(defaults->config()["targets"], nlohmann::json({"q", "v"}));
  const NamedTensors tensors = all->trainable();
  EXPECT_EQ(tensors.front().first, "blocks.0.lora_q.A");
  EXPECT_EQ(tensors.front().second.sizes(), (std::vector<std::int64_t>{r, d}));
  // A as nn.Linear initialises weights: U(±1/√in); B zeros.
  EXPECT_LE(tensors.front().second.abs().max().item<double>(), 1.0 / std::sqrt(double(d)));
  EXPECT_EQ(tensors[1].second.count_nonzero().item<std::int64_t>(), 0);
}

TEST(LoRA, StartsAsTheFrozenModel) {
  model::Backbone backbone = test::tiny_backbone();
  auto lora = test::attached("lora", {{"rank", 2}, {"targets", {"q", "k", "v", "o", "fc1", "fc2"}}},
                             backbone.vit);
  lora->set_training(true);  // dropout on: B = 0 still adds nothing
  const torch::Tensor pixels = torch::randn({3, 3, 32, 32});
  EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, *lora),
                           test::frozen_features(backbone.vit, pixels)));
}

// With block 0's B of its one target drawn at random, the hook at that site
// adds scale · B (A x) to the frozen output (x and the output random).
void expect_update_scaled_by(Method& lora, Site site, double scale) {
  const NamedTensors tensors = lora.trainable();
  torch::NoGradGuard no_grad;
  tensors[1].second.normal_();  // blocks.0.lora_<site>.B
  const torch::Tensor x = torch::randn({2, 5, 48}), out = torch::randn({2, 5, 48});
  const torch::Tensor expected =
      out + scale * torch::linear(torch::linear(x, tensors[0].second), tensors[1].second);
  EXPECT_TRUE(torch::allclose(lora.linear(0, site, x, out), expected, 1e-6, 1e-6));
}

TEST(LoRA, AddsScaledLowRankUpdateToTheTargetedProjectionOnly) {
  model::Backbone backbone = test::tiny_backbone();
  auto lora = test::attached("lora", {{"rank", 2}, {"alpha", 6}, {"targets", {"k"}}}, backbone.vit);
  ASSERT_EQ(lora->trainable().size(), 4u);  // A and B of k, two blocks
  expect_update_scaled_by(*lora, Site::K, 3.0);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 5, 48}), out = torch::randn({2, 5, 48});
  for (Site site : {Site::Q, Site::V, Site::O, Site::Mlp}) {
    EXPECT_TRUE(torch::equal(lora->linear(0, site, x, out), out)) << model::site_name(site);
  }
  // Through the fused qkv: only k changes, so the model's features do.
  const torch::Tensor pixels = torch::randn({2, 3, 32, 32});
  EXPECT_FALSE(torch::allclose(backbone.vit->features(pixels, *lora),
                               test::frozen_features(backbone.vit, pixels)));
}

// rsLoRA (Kalajdzievski 2023; peft's use_rslora): alpha / √r. Rank 4 and
// alpha 6 give 3, where the standard scale is 1.5.
TEST(LoRA, RankStabilisedScaleIsAlphaOverRootRank) {
  model::Backbone backbone = test::tiny_backbone();
  auto lora = test::attached(
      "lora", {{"rank", 4}, {"alpha", 6}, {"lora_scale", "rs"}, {"targets", {"v"}}}, backbone.vit);
  EXPECT_EQ(lora->config().at("lora_scale"), "rs");
  expect_update_scaled_by(*lora, Site::V, 3.0);
  // The count does not depend on the scale.
  EXPECT_EQ(lora->parameter_count(), 2 * 4 * (48 + 48));  // v in two blocks
}

TEST(LoRA, LearnsWithTheBackboneFrozen) {
  test::expect_learns("lora", {{"rank", 4}, {"targets", {"q", "k", "v", "o", "fc1", "fc2"}}});
}

TEST(LoRA, RefusesBadSettings) {
  auto message = [](const nlohmann::json& config) { return test::usage_error("lora", config); };
  EXPECT_EQ(message({{"rank", 0}}), "--rank must be >= 1");
  EXPECT_NE(message({{"alpha", 0}}).find("--alpha"), std::string::npos);
  EXPECT_NE(message({{"lora_dropout", 1.0}}).find("--lora-dropout"), std::string::npos);
  EXPECT_NE(message({{"lora_scale", "sqrt"}}).find("--lora-scale"), std::string::npos);
  EXPECT_NE(message({{"targets", {"q", "x"}}}).find("--targets"), std::string::npos);
  EXPECT_NE(message({{"targets", nlohmann::json::array()}}).find("--targets"), std::string::npos);
  EXPECT_NE(message({{"targets", {"q", "q"}}}).find("twice"), std::string::npos);
  EXPECT_EQ(message({{"targets", "q,fc2"}, {"unknown_key", 1}}), "no error");
}

}  // namespace
}  // namespace vpet::peft
