// export_checkpoint: a backbone written as safetensors, in each layout, loads
// back as the same model (weights, fingerprint, heads, eps) with the head it
// was given; what a layout's model cannot express is refused.
#include <gtest/gtest.h>

#include "../fixture_paths.h"
#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"
#include "vpet/model/export.h"

namespace {

using vpet::model::Backbone;

TEST(Export, RandomBackboneRoundTripsWithANewHead) {
  const Backbone b = vpet::model::load_backbone("random:width=40,depth=2,heads=5,patch=4,img=8");
  const torch::Tensor weight = torch::randn({3, 40}), bias = torch::randn({3});
  const vpet::io::TensorMap map = vpet::model::export_checkpoint(b.vit, weight, bias);
  EXPECT_EQ(map.metadata.at("num_heads"), "5");  // 40 is not a multiple of 64
  EXPECT_EQ(map.metadata.count("layer_norm_eps"), 0u);
  const std::string bytes = vpet::io::encode_safetensors(map);
  const Backbone back = vpet::model::import_backbone(
      vpet::io::decode_safetensors(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                   bytes.size(), "x"),
      "x");
  EXPECT_EQ(back.fingerprint, b.fingerprint);
  EXPECT_EQ(back.describe()["heads"], 5);
  EXPECT_EQ(back.describe()["classes"], 3);
  EXPECT_TRUE(torch::equal(back.vit->head->weight, weight));
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 8, 8});
  auto original = b.vit, loaded = back.vit;
  // The original has no head: its forward pass gives the pre-logits.
  EXPECT_TRUE(
      torch::allclose(loaded->forward(pixels),
                      torch::nn::functional::linear(original->forward(pixels), weight, bias)));
}

TEST(Export, HuggingFaceEpsIsRecordedAndTheOldHeadDropped) {
  const Backbone hf = vpet::model::load_backbone(vpet::test::kVit + "a_hf/model.safetensors");
  const vpet::io::TensorMap map = vpet::model::export_checkpoint(hf.vit, {}, {});
  EXPECT_FALSE(map.contains("head.weight"));
  const Backbone back = vpet::model::import_backbone(map, "x");
  EXPECT_EQ(back.describe()["ln_eps"], 1e-12);
  EXPECT_EQ(back.describe()["classes"], 0);
  EXPECT_EQ(back.fingerprint, hf.fingerprint);
}

TEST(Export, EveryLayoutLoadsBackAsTheSameModel) {
  const Backbone b = vpet::model::load_backbone("random:width=24,depth=2,heads=3,patch=4,img=8");
  const torch::Tensor weight = torch::randn({3, 24}), bias = torch::randn({3});
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 8, 8});
  auto original = b.vit;
  const torch::Tensor expected =
      torch::nn::functional::linear(original->forward(pixels), weight, bias);
  using vpet::model::Layout;
  for (Layout layout : {Layout::Timm, Layout::Torchvision, Layout::HuggingFace}) {
    const vpet::io::TensorMap map = vpet::model::export_checkpoint(b.vit, weight, bias, layout);
    // Each layout's own names: torchvision's state_dict, ViTForImageClassification's.
    const char* probe = layout == Layout::Timm          ? "blocks.1.attn.qkv.weight"
                        : layout == Layout::Torchvision ? "encoder.layers.encoder_layer_1."
                                                          "self_attention.in_proj_weight"
                                                        : "vit.encoder.layer.1.attention."
                                                          "attention.key.weight";
    EXPECT_TRUE(map.contains(probe)) << vpet::model::layout_name(layout);
    nlohmann::json config;
    // As read from the file: parsed numbers are unsigned.
    if (layout == Layout::HuggingFace) {
      config = nlohmann::json::parse(vpet::model::hf_vit_config(b.vit->config(), {}).dump());
    }
    const Backbone back = vpet::model::import_backbone(map, "x", {}, config);
    EXPECT_EQ(back.layout, layout);
    auto loaded = back.vit;
    EXPECT_TRUE(torch::allclose(loaded->forward(pixels), expected, 1e-5, 1e-5))
        << vpet::model::layout_name(layout);
  }
}

TEST(Export, ALayoutThatCannotExpressTheModelIsRefused) {
  const Backbone hf = vpet::model::load_backbone(vpet::test::kVit + "a_hf/model.safetensors");
  try {
    vpet::model::export_checkpoint(hf.vit, {}, {}, vpet::model::Layout::Torchvision);
    ADD_FAILURE() << "written";
  } catch (const vpet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot express LayerNorm eps 1e-12"), std::string::npos)
        << e.what();
  }
}

}  // namespace
