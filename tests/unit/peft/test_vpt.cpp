// VPT: P·D (shallow) and L·P·D (deep) prompts, Xavier-style init, inserted
// after the prefix tokens and removed before pooling, deep prompts replacing
// the previous block's prompt outputs, prompt dropout only in training,
// initialisation from a prompts file, learning, round trip, bad settings.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include <filesystem>

#include "../fixture_paths.h"
#include "method_test_support.h"
#include "vpet/error.h"
#include "vpet/io/safetensors.h"
#include "vpet/io/stream.h"

namespace vpet::peft {
namespace {

TEST(Vpt, CountIsPromptsTimesWidthPerInsertedLayer) {
  model::Backbone backbone = test::tiny_backbone();
  const auto& c = backbone.vit->config();
  auto shallow = test::attached("vpt-shallow", {{"prompts", 3}}, backbone.vit);
  auto deep = test::attached("vpt-deep", {{"prompts", 3}}, backbone.vit);
  EXPECT_EQ(shallow->parameter_count(), 3 * c.width);
  EXPECT_EQ(deep->parameter_count(), c.depth * 3 * c.width);
  EXPECT_TRUE(deep->is_prompt("prompts"));
  EXPECT_FALSE(deep->decays("prompts", deep->trainable().front().second));
  // U(±sqrt(6 / (3·patch² + D))), patch 8, D 48: spread over the whole range.
  const double bound = std::sqrt(6.0 / (3 * 8 * 8 + 48));
  const torch::Tensor prompts = deep->trainable().front().second;
  EXPECT_LE(prompts.abs().max().item<double>(), bound);
  EXPECT_GT(prompts.abs().max().item<double>(), 0.9 * bound);
}

TEST(Vpt, InsertsAfterThePrefixAndRestoresTheLayoutBeforePooling) {
  // c has a class token and two registers, no position embedding on them.
  model::Backbone backbone = test::tiny_backbone("c_timm.safetensors");
  auto vpt = test::attached("vpt-shallow", {{"prompts", 4}}, backbone.vit);
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 24, 24});
  test::Recorder recorder(*vpt);
  backbone.vit->features(pixels, recorder);
  const torch::Tensor embedded = backbone.vit->add_pos_embed(backbone.vit->tokens(pixels));
  ASSERT_EQ(recorder.first.size(1), embedded.size(1) + 4);
  EXPECT_TRUE(torch::equal(recorder.first.narrow(1, 0, 3), embedded.narrow(1, 0, 3)));
  EXPECT_TRUE(torch::equal(recorder.first.narrow(1, 3, 4),
                           vpt->trainable().front().second.expand({2, 4, 24})));
  EXPECT_TRUE(torch::equal(recorder.first.narrow(1, 7, 16), embedded.narrow(1, 3, 16)));
  // Shallow: the prompts flow on through the blocks untouched by the method.
  EXPECT_FALSE(torch::equal(recorder.inputs[1].narrow(1, 3, 4), recorder.first.narrow(1, 3, 4)));
  ASSERT_EQ(recorder.restored.size(1), embedded.size(1));
  EXPECT_TRUE(torch::equal(recorder.restored.narrow(1, 0, 3), recorder.last.narrow(1, 0, 3)));
  EXPECT_TRUE(torch::equal(recorder.restored.narrow(1, 3, 16), recorder.last.narrow(1, 7, 16)));
}

TEST(Vpt, DeepReplacesThePromptOutputsBeforeEachBlock) {
  model::Backbone backbone = test::tiny_backbone("b_timm.safetensors");  // 3 blocks
  auto vpt = test::attached("vpt-deep", {{"prompts", 2}}, backbone.vit);
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 28, 28});
  test::Recorder recorder(*vpt);
  backbone.vit->features(pixels, recorder);
  const torch::Tensor prompts = vpt->trainable().front().second;  // [3, 2, 32]
  ASSERT_EQ(recorder.inputs.size(), 3u);
  for (std::int64_t i = 0; i < 3; ++i) {
    const torch::Tensor input = recorder.inputs[std::size_t(i)];
    EXPECT_TRUE(torch::equal(input.narrow(1, 1, 2), prompts[i].expand({2, 2, 32}))) << i;
    if (i == 0) continue;
    // Everything but the prompt positions is the previous block's output.
    const torch::Tensor previous =
        backbone.vit->blocks[std::size_t(i - 1)]->forward(recorder.inputs[std::size_t(i - 1)]);
    EXPECT_TRUE(torch::equal(input.select(1, 0), previous.select(1, 0)));
    EXPECT_TRUE(torch::equal(input.narrow(1, 3, 16), previous.narrow(1, 3, 16)));
  }
}

