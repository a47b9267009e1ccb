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

// The paper's §2.2 computation spelled out: the task tokens [C_0, ...,
// C_k-1] appended to the sequence at position-embedding index 0, the
// memories [M_0, ..., M_k-1] appended to the keys and values, and Table 1's
// mask over the full sequence with its extension cells: C_t attends to the originals, to C_s and
// M_s for s = t and for each s in sees[t]. The pooled feature is the last task's.
class FullSequenceTasks : public model::ForwardHooks {
 public:
  FullSequenceTasks(model::VisionTransformer vit, std::vector<MemoryTask> tasks)
      : vit_(std::move(vit)), tasks_(std::move(tasks)) {}

  torch::Tensor tokens(const torch::Tensor& x) override {
    std::vector<torch::Tensor> rows{x};
    for (const auto& task : tasks_) {
      rows.push_back(
          (task.task_token + vit_->pos_embed.narrow(1, 0, 1)).expand({x.size(0), 1, -1}));
    }
    return torch::cat(rows, 1);
  }
  void attention(std::int64_t block, const model::BlockImpl& module,
                 model::AttentionInputs& inputs) override {
    const std::int64_t n = inputs.q.size(1), k = std::int64_t(tasks_.size()), originals = n - k;
    std::vector<std::int64_t> offsets;
    std::int64_t columns = n;
    for (const auto& task : tasks_) {
      const torch::Tensor memory =
          task.memory_norm ? module.norm1.ptr()->forward(task.memory[block]) : task.memory[block];
      const auto kv =
          module.attn.ptr()->project(memory.unsqueeze(0).expand({inputs.q.size(0), -1, -1}));
      inputs.k = torch::cat({inputs.k, kv.k}, 1);
      inputs.v = torch::cat({inputs.v, kv.v}, 1);
      offsets.push_back(columns);
      columns += memory.size(0);
    }
    torch::Tensor mask = torch::zeros({n, columns}, torch::kBool);
    mask.narrow(0, 0, originals).narrow(1, 0, originals).fill_(true);
    for (std::int64_t t = 0; t < k; ++t) {
      mask[originals + t].narrow(0, 0, originals).fill_(true);
      std::vector<std::size_t> visible = tasks_[std::size_t(t)].sees;
      visible.push_back(std::size_t(t));
      for (std::size_t s : visible) {
        mask[originals + t][originals + std::int64_t(s)] = true;
        mask[originals + t].narrow(0, offsets[s], tasks_[s].memory.size(1)).fill_(true);
      }
    }
    inputs.mask = mask;
  }
  torch::Tensor final_tokens(const torch::Tensor& x) override {
    task_feature_ = vit_->final_norm(x.select(1, x.size(1) - 1));
    return x.narrow(1, 0, x.size(1) - std::int64_t(tasks_.size()));
  }
  torch::Tensor pooled(const torch::Tensor&) override { return task_feature_; }
  bool reads_all_final_tokens() const override { return true; }

 private:
  model::VisionTransformer vit_;
  std::vector<MemoryTask> tasks_;
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
  FullSequenceTasks reference(backbone.vit, {memory_task(*memory)});
  EXPECT_TRUE(torch::allclose(backbone.vit->features(pixels, *memory),
                              backbone.vit->features(pixels, reference), 1e-5, 1e-5));
}

