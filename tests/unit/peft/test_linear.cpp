// Linear probing: no tensors of its own, features unchanged (cacheable).
#include <gtest/gtest.h>

#include "vpet/model/checkpoint.h"
#include "vpet/peft/registry.h"

namespace {

TEST(Linear, TrainsNothingOfTheBackbone) {
  vpet::model::Backbone backbone =
      vpet::model::load_backbone(std::string(VPET_FIXTURES) + "/vit/a_timm.safetensors");
  auto method = vpet::peft::create_method("linear", {{"rank", 4}});  // unknown keys ignored
  torch::Generator generator = at::detail::createCPUGenerator(0);
  method->attach(backbone.vit, generator);
  EXPECT_EQ(method->parameter_count(), 0);
  EXPECT_TRUE(method->trainable().empty());
  EXPECT_FALSE(method->changes_backbone_features());
  for (const auto& item : backbone.vit->named_parameters()) {
    EXPECT_FALSE(item.value().requires_grad()) << item.key();
  }
  // The hooks are the identity: the features are the frozen model's.
  torch::NoGradGuard no_grad;
  const torch::Tensor pixels = torch::randn({2, 3, 32, 32});
  vpet::model::ForwardHooks identity;
  EXPECT_TRUE(torch::equal(backbone.vit->features(pixels, *method),
                           backbone.vit->features(pixels, identity)));
}

}  // namespace
