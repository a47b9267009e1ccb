// preprocessor_config.json read as vpet's preprocessing defaults, with the
// values the hub's processors ship (facebook/dinov2-base, openai/clip-vit-base-patch16,
// google/vit-base-patch16-224), and the activations config.json names.
#include <gtest/gtest.h>

#include <cmath>

#include "vpet/error.h"
#include "vpet/model/config.h"
#include "vpet/model/hf_snapshot.h"
#include "vpet/model/vit.h"

namespace vpet::model {
namespace {

TEST(PreprocessDefaults, BitImageProcessorIsAShorterSideResizeAndACentreCrop) {
  const auto d = preprocess_defaults(nlohmann::json::parse(R"({
      "do_resize": true, "size": {"shortest_edge": 256}, "resample": 3,
      "do_center_crop": true, "crop_size": {"height": 224, "width": 224},
      "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]})"),
                                     "p.json");
  EXPECT_EQ(*d.size, 224);
  EXPECT_EQ(*d.resize, "crop");
  EXPECT_EQ(std::floor(224 / *d.crop_fraction), 256);  // vpet's (timm's) scale size
  EXPECT_EQ(*d.interp, "bicubic");
  EXPECT_FLOAT_EQ((*d.std)[2], 0.225f);
}

TEST(PreprocessDefaults, TheCropFractionGivesTheShortestEdgeExactly) {
  for (int edge = 225; edge < 400; ++edge) {
    nlohmann::json config = {
        {"size", {{"shortest_edge", edge}}}, {"do_center_crop", true}, {"crop_size", 224}};
    EXPECT_EQ(std::floor(224 / *preprocess_defaults(config, "p.json").crop_fraction), edge);
  }
}

TEST(PreprocessDefaults, ViTImageProcessorSquashesBilinearly) {
  const auto d = preprocess_defaults(nlohmann::json::parse(R"({
      "size": {"height": 224, "width": 224}, "resample": 2,
      "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})"),
                                     "p.json");
  EXPECT_EQ(*d.resize, "squash");
  EXPECT_EQ(*d.interp, "bilinear");
  EXPECT_FLOAT_EQ((*d.mean)[0], 0.5f);
}

TEST(PreprocessDefaults, WhatVpetCannotDoIsANoteAndBadValuesNameTheKey) {
  const auto d = preprocess_defaults(
      nlohmann::json::parse(R"({"resample": 1, "do_normalize": false})"), "p.json");
  EXPECT_FALSE(d.interp);
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_NE(d.notes[0].find("lanczos"), std::string::npos);
  EXPECT_FLOAT_EQ((*d.std)[1], 1.0f);
  try {
    preprocess_defaults(nlohmann::json::parse(R"({"image_mean": [0.5, "x", 0.5]})"), "p.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("p.json: image_mean"), std::string::npos);
  }
  EXPECT_THROW(preprocess_defaults(nlohmann::json::parse(R"({"size": -3})"), "p.json"), Error);
}

TEST(Activation, QuickGeluAndTheTanhApproximation) {
  const torch::Tensor x = torch::linspace(-4, 4, 17);
  EXPECT_TRUE(torch::allclose(activate(x, Activation::QuickGelu), x * torch::sigmoid(1.702 * x)));
  const torch::Tensor tanh_form =
      0.5 * x * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
  EXPECT_TRUE(torch::allclose(activate(x, Activation::GeluTanh), tanh_form, 1e-6, 1e-6));
  EXPECT_EQ(parse_activation("quick-gelu", "--act"), Activation::QuickGelu);
  EXPECT_THROW(parse_activation("relu", "--act"), UsageError);
}

}  // namespace
}  // namespace vpet::model
