// Full fine-tuning: every backbone parameter but the checkpoint's own head
// is trained, under "backbone.<name>"; tokens count as prompts for decay.
#include <gtest/gtest.h>

#include "../fixture_paths.h"

#include "vpet/model/checkpoint.h"
#include "vpet/peft/registry.h"

namespace {

using vpet::test::kTinyVit;

TEST(Full, TrainsEveryBackboneParameterButTheHead) {
  vpet::model::Backbone backbone = vpet::model::load_backbone(kTinyVit);
  auto method = vpet::peft::create_method("full");
  torch::Generator generator = at::detail::createCPUGenerator(0);
  method->attach(backbone.vit, generator);
  const std::int64_t head = backbone.vit->head->weight.numel() + backbone.vit->head->bias.numel();
  EXPECT_EQ(method->parameter_count(), backbone.parameter_count() - head);
  for (const auto& [name, tensor] : method->trainable()) {
    EXPECT_EQ(name.rfind("backbone.", 0), 0u) << name;
    EXPECT_TRUE(tensor.requires_grad()) << name;
  }
  EXPECT_FALSE(backbone.vit->head->weight.requires_grad());
  EXPECT_TRUE(method->is_prompt("backbone.pos_embed"));
  EXPECT_TRUE(method->is_prompt("backbone.cls_token"));
  EXPECT_FALSE(method->decays("backbone.cls_token", backbone.vit->cls_token));
  EXPECT_TRUE(method->decays("backbone.blocks.0.attn.qkv.weight",
                             backbone.vit->blocks[0]->attn->qkv->weight));
  EXPECT_TRUE(method->changes_backbone_features());
}

}  // namespace
