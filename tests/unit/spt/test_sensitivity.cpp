// SPT's sensitivity against a brute-force computation of the same criterion:
// Σ_b (∂L_b/∂w)² with each ∂L_b/∂w a central finite difference of the batch
// loss in double precision, for entries of every kind of candidate; and
// every entry against autograd on the unsplit parameters.
#include <gtest/gtest.h>

#include "../fixture_paths.h"
#include "vpet/error.h"
#include "vpet/model/checkpoint.h"
#include "vpet/spt/sensitivity.h"
#include "vpet/train/head.h"

namespace vpet::spt {
namespace {

struct Batches {
  std::vector<torch::Tensor> pixels, labels;
};

Batches random_batches(const model::VitConfig& config) {
  torch::Generator generator = at::detail::createCPUGenerator(5);
  Batches batches;
  for (int b = 0; b < 2; ++b) {
    batches.pixels.push_back(
        torch::randn({4, 3, config.img_size[0], config.img_size[1]}, generator));
    batches.labels.push_back(torch::randint(0, 3, {4}, generator, torch::kInt64));
  }
  return batches;
}

double batch_loss(model::VisionTransformer& vit, torch::nn::Linear& head,
                  const torch::Tensor& pixels, const torch::Tensor& labels) {
  model::ForwardHooks frozen;
  const torch::Tensor logits = head->forward(vit->features(pixels, frozen));
  return torch::nn::functional::cross_entropy(logits, labels).item<double>();
}

class SptSensitivity : public ::testing::Test {
 protected:
  SptSensitivity() {
    torch::Generator generator = at::detail::createCPUGenerator(11);
    Sensitivity sensitivity(backbone.vit,
                            train::make_head(backbone.vit->config().width, 3, generator),
                            /*drop_path=*/0.0);
    for (std::size_t b = 0; b < batches.pixels.size(); ++b) {
      sensitivity.add_batch(batches.pixels[b], batches.labels[b]);
    }
    scores = sensitivity.scores();
    candidates = sensitivity.candidates();
  }

  model::Backbone backbone = model::load_backbone(test::kTinyVit);
  Batches batches = random_batches(backbone.vit->config());
  torch::Tensor scores;
  std::vector<peft::spt::Candidate> candidates;
};

TEST(SptSensitivityHead, RefusesAHeadOfAnotherWidth) {
  model::Backbone backbone = model::load_backbone(test::kTinyVit);
  torch::Generator generator = at::detail::createCPUGenerator(1);
  torch::nn::Linear head = train::make_head(backbone.vit->config().width + 1, 3, generator);
  EXPECT_THROW(Sensitivity(backbone.vit, head, 0.0), Error);
}

TEST_F(SptSensitivity, EqualsFiniteDifferencesOfTheBatchLoss) {
  model::Backbone twin = model::load_backbone(test::kTinyVit);
  twin.vit->to(torch::kFloat64);
  torch::Generator generator = at::detail::createCPUGenerator(11);
  torch::nn::Linear head = train::make_head(twin.vit->config().width, 3, generator);
  head->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0, checked = 0;
  for (const peft::spt::Candidate& candidate : candidates) {
    torch::Tensor flat = candidate.value(*twin.vit).view({-1});
    // The first, the middle and the last entry of every candidate.
    for (std::int64_t i : {std::int64_t(0), candidate.numel() / 2, candidate.numel() - 1}) {
      double expected = 0.0;
      const double h = 1e-5, saved = flat[i].item<double>();
      for (std::size_t b = 0; b < batches.pixels.size(); ++b) {
        const torch::Tensor pixels = batches.pixels[b].to(torch::kFloat64);
        flat[i].fill_(saved + h);
        const double up = batch_loss(twin.vit, head, pixels, batches.labels[b]);
        flat[i].fill_(saved - h);
        const double down = batch_loss(twin.vit, head, pixels, batches.labels[b]);
        flat[i].fill_(saved);
        const double gradient = (up - down) / (2 * h);
        expected += gradient * gradient;
      }
      const double got = scores[offset + i].item<double>();
      EXPECT_NEAR(got, expected, 1e-3 * expected + 1e-9) << candidate.name << "[" << i << "]";
      ++checked;
    }
    offset += candidate.numel();
  }
  EXPECT_EQ(checked, 3 * 34);
}

TEST_F(SptSensitivity, EqualsAutogradOnTheFusedParameters) {
  model::Backbone twin = model::load_backbone(test::kTinyVit);
  torch::Generator generator = at::detail::createCPUGenerator(11);
  torch::nn::Linear head = train::make_head(twin.vit->config().width, 3, generator);
  std::vector<torch::Tensor> parameters;
  for (auto& parameter : twin.vit->parameters()) {
    parameter.requires_grad_(true);
    parameters.push_back(parameter);
  }
  std::vector<torch::Tensor> sums(parameters.size());
  for (std::size_t b = 0; b < batches.pixels.size(); ++b) {
    model::ForwardHooks frozen;
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        head->forward(twin.vit->features(batches.pixels[b], frozen)), batches.labels[b]);
    const auto grads = torch::autograd::grad({loss}, parameters, {}, false, false, true);
    for (std::size_t p = 0; p < parameters.size(); ++p) {
      if (!grads[p].defined()) continue;
      sums[p] = sums[p].defined() ? sums[p] + grads[p].square() : grads[p].square();
    }
  }
  // The candidate layout written out by hand: per block norm1, q, k, v (rows
  // of qkv), proj, norm2, fc1, fc2; then the final norm.
  std::vector<torch::Tensor> expected;
  const auto named = twin.vit->named_parameters();
  auto sum_of = [&](const std::string& name) {
    for (std::size_t p = 0; p < parameters.size(); ++p) {
      if (parameters[p].is_same(named[name])) return sums[p].flatten();
    }
    return torch::Tensor();
  };
  for (int i = 0; i < 2; ++i) {
    const std::string block = "blocks." + std::to_string(i) + ".";
    expected.push_back(sum_of(block + "norm1.weight"));
    expected.push_back(sum_of(block + "norm1.bias"));
    const torch::Tensor qkv_w = sum_of(block + "attn.qkv.weight").view({3, -1});
    const torch::Tensor qkv_b = sum_of(block + "attn.qkv.bias").view({3, -1});
    for (int part = 0; part < 3; ++part) {
      expected.push_back(qkv_w[part]);
      expected.push_back(qkv_b[part]);
    }
    for (const char* name : {"attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                             "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}) {
      expected.push_back(sum_of(block + name));
    }
  }
  expected.push_back(sum_of("norm.weight"));
  expected.push_back(sum_of("norm.bias"));
  const torch::Tensor reference = torch::cat(expected);
  ASSERT_EQ(reference.numel(), scores.numel());
  EXPECT_TRUE(torch::allclose(scores, reference, 1e-4, 1e-12));
}

TEST_F(SptSensitivity, LeavesTheBackboneFrozen) {
  for (const auto& parameter : backbone.vit->parameters()) {
    EXPECT_FALSE(parameter.requires_grad());
    EXPECT_FALSE(parameter.grad().defined());
  }
}

}  // namespace
}  // namespace vpet::spt
