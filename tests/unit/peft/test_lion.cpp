// LION on the tiny model: it learns in pixel and token space, starts as the
// frozen model, keeps masked weights at exactly zero, counts non-zeros, and
// lion-prune's pruning is exact.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/lion.h"
#include "vpet/peft/lion_prune.h"

namespace vpet::peft {
namespace {

const nlohmann::json kSmallLion = {
    {"lion_channels", 4}, {"lion_width", 32}, {"lion_token_width", 16}};

nlohmann::json small(nlohmann::json extra) {
  nlohmann::json config = kSmallLion;
  config.update(extra);
  return config;
}

TEST(Lion, LearnsInPixelAndTokenSpace) {
  test::expect_learns("lion", kSmallLion);
  test::expect_learns("lion", small({{"lion_input", "token"}}));
  test::expect_learns(
      "lion",
      small({{"lion_input", "none"}, {"lion_solver", "fixed"}, {"lion_grad", "phantom:3"}}));
}

// --lion-output-from image: the output layer's prompt is the equilibrium
// driven by the mean patch embedding of the image, whatever the backbone's
// feature.
TEST(Lion, TheOutputLayerCanBeDrivenByTheImage) {
  model::Backbone backbone = test::tiny_backbone();
  const nlohmann::json config = small({{"lion_input", "none"}, {"lion_output_from", "image"}});
  nlohmann::json exact = config;
  exact.update({{"lion_tol", 1e-10}, {"lion_max_iter", 200}});
  auto by_image = test::attached("lion", exact, backbone.vit);
  auto by_feature = test::attached("lion", small({{"lion_input", "none"}}), backbone.vit);
  EXPECT_TRUE(by_image->changes_backbone_features());  // it reads the pixels
  EXPECT_EQ(by_image->parameter_count(), by_feature->parameter_count());
  EXPECT_THROW(
      create_method("lion", small({{"lion_output", false}, {"lion_output_from", "image"}})),
      SettingError);
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : by_image->trainable()) tensor.normal_(0.0, 0.1);
  const torch::Tensor pixels = test::colour_task(2, backbone.vit->config().img_size, 5).pixels;
  by_image->pixels(pixels);
  const std::int64_t batch = pixels.size(0);
  const torch::Tensor a = torch::randn({batch, 48}), b = torch::randn({batch, 48});
  const torch::Tensor prompt = by_image->pooled(a) - a;
  EXPECT_TRUE(torch::allclose(by_image->pooled(b) - b, prompt, 1e-6, 1e-6));
  // The prompt solves u = tanh(u Wᵀ + ē Uᵀ + c), projected by V.
  const torch::Tensor drive = backbone.vit->patch_embed->forward(pixels).mean(1);
  const auto get = [&](const std::string& name) { return test::named(*by_image, name); };
  torch::Tensor w = get("output.recurrent.weight");
  w = w * std::min(1.0, 0.9 / torch::linalg_svdvals(w).max().item<double>());
  torch::Tensor u = torch::zeros({batch, 32});
  for (int k = 0; k < 200; ++k) {
    u = torch::tanh(torch::linear(u, w) + torch::linear(drive, get("output.injection.weight"),
                                                        get("output.injection.bias")));
  }
  EXPECT_TRUE(torch::allclose(prompt, torch::linear(u, get("output.prompt.weight")), 1e-5, 1e-6));
}

TEST(Lion, LearnsWithTheImageDrivenOutputLayer) {
  test::expect_learns("lion", small({{"lion_input", "none"}, {"lion_output_from", "image"}}));
}

TEST(Lion, StartsAsTheFrozenModelAndReportsItsSolves) {
  model::Backbone backbone = test::tiny_backbone();
  auto lion = test::attached("lion", kSmallLion, backbone.vit);
  const torch::Tensor pixels = test::colour_task(2, backbone.vit->config().img_size, 5).pixels;
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(backbone.vit->features(pixels, *lion),
                              test::frozen_features(backbone.vit, pixels)));
  const nlohmann::json report = lion->diagnostics();
  EXPECT_LT(report.at("lion_input_residual").get<double>(), 1e-3);
  EXPECT_GT(report.at("lion_output_evaluations").get<std::int64_t>(), 0);
  EXPECT_FALSE(report.contains("warning"));
}

