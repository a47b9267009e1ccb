// Method::merge_into: with random trained tensors, the plain ViT after the
// merge gives the features the ViT with the method's hooks gave (LoRA on
// every target with alpha ≠ rank, DoRA, SSF, SPT-LoRA with modules and sparse, full and
// norm deltas, BitFit, full); methods whose update is not linear refuse.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/spt_plan.h"

namespace vpet::peft {
namespace {

using spt::Tuning;

torch::Tensor indices(std::vector<std::int64_t> values) {
  return torch::tensor(values, torch::kInt64);
}

// Every trained tensor set to a random value, as after training.
void randomize(const Method& method) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  for (const auto& [name, tensor] : method.trainable())
    tensor.add_(torch::randn_like(tensor) * 0.1);
}

void expect_merge_parity(const std::string& name, const nlohmann::json& config,
                         const NamedTensors& structure = {}) {
  model::Backbone backbone = test::tiny_backbone();
  auto method = create_method(name, config);
  method->restore_structure(structure);
  torch::Generator generator = at::detail::createCPUGenerator(0);
  method->attach(backbone.vit, generator);
  randomize(*method);
  method->set_training(false);
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = test::colour_task(2, backbone.vit->config().img_size, 3).pixels;
  const torch::Tensor hooked = backbone.vit->features(pixels, *method);
  const torch::Tensor before = test::frozen_features(backbone.vit, pixels);
  method->merge_into(backbone.vit);
  const torch::Tensor merged = test::frozen_features(backbone.vit, pixels);
  EXPECT_TRUE(torch::allclose(merged, hooked, 1e-5, 1e-5))
      << name << ": max difference " << (merged - hooked).abs().max().item<double>();
  if (name != "full" && name != "bitfit") {
    // The update did something: the parity is not that of two frozen models.
    EXPECT_GT((hooked - before).abs().max().item<double>(), 1e-3) << name;
  }
}

TEST(Merge, LoRAOnEveryTargetWithScaling) {
  expect_merge_parity(
      "lora", {{"rank", 3}, {"alpha", 7.0}, {"targets", {"q", "k", "v", "o", "fc1", "fc2"}}});
  expect_merge_parity("lora", {{"rank", 2}, {"targets", {"q", "v"}}});
}

TEST(Merge, DoRAWeightIsMagnitudeTimesUnitDirection) {
  expect_merge_parity("dora", {{"rank", 3}, {"alpha", 5.0}, {"targets", {"q", "k", "o", "fc2"}}});
  expect_merge_parity("dora", {{"rank", 2}, {"layers", "1"}});
}

TEST(Merge, SsfScalesAndShiftsFoldIntoTheWeightsBefore) {
  expect_merge_parity("ssf", nlohmann::json::object());
}

TEST(Merge, HeadClassTokenReplacesTheCheckpoints) {
  expect_merge_parity("head-class", nlohmann::json::object());
}

TEST(Merge, SptLoRAModulesAndDeltas) {
  spt::Plan plan;
  plan.structure = spt::Structure::LoRA;
  plan.rank = 2;
  plan.budget = 1500;
  plan.selected = 400;
  plan.class_token = 48;
  plan.tuned["blocks.0.attn.k.weight"].tuning = Tuning::Module;
  plan.tuned["blocks.1.mlp.fc1.weight"].tuning = Tuning::Module;
  plan.tuned["blocks.0.norm2.bias"].tuning = Tuning::Full;
  plan.tuned["blocks.0.attn.q.weight"] = {Tuning::Sparse, indices({0, 49, 2303})};
  plan.tuned["blocks.1.attn.v.bias"] = {Tuning::Sparse, indices({1, 40})};
  plan.tuned["blocks.1.norm1.weight"] = {Tuning::Sparse, indices({0, 47})};
  plan.tuned["norm.weight"].tuning = Tuning::Full;
  const auto candidates = spt::candidates(test::tiny_backbone().vit->config());
  spt::count(plan, candidates);
  expect_merge_parity("spt-lora", {{"plan", spt::plan_fields(plan)}, {"module_dropout", 0.1}},
                      spt::plan_tensors(plan));
}

TEST(Merge, BitFitAndFullAreTheirOwnWeights) {
  expect_merge_parity("bitfit", nlohmann::json::object());
  expect_merge_parity("full", nlohmann::json::object());
}

TEST(Merge, MethodsThatAreNotLinearRefuseWithTheirReason) {
  model::Backbone backbone = test::tiny_backbone();
  for (const auto& [name, why] :
       std::vector<std::pair<std::string, std::string>>{{"vpt-deep", "prompts are extra tokens"},
                                                        {"adapter", "GELU"},
                                                        {"memory", "extra keys and values"}}) {
    auto method = test::attached(name, nlohmann::json::object(), backbone.vit);
    try {
      method->merge_into(backbone.vit);
      ADD_FAILURE() << name << " merged";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name + " cannot be merged"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace vpet::peft