// While training with drop-path, a sample's task row is dropped with its
// original rows (one residual branch per sample in the full sequence): the
// same draws give the full sequence's features.
TEST_F(MemoryTest, DropPathDropsTheTaskRowsWithTheirSample) {
  torch::NoGradGuard no_grad;
  auto memory = test::attached("memory", {{"memory", 4}}, backbone.vit);
  randomise(*memory, 9);
  FullSequenceTasks reference(backbone.vit, {memory_task(*memory)});
  const model::ForwardOptions training{0.6, true};
  torch::manual_seed(21);
  const torch::Tensor masked = backbone.vit->features(pixels, *memory, training);
  torch::manual_seed(21);
  const torch::Tensor full = backbone.vit->features(pixels, reference, training);
  EXPECT_TRUE(torch::allclose(masked, full, 1e-5, 1e-5));
  // The draws mattered: without drop-path the features differ.
  EXPECT_FALSE(torch::allclose(masked, backbone.vit->features(pixels, *memory), 1e-3, 1e-3));
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

// Extension: the child, rebuilt as from its bundle (parents' fingerprints in
// its config, their tensors as structure), attends to its parent's class
// token and memory as the full sequence with Table 1's starred cells does;
// beside the parent in one pass, the parent is shared and each gives what it
// gives alone; the parent's tensors are not trained or counted.
TEST_F(MemoryTest, AnExtensionAttendsToItsParentAsTheFullSequenceDoes) {
  auto parent = test::attached("memory", {{"memory", 3}}, backbone.vit, 1);
  randomise(*parent, 5);
  const MemoryTask parent_task = memory_task(*parent);
  const nlohmann::json config = {
      {"memory", 2},
      {"memory_mode", "extend"},
      {"parents", {{{"fingerprint", memory_task_fingerprint(parent_task)}, {"memory", 3}}}}};
  auto child = create_method("memory", config);
  child->restore_structure({{"parent.0.task_token", parent_task.task_token.detach().clone()},
                            {"parent.0.memory", parent_task.memory.detach().clone()}});
  torch::Generator generator = at::detail::createCPUGenerator(2);
  child->attach(backbone.vit, generator);
  randomise(*child, 6);
  EXPECT_EQ(child->parameter_count(), 2 * 2 * 48 + 48);
  EXPECT_EQ(child->config().at("parents")[0].at("memory"), 3);
  ASSERT_EQ(child->structure().size(), 2u);
  torch::NoGradGuard no_grad;

  std::vector<MemoryTask> tasks;
  EXPECT_EQ(add_memory_tasks(*parent, tasks), 0u);
  EXPECT_EQ(add_memory_tasks(*child, tasks), 1u);  // the parent shared, not repeated
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[1].sees, std::vector<std::size_t>{0});
  FullSequenceTasks reference(backbone.vit, tasks);
  const torch::Tensor alone = backbone.vit->features(pixels, *child);
  EXPECT_TRUE(torch::allclose(alone, backbone.vit->features(pixels, reference), 1e-5, 1e-5));

  MemoryTasks pass(backbone.vit, tasks);
  EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, pass),
                           test::frozen_features(backbone.vit, pixels)));
  EXPECT_TRUE(
      torch::allclose(pass.features()[0], backbone.vit->features(pixels, *parent), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(pass.features()[1], alone, 1e-5, 1e-5));
  // It reads the parent: a child of another parent differs.
  std::vector<MemoryTask> orphaned = {tasks[1]};
  orphaned[0].sees.clear();
  MemoryTasks without(backbone.vit, orphaned);
  backbone.vit->features(pixels, without);
  EXPECT_FALSE(torch::allclose(without.features()[0], alone, 1e-4, 1e-4));
  EXPECT_THROW(memory_task(*child), UsageError);
}

TEST_F(MemoryTest, AnExtensionRefusesParentsThatAreNotWhatItRecorded) {
  auto parent = test::attached("memory", {{"memory", 3}}, backbone.vit, 1);
  const MemoryTask parent_task = memory_task(*parent);
  const nlohmann::json config = {{"memory", 2},
                                 {"memory_mode", "extend"},
                                 {"parents", {{{"fingerprint", "sha256:0000"}, {"memory", 3}}}}};
  torch::Generator generator = at::detail::createCPUGenerator(2);
  auto child = create_method("memory", config);
  EXPECT_THROW(child->attach(backbone.vit, generator), Error);  // no parent tensors
  child->restore_structure({{"parent.0.task_token", parent_task.task_token.detach().clone()},
                            {"parent.0.memory", parent_task.memory.detach().clone()}});
  EXPECT_THROW(child->attach(backbone.vit, generator), Error);  // another fingerprint
  EXPECT_THROW(child->restore_structure({{"parent.1.memory", torch::zeros({1})}}), Error);
  EXPECT_THROW(create_method("memory", {{"memory_mode", "extend"}}), SettingError);
  EXPECT_THROW(create_method("memory", {{"extends", "a.vpet"}}), SettingError);
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
