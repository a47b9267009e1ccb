// timm_checkpoint: a backbone written as safetensors loads back as the same
// model (weights, fingerprint, heads, eps) with the head it was given.
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
  const vpet::io::TensorMap map = vpet::model::timm_checkpoint(b.vit, weight, bias);
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
  const vpet::io::TensorMap map = vpet::model::timm_checkpoint(hf.vit, {}, {});
  EXPECT_FALSE(map.contains("head.weight"));
  const Backbone back = vpet::model::import_backbone(map, "x");
  EXPECT_EQ(back.describe()["ln_eps"], 1e-12);
  EXPECT_EQ(back.describe()["classes"], 0);
  EXPECT_EQ(back.fingerprint, hf.fingerprint);
}

}  // namespace
