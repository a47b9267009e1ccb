// Memory tokens: L·M·D (+ D) parameters; masked mode keeps the original
// tokens and the original head bit-identical, equals the paper's masked
// full-sequence attention, and runs several tasks in one pass as each alone;
// unmasked mode changes the model's own outputs; both learn; round trip; bad
// settings.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/memory.h"

namespace vpet::peft {
namespace {

// Random non-zero values everywhere, as after training.
void randomise(const Method& method, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  for (const auto& [name, tensor] : method.trainable()) tensor.normal_(0.0, 0.5, generator);
}

// The paper's §2.2 computation spelled out: the task token appended to the
// sequence at position-embedding index 0, the memory appended to the keys
// and values, the Table 1 mask over the full sequence.
class FullSequenceMasked : public model::ForwardHooks {
 public:
  FullSequenceMasked(model::VisionTransformer vit, MemoryTask task)
      : vit_(std::move(vit)), task_(std::move(task)) {}

  torch::Tensor tokens(const torch::Tensor& x) override {
    const torch::Tensor token = task_.task_token + vit_->pos_embed.narrow(1, 0, 1);
    return torch::cat({x, token.expand({x.size(0), 1, -1})}, 1);
  }
  void attention(std::int64_t block, const model::BlockImpl& module,
                 model::AttentionInputs& inputs) override {
    const torch::Tensor memory = module.norm1.ptr()->forward(task_.memory[block]);
    const auto kv =
        module.attn.ptr()->project(memory.unsqueeze(0).expand({inputs.q.size(0), -1, -1}));
    const std::int64_t n = inputs.q.size(1), m = memory.size(0);
    inputs.k = torch::cat({inputs.k, kv.k}, 1);
    inputs.v = torch::cat({inputs.v, kv.v}, 1);
    torch::Tensor mask = torch::zeros({n, n + m}, torch::kBool);
    mask.narrow(0, 0, n - 1).narrow(1, 0, n - 1).fill_(true);  // originals: originals only
    mask[n - 1].fill_(true);                                   // the task token: everything
    inputs.mask = mask;
  }
  torch::Tensor final_tokens(const torch::Tensor& x) override {
    task_feature_ = vit_->final_norm(x.select(1, x.size(1) - 1));
    return x.narrow(1, 0, x.size(1) - 1);
  }
  torch::Tensor pooled(const torch::Tensor&) override { return task_feature_; }
  // The task token is the last row, not the class token the model pools.
  bool reads_all_final_tokens() const override { return true; }

 private:
  model::VisionTransformer vit_;
  MemoryTask task_;
  torch::Tensor task_feature_;
};

class MemoryTest : public ::testing::Test {
 protected:
  model::Backbone backbone = test::tiny_backbone();
  torch::Tensor pixels = test::colour_task(3, {32, 32}, 5).pixels;
};

TEST_F(MemoryTest, CountIsLayersTimesMemoryTimesWidthPlusATaskOrClassToken) {
  const auto& c = backbone.vit->config();
  auto masked = test::attached("memory", {{"memory", 3}}, backbone.vit);
  auto unmasked =
      test::attached("memory", {{"memory", 3}, {"memory_mode", "unmasked"}}, backbone.vit);
  EXPECT_EQ(masked->parameter_count(), c.depth * 3 * c.width + c.width);
  EXPECT_EQ(unmasked->parameter_count(), c.depth * 3 * c.width + c.width);
  EXPECT_EQ(masked->config(),
            nlohmann::json({{"memory", 3}, {"memory_mode", "masked"}, {"memory_norm", true}}));
  // The task token starts as the pretrained class token.
  EXPECT_TRUE(torch::equal(masked->trainable()[1].second, backbone.vit->cls_token));
  EXPECT_TRUE(masked->is_prompt("memory") && masked->is_prompt("task_token"));
  // Unmasked, the model's class token is trained, from the pretrained one.
  EXPECT_EQ(unmasked->trainable()[1].first, "class_token");
  EXPECT_TRUE(torch::equal(unmasked->trainable()[1].second, backbone.vit->cls_token));
  EXPECT_TRUE(unmasked->is_prompt("class_token"));
}

// The trained class token is the one the unmasked model runs with; a bundle
// from before it was trained (no "class_token") loads with the pretrained one.
TEST_F(MemoryTest, UnmaskedTrainsTheClassTokenAndLoadsOlderBundles) {
  const nlohmann::json config = {{"memory", 2}, {"memory_mode", "unmasked"}};
  auto trained = test::attached("memory", config, backbone.vit);
  torch::NoGradGuard no_grad;
  const torch::Tensor before = backbone.vit->features(pixels, *trained);
  trained->trainable()[1].second.add_(0.5);
  EXPECT_FALSE(torch::allclose(backbone.vit->features(pixels, *trained), before));
  auto old = test::attached("memory", config, backbone.vit);
  old->load({{"memory", trained->trainable()[0].second.clone()}});
  trained->trainable()[1].second.sub_(0.5);
  EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, *old), before));
}

