// DoRA against its definition as Hugging Face peft computes it
// (tuners/lora/dora.py, DoraLinearLayer.forward): magnitudes start at W's
// row norms, the output is W' x + b with W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_r,
// the norm carries no gradient, and with dropout the adapted part sees the
// dropped-out input while the frozen W x + b keeps the clean one.
#include <gtest/gtest.h>

#include "method_test_support.h"
#include "vpet/peft/dora.h"

namespace vpet::peft {
namespace {

using model::Site;

TEST(DoRA, CountsLoRAAndOneMagnitudePerOutputRow) {
  model::Backbone backbone = test::tiny_backbone();
  const std::int64_t d = 48, h = backbone.vit->config().mlp_hidden, r = 2;
  auto dora = test::attached("dora", {{"rank", r}, {"targets", {"q", "fc1"}}}, backbone.vit);
  EXPECT_EQ(dora->parameter_count(), 2 * (r * (d + d) + d + r * (d + h) + h));
  // m starts at W's row norms: W' = W.
  const torch::Tensor q = backbone.vit->blocks[1]->weight_of(Site::Q);
  EXPECT_TRUE(torch::allclose(test::named(*dora, "blocks.1.lora_q.magnitude"), q.norm(2, {1})));
  EXPECT_FALSE(
      dora->decays("blocks.1.lora_q.magnitude", test::named(*dora, "blocks.1.lora_q.magnitude")));
  dora->set_training(true);
  const torch::Tensor pixels = torch::randn({2, 3, 32, 32});
  EXPECT_TRUE(torch::allclose(backbone.vit->features(pixels, *dora),
                              test::frozen_features(backbone.vit, pixels), 1e-5, 1e-5));
}

// A trained-looking DoRA at v of block 0 (alpha 6, rank 2: s = 3), and
// peft's forward written out for it.
struct Case {
  model::Backbone backbone = test::tiny_backbone();
  std::unique_ptr<Method> dora;
  torch::Tensor a, b, m, w, bias, x, frozen_out;
  double s = 3.0;

  explicit Case(double dropout) {
    dora = test::attached(
        "dora", {{"rank", 2}, {"alpha", 6}, {"targets", {"v"}}, {"lora_dropout", dropout}},
        backbone.vit);
    a = test::named(*dora, "blocks.0.lora_v.A");
    b = test::named(*dora, "blocks.0.lora_v.B");
    m = test::named(*dora, "blocks.0.lora_v.magnitude");
    {
      torch::NoGradGuard no_grad;
      b.normal_();
      m.mul_(1.0 + 0.5 * torch::rand_like(m));
    }
    w = backbone.vit->blocks[0]->weight_of(Site::V).detach();
    bias = backbone.vit->blocks[0]->bias_of(Site::V).detach();
    x = torch::randn({2, 5, 48});
    frozen_out = torch::linear(x, w, bias);
  }
  // m / ‖W + s·B·A‖_r, the norm detached.
  torch::Tensor gain() const { return m / (w + s * torch::matmul(b, a)).detach().norm(2, {1}); }
};

TEST(DoRA, OutputIsTheDecomposedWeightsProduct) {
  Case c(0.1);  // dropout is off at inference
  c.dora->set_training(false);
  const torch::Tensor merged_weight = c.gain().unsqueeze(1) * (c.w + c.s * torch::matmul(c.b, c.a));
  EXPECT_TRUE(torch::allclose(c.dora->linear(0, Site::V, c.x, c.frozen_out),
                              torch::linear(c.x, merged_weight, c.bias), 1e-5, 1e-5));
}

TEST(DoRA, TheNormCarriesNoGradient) {
  Case c(0.0);
  c.dora->set_training(true);
  const torch::Tensor target = torch::randn({2, 5, 48});
  const auto loss_of = [&](const torch::Tensor& y) { return (y - target).pow(2).sum(); };
  loss_of(c.dora->linear(0, Site::V, c.x, c.frozen_out)).backward();
  const torch::Tensor grad_b = c.b.grad().clone(), grad_m = c.m.grad().clone();
  c.b.grad().zero_();
  c.m.grad().zero_();
  // The same loss through the detached-norm formula: the same gradients.
  const auto direction = [&] { return c.w + c.s * torch::matmul(c.b, c.a); };
  const torch::Tensor detached = c.m / direction().detach().norm(2, {1});
  loss_of(torch::linear(c.x, detached.unsqueeze(1) * direction(), c.bias)).backward();
  EXPECT_TRUE(torch::allclose(grad_b, c.b.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(grad_m, c.m.grad(), 1e-4, 1e-4));
  c.b.grad().zero_();
  // With the norm in the graph, B's gradient differs: the check can fail.
  const torch::Tensor attached = c.m / direction().norm(2, {1});
  loss_of(torch::linear(c.x, attached.unsqueeze(1) * direction(), c.bias)).backward();
  EXPECT_FALSE(torch::allclose(grad_b, c.b.grad(), 1e-4, 1e-4));
}

TEST(DoRA, DropoutFeedsTheAdaptedPartOnly) {
  Case c(0.5);
  c.dora->set_training(true);
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  const torch::Tensor y = c.dora->linear(0, Site::V, c.x, c.frozen_out);
  torch::manual_seed(11);
  const torch::Tensor dropped = torch::dropout(c.x, 0.5, true);
  const torch::Tensor g = c.gain();
  const torch::Tensor expected = c.frozen_out + (g - 1.0) * torch::linear(dropped, c.w) +
                                 g * c.s * torch::linear(torch::linear(dropped, c.a), c.b);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-5));
}

TEST(DoRA, Learns) {
  test::expect_learns("dora", {{"rank", 2}, {"lora_dropout", 0.0}});
}

}  // namespace
}  // namespace vpet::peft
