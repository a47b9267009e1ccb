// PGN on the tiny model: the reference parameter counts, learning (and the
// input-independent baseline), BatchNorm statistics kept in the structure,
// and the pixel-space library that reproduces the latent prompts.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/pgn.h"

namespace vpet::peft {
namespace {

const nlohmann::json kSmallPgn = {{"pgn_prompts", 4}, {"pgn_library", 16}, {"pgn_input_size", 32}};

std::int64_t count_on(std::int64_t width, std::int64_t prompts, std::int64_t library) {
  model::VitConfig config;
  config.img_size = {32, 32};
  config.width = width;
  config.depth = 1;
  config.heads = 4;
  config.mlp_hidden = 8;
  model::VisionTransformer vit(config);
  auto pgn = test::attached("pgn", {{"pgn_prompts", prompts}, {"pgn_library", library}}, vit);
  return pgn->parameter_count();
}

// The released code's torchvision.transforms.functional.resize(images, S)
// (pgn/pgn_models/tlpgn.py): the shorter side to S, the aspect kept; the
// expected sizes are torchvision 0.14's output shapes for these inputs.
TEST(Pgn, ResizesTheGeneratorsInputByTheShorterSide) {
  using Size = std::array<std::int64_t, 2>;
  EXPECT_EQ(generator_input_size(480, 640, 224), (Size{224, 298}));
  EXPECT_EQ(generator_input_size(640, 480, 224), (Size{298, 224}));
  EXPECT_EQ(generator_input_size(384, 384, 224), (Size{224, 224}));
  EXPECT_EQ(generator_input_size(32, 48, 32), (Size{32, 48}));
  EXPECT_EQ(generator_input_size(100, 333, 64), (Size{64, 213}));
}

TEST(Pgn, CountsTheReferenceConfigurations) {
  EXPECT_EQ(count_on(768, 16, 256), 1032304);  // CLIP ViT-B/32
  EXPECT_EQ(count_on(384, 16, 128), 620656);   // DINO ViT-S/16
  EXPECT_EQ(count_on(768, 16, 128), 669808);   // supervised ViT-B/32 (head apart)
  // g_θ(out) = 307,312 + 129·out, plus N·D.
  EXPECT_EQ(count_on(48, 3, 5), 307312 + 129 * 15 + 5 * 48);
}

TEST(Pgn, LearnsAndSoDoesTheFixedBaseline) {
  test::expect_learns("pgn", kSmallPgn);
  test::expect_learns("pgn", {{"pgn_fixed", true}, {"pgn_prompts", 4}});
}

TEST(Pgn, KeepsItsBatchNormStatisticsInTheStructure) {
  model::Backbone backbone = test::tiny_backbone();
  auto pgn = test::attached("pgn", kSmallPgn, backbone.vit);
  const NamedTensors before = test::cloned(pgn->structure());
  test::train_colour_task(*pgn, backbone.vit, 3);
  const NamedTensors after = pgn->structure();
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after.front().first, "generator.stem_bn.running_mean");
  EXPECT_FALSE(torch::equal(after.front().second, before.front().second));
  EXPECT_THROW(pgn->restore_structure({{"library", torch::zeros({1})}}), Error);
}

TEST(Pgn, PixelLibraryGivesTheLatentPromptsThroughThePatchEmbedding) {
  model::Backbone backbone = test::tiny_backbone();
  model::VisionTransformer& vit = backbone.vit;
  auto latent = test::attached("pgn", kSmallPgn, vit);
  test::train_colour_task(*latent, vit, 5);

  // The inversion, written out: Q = (L − b) W⁺ᵀ, W the [48, 3·8·8] patch embedding.
  torch::NoGradGuard no_grad;
  const auto& proj = vit->patch_embed->proj;
  const torch::Tensor w = proj->weight.to(torch::kFloat64).flatten(1);
  const torch::Tensor b = proj->bias.to(torch::kFloat64);
  NamedTensors tensors = test::cloned(latent->trainable());
  for (auto& [name, tensor] : tensors) {
    if (name != "library") continue;
    const torch::Tensor pixels =
        torch::matmul(tensor.to(torch::kFloat64) - b, torch::linalg_pinv(w).t());
    EXPECT_LT((torch::matmul(pixels, w.t()) + b - tensor).abs().max().item<double>(), 1e-4);
    name = "pixel_library";
    tensor = pixels.to(torch::kFloat32).view({16, 3, 8, 8});
  }
  nlohmann::json config = latent->config();
  config["pgn_pixels"] = true;
  auto deployed = create_method("pgn", config);
  deployed->restore_structure(latent->structure());
  torch::Generator generator = at::detail::createCPUGenerator(1);
  deployed->attach(vit, generator);
  deployed->load(tensors);
  deployed->set_training(false);
  latent->set_training(false);
  const torch::Tensor pixels = test::colour_task(4, vit->config().img_size, 9).pixels;
  EXPECT_TRUE(
      torch::allclose(vit->features(pixels, *deployed), vit->features(pixels, *latent), 0.0, 1e-4));
}

// pgn_rgb8: each image's mixed prompt patches are clipped and rounded to
// 8-bit RGB after the mixing, then embedded. With a library of one token the
// mixture is that token exactly (softmax of one logit), so the sent prompt
// can be written out: conv(((Q·std + mean).clamp(0, 1)·255).round()/255 −
// mean)/std).
TEST(Pgn, EightBitPromptsAreQuantisedAfterTheMixing) {
  model::Backbone backbone = test::tiny_backbone();
  model::VisionTransformer& vit = backbone.vit;
  const torch::Tensor mean = torch::tensor({0.485, 0.456, 0.406}, torch::kFloat32);
  const torch::Tensor spread = torch::tensor({0.229, 0.224, 0.225}, torch::kFloat32);
  const nlohmann::json config = {{"pgn_prompts", 2},
                                 {"pgn_library", 1},
                                 {"pgn_input_size", 32},
                                 {"pgn_pixels", true},
                                 {"pgn_rgb8", true}};
  auto pgn = create_method("pgn", config);
  pgn->restore_structure({{"pixel_mean", mean}, {"pixel_std", spread}});
  torch::Generator generator = at::detail::createCPUGenerator(3);
  pgn->attach(vit, generator);
  pgn->set_training(false);
  torch::NoGradGuard no_grad;
  const torch::Tensor library = test::named(*pgn, "pixel_library");
  library.normal_(0.0, 1.5);  // some values fall outside [0, 1] as RGB
  const torch::Tensor pixels = torch::randn({3, 3, 32, 32}), x = torch::randn({3, 17, 48});
  pgn->pixels(pixels);
  const torch::Tensor prompts = pgn->tokens(x).narrow(1, 17, 2);
  const torch::Tensor rgb = library * spread.view({1, 3, 1, 1}) + mean.view({1, 3, 1, 1});
  const torch::Tensor sent = ((rgb.clamp(0, 1) * 255.0).round() / 255.0 - mean.view({1, 3, 1, 1})) /
                             spread.view({1, 3, 1, 1});
  const auto& proj = vit->patch_embed->proj;
  const torch::Tensor expected = torch::conv2d(sent, proj->weight, proj->bias, 8).flatten(1);
  EXPECT_TRUE(torch::allclose(prompts, expected.expand({3, 2, 48}), 1e-5, 1e-5));
  const torch::Tensor exact = torch::conv2d(library, proj->weight, proj->bias, 8).flatten(1);
  EXPECT_NEAR(pgn->diagnostics().at("pgn_rgb8_max_abs_error").get<double>(),
              (expected - exact).abs().max().item<double>(), 1e-5);
  // Without its normalisation the 8-bit library is refused.
  auto bare = create_method("pgn", config);
  EXPECT_THROW(bare->attach(vit, generator), Error);
  EXPECT_THROW(create_method("pgn", {{"pgn_rgb8", true}}), SettingError);
}

}  // namespace
}  // namespace vpet::peft