TEST_F(MemoryTest, MaskedKeepsTheOriginalTokensAndHeadBitIdentical) {
  torch::NoGradGuard no_grad;
  auto memory = test::attached("memory", {{"memory", 4}}, backbone.vit);
  randomise(*memory, 7);
  model::ForwardHooks none;
  test::Recorder frozen(none);
  const torch::Tensor frozen_pooled = backbone.vit->features(pixels, frozen);

  MemoryTasks pass(backbone.vit, {memory_task(*memory)});
  test::Recorder recorder(pass);
  const torch::Tensor pooled = backbone.vit->features(pixels, recorder);
  EXPECT_TRUE(torch::equal(recorder.last, frozen.last));  // every original token, class included
  EXPECT_TRUE(torch::equal(pooled, frozen_pooled));
  EXPECT_TRUE(torch::equal(backbone.vit->head_logits(pooled), backbone.vit->forward(pixels)));
  // The method's own features are its task token's, and depend on the memory.
  const torch::Tensor task = backbone.vit->features(pixels, *memory);
  EXPECT_TRUE(torch::equal(task, pass.features()[0]));
  EXPECT_FALSE(torch::allclose(task, frozen_pooled));
}

TEST_F(MemoryTest, MaskedEqualsTheFullSequenceWithTheTableOneMask) {
  torch::NoGradGuard no_grad;
  auto memory = test::attached("memory", {{"memory", 4}}, backbone.vit);
  randomise(*memory, 8);
  FullSequenceMasked reference(backbone.vit, memory_task(*memory));
  EXPECT_TRUE(torch::allclose(backbone.vit->features(pixels, *memory),
                              backbone.vit->features(pixels, reference), 1e-5, 1e-5));
}

TEST_F(MemoryTest, TwoTasksInOnePassGiveEachTaskItsOwnFeatures) {
  torch::NoGradGuard no_grad;
  auto first = test::attached("memory", {{"memory", 2}}, backbone.vit, 1);
  auto second = test::attached("memory", {{"memory", 5}, {"memory_norm", false}}, backbone.vit, 2);
  randomise(*first, 3);
  randomise(*second, 4);
  const torch::Tensor alone_first = backbone.vit->features(pixels, *first);
  const torch::Tensor alone_second = backbone.vit->features(pixels, *second);

  MemoryTasks pass(backbone.vit, {memory_task(*first), memory_task(*second)});
  const torch::Tensor original = backbone.vit->features(pixels, pass);
  EXPECT_TRUE(torch::equal(original, test::frozen_features(backbone.vit, pixels)));
  ASSERT_EQ(pass.features().size(), 2u);
  EXPECT_TRUE(torch::allclose(pass.features()[0], alone_first, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(pass.features()[1], alone_second, 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(alone_first, alone_second));
}

TEST_F(MemoryTest, UnmaskedChangesTheModelsOwnOutputs) {
  torch::NoGradGuard no_grad;
  const torch::Tensor frozen = test::frozen_features(backbone.vit, pixels);
  auto normed = test::attached("memory", {{"memory_mode", "unmasked"}}, backbone.vit);
  auto raw =
      test::attached("memory", {{"memory_mode", "unmasked"}, {"memory_norm", false}}, backbone.vit);
  const torch::Tensor with_norm = backbone.vit->features(pixels, *normed);
  EXPECT_FALSE(torch::allclose(with_norm, frozen));
  EXPECT_FALSE(torch::allclose(with_norm, backbone.vit->features(pixels, *raw)));
  EXPECT_THROW(memory_task(*normed), UsageError);
}

TEST_F(MemoryTest, OnlyMaskedMemoryJoinsAPass) {
  auto lora = test::attached("lora", nlohmann::json::object(), backbone.vit);
  EXPECT_THROW(memory_task(*lora), UsageError);
  auto memory = test::attached("memory", {{"memory", 2}}, backbone.vit);
  MemoryTask wrong = memory_task(*memory);
  wrong.memory = torch::zeros({3, 2, 48});
  EXPECT_THROW(MemoryTasks(backbone.vit, {wrong}), Error);
}

TEST(Memory, LearnsWithTheBackboneFrozen) {
  test::expect_learns("memory", {{"memory", 2}});
  test::expect_learns("memory", {{"memory", 2}, {"memory_mode", "unmasked"}});
}

TEST(Memory, RefusesBadSettings) {
  EXPECT_EQ(test::usage_error("memory", {{"memory", 0}}), "--memory must be >= 1");
  EXPECT_NE(test::usage_error("memory", {{"memory_mode", "half"}}).find("--memory-mode"),
            std::string::npos);
  EXPECT_NE(test::usage_error("memory", {{"memory_norm", "yes"}}).find("--memory-norm"),
            std::string::npos);
}

}  // namespace
}  // namespace vpet::peft
