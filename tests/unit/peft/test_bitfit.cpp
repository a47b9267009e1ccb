// BitFit: every bias of the backbone (LayerNorm's included), nothing else.
#include <gtest/gtest.h>

#include "../fixture_paths.h"

#include "vpet/model/checkpoint.h"
#include "vpet/peft/registry.h"

namespace {

using vpet::test::kTinyVit;

TEST(BitFit, TrainsExactlyTheBiases) {
  vpet::model::Backbone backbone = vpet::model::load_backbone(kTinyVit);
  auto method = vpet::peft::create_method("bitfit");
  torch::Generator generator = at::detail::createCPUGenerator(0);
  method->attach(backbone.vit, generator);
  // Per block (width 48, MLP 96): qkv 144 + proj 48 + fc1 96 + fc2 48 +
  // norm1 48 + norm2 48; then the final norm 48 and the patch embedding 48.
  EXPECT_EQ(method->parameter_count(), 2 * (144 + 48 + 96 + 48 + 48 + 48) + 48 + 48);
  std::int64_t biases = 0;
  for (const auto& item : backbone.vit->named_parameters()) {
    const std::string& name = item.key();
    const bool bias = name.size() > 5 && name.substr(name.size() - 5) == ".bias";
    if (bias && name.rfind("head.", 0) != 0) biases += item.value().numel();
    EXPECT_EQ(item.value().requires_grad(), bias && name.rfind("head.", 0) != 0) << name;
  }
  EXPECT_EQ(method->parameter_count(), biases);
  for (const auto& [name, tensor] : method->trainable()) {
    EXPECT_FALSE(method->decays(name, tensor)) << name;  // 1-D
  }
}

}  // namespace
