// SSF: a scale and a shift after each operation the released code names
// (dongzelian/SSF, models/vision_transformer.py), under its parameter names,
// 2·(2D + L·(7D + H)) of them, drawn N(1, .02) and N(0, .02); learns.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/ssf.h"

namespace vpet::peft {
namespace {

using model::NormSite;
using model::Site;

TEST(Ssf, CountsTwoVectorsPerOperationUnderTheReleasedNames) {
  model::Backbone backbone = test::tiny_backbone();
  const auto& c = backbone.vit->config();
  auto ssf = test::attached("ssf", nlohmann::json::object(), backbone.vit);
  EXPECT_EQ(ssf->parameter_count(), 2 * (2 * c.width + c.depth * (7 * c.width + c.mlp_hidden)));
  EXPECT_EQ(test::named(*ssf, "blocks.1.attn.ssf_scale_1").size(0), 3 * c.width);
  EXPECT_EQ(test::named(*ssf, "blocks.0.mlp.ssf_shift_1").size(0), c.mlp_hidden);
  torch::Tensor scales = torch::cat({test::named(*ssf, "blocks.0.mlp.ssf_scale_1"),
                                     test::named(*ssf, "blocks.1.mlp.ssf_scale_1")});
  EXPECT_NEAR(scales.mean().item<double>(), 1.0, 0.01);
  EXPECT_NEAR(scales.std().item<double>(), 0.02, 0.005);
  for (const auto& [name, tensor] : ssf->trainable()) EXPECT_FALSE(ssf->decays(name, tensor));
}

TEST(Ssf, ScalesAndShiftsEachOperationsOutput) {
  model::Backbone backbone = test::tiny_backbone();
  auto ssf = test::attached("ssf", nlohmann::json::object(), backbone.vit);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 5, 48}), out = torch::randn({2, 5, 48});
  // got against out · scale + shift of PREFIX"ssf_{scale,shift}_"INDEX, from channel start.
  const auto expect = [&](const torch::Tensor& got, const std::string& prefix,
                          const std::string& index, std::int64_t start) {
    const torch::Tensor scale =
        test::named(*ssf, prefix + "ssf_scale_" + index).narrow(0, start, 48);
    const torch::Tensor shift =
        test::named(*ssf, prefix + "ssf_shift_" + index).narrow(0, start, 48);
    EXPECT_TRUE(torch::allclose(got, out * scale + shift)) << prefix << index;
  };
  expect(ssf->linear(1, Site::K, x, out), "blocks.1.attn.", "1", 48);  // k: qkv's second third
  expect(ssf->linear(0, Site::O, x, out), "blocks.0.attn.", "2", 0);
  expect(ssf->linear(0, Site::Fc2, x, out), "blocks.0.mlp.", "2", 0);
  expect(ssf->norm(1, NormSite::Norm2, x, out), "blocks.1.", "2", 0);
  expect(ssf->norm(-1, NormSite::Final, x, out), "", "1", 0);
  expect(ssf->patches(out), "patch_embed.", "1", 0);
  EXPECT_TRUE(torch::equal(ssf->linear(0, Site::Mlp, x, out), out));
  // The patch tokens are scaled before the position embedding is added.
  const torch::Tensor pixels = torch::randn({2, 3, 32, 32});
  EXPECT_FALSE(torch::allclose(backbone.vit->features(pixels, *ssf),
                               test::frozen_features(backbone.vit, pixels), 1e-3, 1e-3));
}

TEST(Ssf, Learns) {
  test::expect_learns("ssf", nlohmann::json::object());
}

}  // namespace
}  // namespace vpet::peft
