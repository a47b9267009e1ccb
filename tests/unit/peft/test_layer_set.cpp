// --layers (peft's layers_to_transform): the text and JSON forms, their
// errors, and what each method does outside the set: LoRA, DoRA and Adapter
// put nothing there, VPT-deep inserts before the first listed block and
// replaces only before the later listed ones.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/layer_set.h"

namespace vpet::peft {
namespace {

using model::Site;

LayerSet layer_set(const nlohmann::json& layers) {
  nlohmann::json config = nlohmann::json::object();
  config["layers"] = layers;
  return LayerSet(Settings(config));
}

std::vector<std::int64_t> blocks_of(const nlohmann::json& layers, std::int64_t depth = 12) {
  return layer_set(layers).blocks(depth);
}

TEST(LayerSet, ReadsNumbersAndRangesAsTextOrJson) {
  EXPECT_EQ(blocks_of("6-11"), (std::vector<std::int64_t>{6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(blocks_of("4-5,0,2"), (std::vector<std::int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(blocks_of(nlohmann::json::array({3, 1})), (std::vector<std::int64_t>{1, 3}));
  EXPECT_EQ(blocks_of("all", 3), (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_TRUE(LayerSet(Settings(nlohmann::json::object())).all());
  EXPECT_TRUE(layer_set("all").all());
  // A subset is recorded (sorted), every block is not: older bundles mean every block.
  nlohmann::json config = nlohmann::json::object();
  layer_set("2,1").add_to(config);
  EXPECT_EQ(config.at("layers"), nlohmann::json::array({1, 2}));
  nlohmann::json all = nlohmann::json::object();
  layer_set("all").add_to(all);
  EXPECT_FALSE(all.contains("layers"));
}

TEST(LayerSet, RefusesWhatIsNoSetOfBlocks) {
  for (const nlohmann::json& bad :
       {nlohmann::json("11-6"), nlohmann::json("x"), nlohmann::json(""), nlohmann::json("1,,2"),
        nlohmann::json("1,"), nlohmann::json("-1"), nlohmann::json("3,3"), nlohmann::json("1-2,2"),
        nlohmann::json::array(), nlohmann::json::array({-1}), nlohmann::json::array({"1"}),
        nlohmann::json(7), nlohmann::json("99999999")}) {
    try {
      layer_set(bad);
      ADD_FAILURE() << bad.dump() << " accepted";
    } catch (const SettingError& e) {
      EXPECT_EQ(e.key, "layers") << bad.dump();
      EXPECT_NE(std::string(e.what()).find("--layers"), std::string::npos) << e.what();
    }
  }
  const LayerSet past = layer_set("10-12");
  try {
    past.check(12);
    ADD_FAILURE() << "block 12 of a 12-block model accepted";
  } catch (const SettingError& e) {
    EXPECT_NE(std::string(e.what()).find("names block 12, but the model has 12 blocks (0..11)"),
              std::string::npos)
        << e.what();
  }
}

TEST(LayerSet, LoraDoraAndAdapterAdaptOnlyTheListedBlocks) {
  model::Backbone backbone = test::tiny_backbone();  // 2 blocks
  for (const std::string name : {"lora", "dora", "adapter"}) {
    auto every = test::attached(name, nlohmann::json::object(), backbone.vit);
    auto second = test::attached(name, {{"layers", "1"}}, backbone.vit);
    EXPECT_EQ(2 * second->parameter_count(), every->parameter_count()) << name;
    for (const auto& [tensor_name, tensor] : second->trainable()) {
      EXPECT_EQ(tensor_name.rfind("blocks.1.", 0), 0u) << name << " " << tensor_name;
    }
    EXPECT_EQ(second->config().at("layers"), nlohmann::json::array({1})) << name;
    // Block 0 is the frozen block whatever the trained tensors hold.
    torch::NoGradGuard no_grad;
    for (const auto& [tensor_name, tensor] : second->trainable()) tensor.normal_();
    const torch::Tensor x = torch::randn({2, 5, 48}), out = torch::randn({2, 5, 48});
    for (Site site : {Site::Q, Site::V, Site::O, Site::Mlp}) {
      EXPECT_TRUE(torch::equal(second->linear(0, site, x, out), out)) << name;
    }
    EXPECT_TRUE(torch::equal(second->block_output(0, x, out), out)) << name;
  }
  EXPECT_THROW(test::attached("lora", {{"layers", "2"}}, backbone.vit), SettingError);
}

TEST(LayerSet, VptDeepInsertsBeforeTheFirstListedBlockAndReplacesAtTheOthers) {
  model::Backbone backbone = test::tiny_backbone("b_timm.safetensors");  // 3 blocks, width 32
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 28, 28});
  const auto previous_output = [&](const test::Recorder& recorder, std::size_t block) {
    return backbone.vit->blocks[block - 1]->forward(recorder.inputs[block - 1]);
  };

  auto late = test::attached("vpt-deep", {{"prompts", 2}, {"layers", "1-2"}}, backbone.vit);
  const torch::Tensor late_prompts = late->trainable().front().second;
  ASSERT_EQ(late_prompts.sizes(), (std::vector<std::int64_t>{2, 2, 32}));
  EXPECT_EQ(late->parameter_count(), 2 * 2 * 32);
  test::Recorder recorder(*late);
  backbone.vit->features(pixels, recorder);
  EXPECT_EQ(recorder.inputs[0].size(1), 17);  // the class token and 16 patches
  const torch::Tensor before_1 = previous_output(recorder, 1);
  EXPECT_TRUE(torch::equal(recorder.inputs[1].narrow(1, 1, 2), late_prompts[0].expand({2, 2, 32})));
  EXPECT_TRUE(torch::equal(recorder.inputs[1].select(1, 0), before_1.select(1, 0)));
  EXPECT_TRUE(torch::equal(recorder.inputs[1].narrow(1, 3, 16), before_1.narrow(1, 1, 16)));
  EXPECT_TRUE(torch::equal(recorder.inputs[2].narrow(1, 1, 2), late_prompts[1].expand({2, 2, 32})));

  auto gap = test::attached("vpt-deep", {{"prompts", 2}, {"layers", "0,2"}}, backbone.vit);
  const torch::Tensor gap_prompts = gap->trainable().front().second;
  test::Recorder gapped(*gap);
  backbone.vit->features(pixels, gapped);
  EXPECT_TRUE(torch::equal(gapped.inputs[0].narrow(1, 1, 2), gap_prompts[0].expand({2, 2, 32})));
  // Block 1 is not listed: its prompt rows are block 0's outputs there.
  EXPECT_TRUE(torch::equal(gapped.inputs[1], previous_output(gapped, 1)));
  EXPECT_TRUE(torch::equal(gapped.inputs[2].narrow(1, 1, 2), gap_prompts[1].expand({2, 2, 32})));

  EXPECT_THROW(create_method("vpt-shallow", {{"layers", "1"}}), SettingError);
  EXPECT_NO_THROW(create_method("vpt-shallow", {{"layers", "all"}}));
}

}  // namespace
}  // namespace vpet::peft