TEST(Vpt, PromptDropoutOnlyWhileTraining) {
  model::Backbone backbone = test::tiny_backbone();
  auto vpt = test::attached("vpt-deep", {{"prompts", 8}, {"prompt_dropout", 0.5}}, backbone.vit);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 17, 48});
  const torch::Tensor prompts = vpt->trainable().front().second;
  EXPECT_TRUE(torch::equal(vpt->tokens(x).narrow(1, 1, 8), prompts[0].expand({2, 8, 48})));
  vpt->set_training(true);
  const torch::Tensor dropped = vpt->block_input(1, vpt->tokens(x)).narrow(1, 1, 8);
  EXPECT_GT((dropped == 0).sum().item<std::int64_t>(), 0);
  EXPECT_FALSE(torch::equal(dropped[0], dropped[1]));  // one sample per image
}

class VptInitFile : public ::testing::Test {
 protected:
  void write(const torch::Tensor& prompts, const std::string& fingerprint) {
    nlohmann::json header = io::make_header("prompts", "test", {});
    header["backbone"] = {{"fingerprint", fingerprint}};
    io::StreamWriter out(path, header);
    out.write({{{"prompts", prompts}}, nlohmann::json::object()});
    out.close();
  }
  void TearDown() override { std::filesystem::remove(path); }

  std::string path = (std::filesystem::temp_directory_path() /
                      ("vpet_test_prompts_" + std::to_string(::getpid()) + ".vpet"))
                         .string();
  model::Backbone backbone = test::tiny_backbone();
};

TEST_F(VptInitFile, StartsFromTheFilesPrompts) {
  const torch::Tensor prompts = torch::randn({2, 6, 48});
  write(prompts, backbone.fingerprint);
  auto vpt = test::attached("vpt-deep", {{"init_prompts", path}}, backbone.vit);
  vpt->check_backbone(backbone.fingerprint);
  EXPECT_TRUE(torch::equal(vpt->trainable().front().second, prompts));
  EXPECT_EQ(vpt->config(),
            nlohmann::json({{"prompts", 6}, {"prompt_dropout", 0.0}, {"prompts_in_pool", false}}));
}

TEST_F(VptInitFile, RefusesAnotherShapeOrBackbone) {
  write(torch::randn({2, 6, 48}), backbone.fingerprint);
  EXPECT_THROW(test::attached("vpt-shallow", {{"init_prompts", path}}, backbone.vit), Error);
  EXPECT_THROW(test::attached("vpt-deep", {{"init_prompts", path}, {"prompts", 5}}, backbone.vit),
               Error);
  EXPECT_THROW(create_method("vpt-deep", {{"init_prompts", path}})
                   ->check_backbone("sha256:0000000000000000"),
               Error);
}

TEST(Vpt, LearnsWithTheBackboneFrozen) {
  test::expect_learns("vpt-shallow", {{"prompts", 4}});
  test::expect_learns("vpt-deep", {{"prompts", 4}, {"prompt_dropout", 0.1}});
}

TEST(Vpt, RefusesBadSettings) {
  EXPECT_EQ(test::usage_error("vpt-deep", {{"prompts", 0}}), "--prompts must be >= 1");
  EXPECT_NE(test::usage_error("vpt-shallow", {{"prompt_dropout", -0.1}}).find("--prompt-dropout"),
            std::string::npos);
}

// Self-Prompt's MAE readout (--pool avg-norm --prompts-in-pool) against a
// PyTorch transcription of Models/MAE_vpt_deep.py's forward_features
// (tests/fixtures/make_method_fixtures.py): the mean of tokens 1:, prompts
// and patches, before the norm, then the norm.
TEST(Vpt, MaeReadoutAveragesPromptsAndPatchesThenNorms) {
  model::LoadOptions options;
  options.pool = model::Pool::AvgNorm;
  model::Backbone backbone = model::load_backbone(vpet::test::kTinyVit, options);
  const io::TensorMap fixture = io::read_safetensors(vpet::test::kVit + "mae_readout.safetensors");
  const io::TensorMap expected = io::read_safetensors(vpet::test::kVit + "expected_a.safetensors");
  auto vpt = test::attached("vpt-deep", {{"prompts", 3}, {"prompts_in_pool", true}}, backbone.vit);
  torch::NoGradGuard no_grad;
  vpt->trainable().front().second.copy_(*fixture.find("prompts"));
  const torch::Tensor got = backbone.vit->features(*expected.find("pixels"), *vpt);
  EXPECT_LE((got - *fixture.find("pre_logits")).abs().max().item<double>(), 1e-4);
  // Without the prompts in the pool the readout differs.
  auto without = test::attached("vpt-deep", {{"prompts", 3}}, backbone.vit);
  without->trainable().front().second.copy_(*fixture.find("prompts"));
  EXPECT_GT(
      (backbone.vit->features(*expected.find("pixels"), *without) - got).abs().max().item<double>(),
      1e-3);
}

}  // namespace
}  // namespace vpet::peft
