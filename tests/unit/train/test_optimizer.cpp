// Parameter groups (which tensors decay) and the AdamW/SGD updates, checked
// against torch::optim's, and the state a checkpoint carries.
#include <gtest/gtest.h>

#include "vpet/error.h"
#include "vpet/train/optimizer.h"

namespace {

using vpet::train::Optimizer;
using vpet::train::OptimizerKind;
using vpet::train::OptimizerOptions;
using vpet::train::ParamEntry;
using vpet::train::ParamGroupOptions;

// A matrix, a bias and a prompt: the three kinds the decay rule tells apart.
class ThreeTensors : public vpet::peft::Method {
 public:
  std::string name() const override { return "three"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  void attach(vpet::model::VisionTransformer&, torch::Generator&) override {}
  vpet::peft::NamedTensors trainable() const override {
    return {{"w", w}, {"b", b}, {"prompts", prompts}};
  }
  bool is_prompt(const std::string& name) const override { return name == "prompts"; }

  torch::Tensor w = torch::randn({4, 3}).requires_grad_();
  torch::Tensor b = torch::randn({3}).requires_grad_();
  torch::Tensor prompts = torch::randn({1, 2, 3}).requires_grad_();
};

double decay_of(const std::vector<ParamEntry>& entries, const std::string& name) {
  for (const ParamEntry& e : entries) {
    if (e.name == name) return e.weight_decay;
  }
  ADD_FAILURE() << "no entry " << name;
  return -1;
}

TEST(Optimizer, NoDecayOnVectorsAndPromptsByDefault) {
  ThreeTensors method;
  torch::nn::Linear head(3, 2);
  const auto entries = vpet::train::param_entries(method, head, ParamGroupOptions{0.1, 0.2, false});
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(decay_of(entries, "w"), 0.1);
  EXPECT_EQ(decay_of(entries, "b"), 0.0);
  EXPECT_EQ(decay_of(entries, "prompts"), 0.0);
  EXPECT_EQ(decay_of(entries, "head.weight"), 0.2);
  EXPECT_EQ(decay_of(entries, "head.bias"), 0.0);
}

TEST(Optimizer, WdPromptsPutsPromptsUnderDecay) {
  ThreeTensors method;
  torch::nn::Linear head(3, 2);
  const auto entries = vpet::train::param_entries(method, head, ParamGroupOptions{0.1, 0.0, true});
  EXPECT_EQ(decay_of(entries, "prompts"), 0.1);
  EXPECT_EQ(decay_of(entries, "b"), 0.0);
  EXPECT_EQ(decay_of(entries, "head.weight"), 0.0);
}

// LoRA+ (--lr-ratio-b): the LoRA B factors, and only they, get the ratio.
class LoraFactors : public ThreeTensors {
 public:
  vpet::peft::NamedTensors trainable() const override {
    return {{"blocks.0.lora_q.A", w}, {"blocks.0.lora_q.B", w.t()}};
  }
  bool is_lora_b(const std::string& name) const override { return name == "blocks.0.lora_q.B"; }
};

TEST(Optimizer, LoraPlusScalesTheRateOfBFactorsOnly) {
  LoraFactors method;
  torch::nn::Linear head(3, 2);
  ParamGroupOptions options{0.1, 0.2, false};
  options.lora_b_lr_ratio = 16.0;
  const auto entries = vpet::train::param_entries(method, head, options);
  ASSERT_EQ(entries.size(), 4u);
  for (const ParamEntry& e : entries) {
    EXPECT_EQ(e.lr_scale, e.name == "blocks.0.lora_q.B" ? 16.0 : 1.0) << e.name;
  }
}

// Runs three steps of ours and of torch's on copies of the same tensors; a
// learning-rate multiple `scale` of ours is torch's rate times it.
template <typename TorchOptimizer, typename TorchOptions>
void expect_same_updates(const OptimizerOptions& ours, TorchOptions theirs, double decay,
                         double scale = 1.0) {
  torch::manual_seed(3);
  torch::Tensor a = torch::randn({5, 4}).requires_grad_();
  torch::Tensor b = a.detach().clone().requires_grad_();
  Optimizer mine({{"a", a, decay, scale}}, ours);
  TorchOptimizer reference({b}, theirs);
  for (int step = 0; step < 3; ++step) {
    const torch::Tensor target = torch::randn({5, 4});
    mine.zero_grad();
    (a - target).pow(2).sum().backward();
    mine.step(0.01);
    reference.zero_grad();
    (b - target).pow(2).sum().backward();
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7)) << (a - b).abs().max().item<double>();
}

TEST(Optimizer, AdamWEqualsTorch) {
  expect_same_updates<torch::optim::AdamW>(
      {OptimizerKind::AdamW}, torch::optim::AdamWOptions(0.01).weight_decay(0.05), 0.05);
}

// A tensor's rate multiple (LoRA+) is a torch param group of that rate,
// its decoupled decay scaled with it.
TEST(Optimizer, AdamWWithARateMultipleEqualsTorchAtThatRate) {
  expect_same_updates<torch::optim::AdamW>(
      {OptimizerKind::AdamW}, torch::optim::AdamWOptions(0.04).weight_decay(0.05), 0.05, 4.0);
}

TEST(Optimizer, SgdWithMomentumEqualsTorch) {
  OptimizerOptions sgd{OptimizerKind::Sgd, 0.9};
  expect_same_updates<torch::optim::SGD>(
      sgd, torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(0.05), 0.05);
}

TEST(Optimizer, StateRoundTripContinuesIdentically) {
  torch::Tensor a = torch::ones({3}).requires_grad_();
  Optimizer first({{"a", a, 0.0}}, {OptimizerKind::AdamW});
  a.sum().backward();
  first.step(0.1);
  const auto state = first.state();

  torch::Tensor b = a.detach().clone().requires_grad_();
  Optimizer second({{"a", b, 0.0}}, {OptimizerKind::AdamW});
  second.load_state(state);
  for (Optimizer* o : {&first, &second}) o->zero_grad();
  (a * a).sum().backward();
  (b * b).sum().backward();
  first.step(0.1);
  second.step(0.1);
  EXPECT_TRUE(torch::equal(a, b));

  Optimizer empty({{"a", b, 0.0}}, {OptimizerKind::AdamW});
  EXPECT_THROW(empty.load_state({}), vpet::Error);
}

}  // namespace
