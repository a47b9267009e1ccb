#include "vpet/peft/adapter.h"

#include <limits>

#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {

Adapter::Adapter(const nlohmann::json& config) {
  const Settings settings(config);
  bottleneck_ = settings.integer("bottleneck", 8, 1);
  parallel_ =
      settings.choice("adapter_style", "sequential", {"sequential", "parallel"}) == "parallel";
  const double inf = std::numeric_limits<double>::infinity();
  scale_ = settings.number("adapter_scale", 0.1, -inf, inf);
}

nlohmann::json Adapter::config() const {
  return {{"bottleneck", bottleneck_},
          {"adapter_style", parallel_ ? "parallel" : "sequential"},
          {"adapter_scale", scale_}};
}

void Adapter::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const std::int64_t width = vit->config().width;
  const torch::Tensor& like = vit->pos_embed;
  blocks_.clear();
  for (std::int64_t i = 0; i < vit->config().depth; ++i) {
    blocks_.push_back({trainable_like(linear_weight(bottleneck_, width, generator), like),
                       trainable_like(torch::zeros({bottleneck_}), like),
                       trainable_like(torch::zeros({width, bottleneck_}), like),
                       trainable_like(torch::zeros({width}), like)});
  }
}

NamedTensors Adapter::trainable() const {
  NamedTensors tensors;
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const std::string prefix = "blocks." + std::to_string(i) + ".adapter.";
    tensors.emplace_back(prefix + "down.weight", blocks_[i].down_weight);
    tensors.emplace_back(prefix + "down.bias", blocks_[i].down_bias);
    tensors.emplace_back(prefix + "up.weight", blocks_[i].up_weight);
    tensors.emplace_back(prefix + "up.bias", blocks_[i].up_bias);
  }
  return tensors;
}

torch::Tensor Adapter::linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                              const torch::Tensor& output) {
  if (site != model::Site::Mlp) return output;
  const Layers& layers = blocks_[std::size_t(block)];
  const torch::Tensor hidden =
      torch::relu(torch::linear(parallel_ ? input : output, layers.down_weight, layers.down_bias));
  return output + scale_ * torch::linear(hidden, layers.up_weight, layers.up_bias);
}

}  // namespace vpet::peft