TEST(Lion, MaskedWeightsStayZeroAndAreNotCounted) {
  model::Backbone backbone = test::tiny_backbone();
  auto probe = test::attached("lion", kSmallLion, backbone.vit);
  NamedTensors masks;
  std::int64_t masked = 0;
  torch::manual_seed(1);
  for (const auto& [name, weight] : dynamic_cast<Lion&>(*probe).prunable()) {
    const torch::Tensor mask = torch::rand(weight.sizes()) > 0.3;
    masked += mask.numel() - mask.sum().item<std::int64_t>();
    masks.emplace_back(Lion::kMaskPrefix + name, mask.to(torch::kUInt8));
  }
  auto lion = create_method("lion", kSmallLion);
  lion->restore_structure(masks);
  torch::Generator generator = at::detail::createCPUGenerator(0);
  lion->attach(backbone.vit, generator);
  EXPECT_EQ(lion->parameter_count(), probe->parameter_count() - masked);
  test::train_colour_task(*lion, backbone.vit, 10);
  const NamedTensors weights = dynamic_cast<Lion&>(*lion).prunable();
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const torch::Tensor pruned = masks[i].second.eq(0);
    EXPECT_TRUE(weights[i].second.masked_select(pruned).eq(0).all().item<bool>())
        << weights[i].first;
    // The survivors trained (the prompt weights started at zero, too).
    EXPECT_TRUE(weights[i].second.masked_select(pruned.logical_not()).ne(0).any().item<bool>());
  }
  EXPECT_EQ(lion->structure().size(), masks.size());
}

TEST(Lion, ThresholdedRegularisationPrunesWhenTrainingEnds) {
  model::Backbone backbone = test::tiny_backbone();
  auto lion = test::attached(
      "lion", small({{"lion_prune_reg", 1e-2}, {"lion_prune_sparsity", 0.4}}), backbone.vit);
  test::train_colour_task(*lion, backbone.vit, 5);
  const std::int64_t dense = lion->parameter_count();
  lion->finish_training();
  std::int64_t pruned = 0;
  for (const auto& [name, weight] : dynamic_cast<Lion&>(*lion).prunable()) {
    pruned += std::llround(0.4 * double(weight.numel()));
    EXPECT_TRUE(weight.ne(0).any().item<bool>()) << name;  // no weight pruned away
  }
  EXPECT_EQ(dense - lion->parameter_count(), pruned);
  EXPECT_FALSE(lion->structure().empty());
}

// Variant B's pull, written out: before the step each prunable weight's
// gradient gains λ·sign(w) at its lion_prune_sparsity fraction of smallest
// |w| (the entries lion-prune --scope layer would prune), and nothing
// elsewhere; biases are not pulled.
TEST(Lion, TheRegulariserPullsExactlyTheSmallestWeightsTowardZero) {
  model::Backbone backbone = test::tiny_backbone();
  const double lambda = 0.25;
  auto lion = test::attached(
      "lion", small({{"lion_prune_reg", lambda}, {"lion_prune_sparsity", 0.3}}), backbone.vit);
  for (const auto& [name, tensor] : lion->trainable()) {
    torch::NoGradGuard no_grad;
    tensor.normal_();  // distinct magnitudes, so the smallest 30% are one set
    tensor.mutable_grad() = torch::zeros_like(tensor);
  }
  lion->before_step();
  const auto prunable = dynamic_cast<Lion&>(*lion).prunable();
  for (const auto& [name, weight] : prunable) {
    const auto count = std::int64_t(std::llround(0.3 * double(weight.numel())));
    const torch::Tensor magnitude = weight.detach().abs().flatten();
    const torch::Tensor threshold = std::get<0>(magnitude.kthvalue(count));
    const torch::Tensor smallest = (magnitude <= threshold).view(weight.sizes());
    const torch::Tensor expected = lambda * weight.detach().sign() * smallest.to(torch::kFloat);
    EXPECT_TRUE(torch::allclose(weight.grad(), expected)) << name;
    EXPECT_EQ(weight.grad().ne(0).sum().item<std::int64_t>(), count) << name;
  }
  for (const auto& [name, tensor] : lion->trainable()) {
    if (name.find(".bias") != std::string::npos) {
      EXPECT_EQ(tensor.grad().count_nonzero().item<std::int64_t>(), 0) << name;
    }
  }
}

