#include "vpet/spt/sensitivity.h"

#include "vpet/error.h"

namespace vpet::spt {

Sensitivity::Sensitivity(model::VisionTransformer vit, torch::nn::Linear head, double drop_path)
    : vit_(std::move(vit)), head_(std::move(head)), drop_path_(drop_path) {
  if (head_->weight.size(1) != vit_->config().width) {
    throw Error("the sensitivity head reads " + std::to_string(head_->weight.size(1)) +
                " features, but the model's width is " + std::to_string(vit_->config().width));
  }
  candidates_ = peft::spt::candidates(vit_->config());
  std::int64_t total = 0;
  for (const peft::spt::Candidate& candidate : candidates_) total += candidate.numel();
  // The gradient of q, k and v comes from the fused qkv; each parameter is
  // made to require gradients once.
  for (const auto& item : vit_->named_parameters()) {
    for (const peft::spt::Candidate& candidate : candidates_) {
      if (candidate.value(*vit_).is_alias_of(item.value())) {
        item.value().requires_grad_(true);
        parameters_.push_back(item.value());
        break;
      }
    }
  }
  const torch::Device device = vit_->pos_embed.device();
  head_->to(device);
  for (auto& parameter : head_->parameters()) parameter.requires_grad_(false);
  scores_ = torch::zeros({total}, torch::TensorOptions().device(device));
}

Sensitivity::~Sensitivity() {
  for (torch::Tensor& parameter : parameters_) {
    parameter.mutable_grad() = torch::Tensor();
    parameter.requires_grad_(false);
  }
}

double Sensitivity::add_batch(const torch::Tensor& pixels, const torch::Tensor& labels) {
  model::ForwardHooks frozen;
  const torch::Device device = scores_.device();
  const torch::Tensor features =
      vit_->features(pixels.to(device), frozen, {/*drop_path=*/drop_path_, /*training=*/true});
  const torch::Tensor loss =
      torch::nn::functional::cross_entropy(head_->forward(features), labels.to(device));
  loss.backward();
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (const peft::spt::Candidate& candidate : candidates_) {
    const std::int64_t n = candidate.numel();
    const torch::Tensor grad = candidate.grad(*vit_);
    // A tensor the loss does not reach has no gradient: its sensitivity stays 0.
    if (grad.defined()) scores_.narrow(0, offset, n).add_(grad.reshape({n}).square());
    offset += n;
  }
  for (torch::Tensor& parameter : parameters_) parameter.mutable_grad() = torch::Tensor();
  ++batches_;
  return loss.item<double>();
}

torch::Tensor Sensitivity::scores() const {
  return scores_.to(torch::kCPU);
}

}  // namespace vpet::spt
