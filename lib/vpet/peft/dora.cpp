#include "vpet/peft/dora.h"

#include "vpet/peft/parameter_init.h"

namespace vpet::peft {

using model::Site;

void DoRA::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  LoRA::attach(vit, generator);
  vit_ = vit;
  magnitudes_.clear();
  for (const auto& target : adapted()) {
    const torch::Tensor weight =
        vit->blocks.at(std::size_t(target.first))->weight_of(target.second);
    magnitudes_[target] = trainable_like(weight.detach().norm(2, {1}), vit->pos_embed);
  }
}

NamedTensors DoRA::trainable() const {
  NamedTensors tensors = LoRA::trainable();
  for (const auto& [target, magnitude] : magnitudes_) {
    tensors.emplace_back(tensor_name(target.first, target.second, "magnitude"), magnitude);
  }
  return tensors;
}

torch::Tensor DoRA::gain(const model::VisionTransformer& vit, std::int64_t block, Site site) const {
  const Factors* lora = factors(block, site);
  const torch::Tensor weight = vit->blocks.at(std::size_t(block))->weight_of(site).detach();
  const torch::Tensor direction =
      weight + scale() * torch::matmul(lora->b.detach(), lora->a.detach());
  return magnitudes_.at({block, site}) / direction.norm(2, {1});
}

torch::Tensor DoRA::linear(std::int64_t block, Site site, const torch::Tensor& input,
                           const torch::Tensor& output) {
  const Factors* lora = factors(block, site);
  if (!lora) return output;
  const torch::Tensor g = gain(vit_, block, site);
  const model::Block& module = vit_->blocks.at(std::size_t(block));
  const bool dropping = training() && dropout() > 0.0;
  const torch::Tensor x = dropping ? torch::dropout(input, dropout(), true) : input;
  // W x̃ without the bias: the frozen output itself unless dropout changed x.
  torch::Tensor frozen;
  if (dropping) {
    frozen = torch::linear(x, module->weight_of(site));
  } else {
    const torch::Tensor bias = module->bias_of(site);
    frozen = bias.defined() ? output - bias : output;
  }
  const torch::Tensor update = torch::linear(torch::linear(x, lora->a), lora->b);
  return output + (g - 1.0) * frozen + g * scale() * update;
}

void DoRA::merge_into(model::VisionTransformer& vit) const {
  torch::NoGradGuard no_grad;
  for (const auto& [block, site] : adapted()) {
    const torch::Tensor g = gain(vit, block, site).unsqueeze(1);
    const Factors* lora = factors(block, site);
    torch::Tensor weight = vit->blocks.at(std::size_t(block))->weight_of(site);
    weight.copy_(g * (weight + scale() * torch::matmul(lora->b, lora->a)));
  }
}

}  // namespace vpet::peft