Bundle lion_bundle() {
  Bundle bundle;
  bundle.method = "lion";
  torch::manual_seed(3);
  // Ties on purpose: values from a small set.
  bundle.tensors = {
      {"input.recurrent.weight", torch::randint(-5, 6, {4, 4, 3, 3}).to(torch::kFloat)},
      {"input.injection.weight", torch::randint(-5, 6, {4, 3, 3, 3}).to(torch::kFloat)},
      {"input.injection.bias", torch::randn({4})},
      {"input.prompt.weight", torch::randint(-5, 6, {3, 4, 1, 1}).to(torch::kFloat)},
      {"output.recurrent.weight", torch::randint(-5, 6, {8, 8}).to(torch::kFloat)},
      {"output.injection.weight", torch::randint(-5, 6, {8, 6}).to(torch::kFloat)},
      {"output.injection.bias", torch::randn({8})},
      {"output.prompt.weight", torch::randint(-5, 6, {6, 8}).to(torch::kFloat)}};
  return bundle;
}

std::int64_t zeros_in(const Bundle& bundle, const std::string& name) {
  for (const auto& [tensor_name, tensor] : bundle.tensors) {
    if (tensor_name == name) return tensor.numel() - tensor.count_nonzero().item<std::int64_t>();
  }
  return -1;
}

TEST(LionPrune, SparsityIsExactAndEarlierRoundsStayPruned) {
  Bundle bundle = lion_bundle();
  const std::int64_t weights = 144 + 108 + 12 + 64 + 48 + 48;
  PruneReport report = prune_lion_bundle(bundle, 0.5, PruneScope::Global);
  EXPECT_EQ(report.weights, weights);
  EXPECT_EQ(report.pruned, weights / 2);
  const Bundle first = bundle;
  report = prune_lion_bundle(bundle, 0.8, PruneScope::Global);
  EXPECT_EQ(report.pruned, std::llround(0.8 * weights));
  EXPECT_EQ(report.newly_pruned, std::llround(0.8 * weights) - weights / 2);
  // Whatever round 1 pruned is still pruned; biases are never pruned.
  for (std::size_t i = 0; i < bundle.structure.size(); ++i) {
    EXPECT_TRUE((bundle.structure[i].second <= first.structure[i].second).all().item<bool>());
  }
  EXPECT_EQ(zeros_in(bundle, "input.injection.bias"), 0);
  EXPECT_THROW(prune_lion_bundle(bundle, 0.5, PruneScope::Global), Error);

  Bundle per_layer = lion_bundle();
  prune_lion_bundle(per_layer, 0.25, PruneScope::Layer);
  EXPECT_GE(zeros_in(per_layer, "output.recurrent.weight"), 16);
  for (const auto& [name, mask] : per_layer.structure) {
    EXPECT_EQ(mask.numel() - mask.sum().item<std::int64_t>(), std::llround(0.25 * mask.numel()))
        << name;
  }
  Bundle other = lion_bundle();
  other.method = "lora";
  EXPECT_THROW(prune_lion_bundle(other, 0.5, PruneScope::Global), Error);
}

}  // namespace
}  // namespace vpet::peft
