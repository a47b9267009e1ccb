// The decisive test: vpet's ViT, loaded from each key layout, against the
// outputs torchvision computed for the same weights
// (tests/fixtures/make_vit_fixtures.py; the .npz files from make_npz_fixtures.py). Config c, which
// torchvision cannot express, is checked against a transcription of timm's forward.
#include <gtest/gtest.h>

#include "../fixture_paths.h"

#include <iostream>
#include <string>

#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"

namespace {

using vpet::io::TensorMap;
using vpet::model::Backbone;

using vpet::test::kVit;
constexpr double kTolerance = 1e-4;

const torch::Tensor& get(const TensorMap& map, const std::string& name) {
  const torch::Tensor* t = map.find(name);
  if (!t) throw std::runtime_error("expected output '" + name + "' missing from the fixture");
  return *t;
}

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return (a - b).abs().max().item<double>();
}

struct Case {
  std::string file;
  std::string config;  // a, b, c
  std::string eps;     // e6, e12: which expected outputs apply
  bool has_head;
  bool has_images;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.file;
}

class Parity : public ::testing::TestWithParam<Case> {};

TEST_P(Parity, MatchesTheReference) {
  const Case& c = GetParam();
  const TensorMap expected =
      vpet::io::read_safetensors(kVit + "expected_" + c.config + ".safetensors");
  const Backbone backbone = vpet::model::load_backbone(kVit + c.file);
  auto vit = backbone.vit;
  const std::int64_t depth = vit->config().depth;
  const std::string e = c.eps + "/";

  torch::NoGradGuard no_grad;
  vpet::model::ExtractRequest request;
  for (std::int64_t i = 0; i <= depth; ++i) request.layers.push_back(i);
  request.pre_logits = request.patch_mean = request.logits = true;
  const torch::Tensor pixels = get(expected, "pixels");
  const auto out = vit->extract(pixels, request);

  double worst = 0;
  auto check = [&](const std::string& what, const torch::Tensor& got, const torch::Tensor& want) {
    const double err = max_abs(got, want);
    EXPECT_LE(err, kTolerance) << c.file << ": " << what;
    worst = std::max(worst, err);
  };
  for (std::int64_t i = 0; i <= depth; ++i) {
    check("layer " + std::to_string(i), out.layers[std::size_t(i)],
          get(expected, e + "layer." + std::to_string(i)));
  }
  check("pre_logits", out.pre_logits, get(expected, e + "pre_logits"));
  check("patch_mean", out.patch_mean, get(expected, e + "patch_mean"));
  // Without a head the logits are the pre-logits.
  const torch::Tensor want_logits =
      c.has_head ? get(expected, e + "logits") : get(expected, e + "pre_logits");
  check("logits", out.logits, want_logits);
  check("forward()", vit->forward(pixels), want_logits);
  if (c.has_images) {
    const auto images = vit->extract(get(expected, "image_pixels"), request);
    check("image pre_logits", images.pre_logits, get(expected, e + "image.pre_logits"));
    if (c.has_head) check("image logits", images.logits, get(expected, e + "image.logits"));
  }
  std::cout << "[ parity ] " << c.file << ": worst max-abs error " << worst << "\n";
}

INSTANTIATE_TEST_SUITE_P(Layouts, Parity,
                         ::testing::Values(Case{"a_torchvision.safetensors", "a", "e6", true, true},
                                           Case{"a_timm.safetensors", "a", "e6", true, true},
                                           Case{"a_hf/model.safetensors", "a", "e12", true, true},
                                           Case{"b_torchvision.safetensors", "b", "e6", true, true},
                                           Case{"b_timm.safetensors", "b", "e6", true, true},
                                           Case{"b_hf/model.safetensors", "b", "e12", false, true},
                                           Case{"c_timm.safetensors", "c", "e6", true, false},
                                           // Google's JAX layouts (make_npz_fixtures.py); the
                                           // pre_logits file's head goes with its pre_logits.
                                           Case{"a_jax.npz", "a", "e6", true, true},
                                           Case{"a_bigvision.npz", "a", "e6", true, true},
                                           Case{"a_jax_prelogits.npz", "a", "e6", false, true}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.file.substr(0, info.param.file.find('.'));
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

// Running at another input size resamples the position embedding once, as
// timm does; 48 upsamples the 4x4 grid, 16 downsamples it (antialiased).
TEST(ParityResampled, MatchesTimmStylePositionEmbedding) {
  const TensorMap expected = vpet::io::read_safetensors(kVit + "expected_a.safetensors");
  for (const std::string file : {"a_torchvision.safetensors", "a_timm.safetensors"}) {
    for (std::int64_t size : {48, 16}) {
      vpet::model::LoadOptions options;
      options.img_size = std::array<std::int64_t, 2>{size, size};
      const Backbone backbone = vpet::model::load_backbone(kVit + file, options);
      EXPECT_EQ(backbone.vit->config().img_size[0], size);
      torch::NoGradGuard no_grad;
      vpet::model::ExtractRequest request;
      request.pre_logits = request.logits = true;
      const std::string s = std::to_string(size);
      auto vit = backbone.vit;
      const auto out = vit->extract(get(expected, "pixels_" + s), request);
      const double err =
          std::max(max_abs(out.pre_logits, get(expected, "e6/size" + s + ".pre_logits")),
                   max_abs(out.logits, get(expected, "e6/size" + s + ".logits")));
      EXPECT_LE(err, kTolerance) << file << " at " << size;
      std::cout << "[ parity ] " << file << " at " << size << "x" << size
                << ": worst max-abs error " << err << "\n";
    }
  }
}

}  // namespace
