#include "vpet/peft/adapter.h"

#include <limits>

#include "vpet/model/trunc_normal.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {
namespace {

constexpr const char* kStyleNames[] = {"sequential", "parallel", "parallel-released", "houlsby"};

// adapter-bert's init_scale: both kernels truncated normal with this std.
constexpr double kHoulsbyInitStd = 1e-3;

}  // namespace

Adapter::Adapter(const nlohmann::json& config) : layers_(Settings(config)) {
  const Settings settings(config);
  bottleneck_ = settings.integer("bottleneck", 8, 1);
  const std::string style = settings.choice(
      "adapter_style", "sequential", {"sequential", "parallel", "parallel-released", "houlsby"});
  for (std::size_t i = 0; i < std::size(kStyleNames); ++i) {
    if (style == kStyleNames[i]) style_ = Style(i);
  }
  const double inf = std::numeric_limits<double>::infinity();
  scale_ = settings.number("adapter_scale", 0.1, -inf, inf);
}

const MethodOptions& Adapter::options() {
  static const MethodOptions table = {
      {"bottleneck", "bottleneck", MethodOption::Type::Integer, "8", "Adapter: bottleneck width",
       "N"},
      {"adapter-style",
       "adapter_style",
       MethodOption::Type::Text,
       "sequential",
       "Adapter: sequential (AdaptFormer's, after the MLP), parallel (AdaptFormer's paper), "
       "parallel-released (AdaptFormer's code) or houlsby (two per block)",
       "STYLE",
       {"sequential", "parallel", "parallel-released", "houlsby"}},
      {"adapter-scale", "adapter_scale", MethodOption::Type::Number, "0.1", "Adapter: output scale",
       "S"},
      LayerSet::option(),
  };
  return table;
}

nlohmann::json Adapter::config() const {
  nlohmann::json config = {{"bottleneck", bottleneck_},
                           {"adapter_style", kStyleNames[std::size_t(style_)]},
                           {"adapter_scale", scale_}};
  layers_.add_to(config);
  return config;
}

Adapter::Layers Adapter::make_layers(std::int64_t width, torch::Generator& generator) const {
  if (style_ != Style::kHoulsby) {
    return {linear_weight(bottleneck_, width, generator), torch::zeros({bottleneck_}),
            torch::zeros({width, bottleneck_}), torch::zeros({width})};
  }
  torch::Tensor down = torch::empty({bottleneck_, width});
  torch::Tensor up = torch::empty({width, bottleneck_});
  model::trunc_normal_(down, kHoulsbyInitStd, generator, -2 * kHoulsbyInitStd, 2 * kHoulsbyInitStd);
  model::trunc_normal_(up, kHoulsbyInitStd, generator, -2 * kHoulsbyInitStd, 2 * kHoulsbyInitStd);
  return {down, torch::zeros({bottleneck_}), up, torch::zeros({width})};
}

void Adapter::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const std::int64_t width = vit->config().width;
  const torch::Tensor& like = vit->pos_embed;
  const auto trainable = [&](Layers layers) {
    return Layers{trainable_like(layers.down_weight, like), trainable_like(layers.down_bias, like),
                  trainable_like(layers.up_weight, like), trainable_like(layers.up_bias, like)};
  };
  const std::int64_t depth = vit->config().depth;
  layers_.check(depth);
  mlp_adapters_.assign(std::size_t(depth), {});
  attn_adapters_.assign(style_ == Style::kHoulsby ? std::size_t(depth) : 0, {});
  for (std::int64_t block : layers_.blocks(depth)) {
    const auto i = std::size_t(block);
    // Houlsby's attention adapter first: the one nearer the block's input.
    if (style_ == Style::kHoulsby) attn_adapters_[i] = trainable(make_layers(width, generator));
    mlp_adapters_[i] = trainable(make_layers(width, generator));
  }
}

NamedTensors Adapter::trainable() const {
  NamedTensors tensors;
  const auto add = [&](const std::string& prefix, const Layers& layers) {
    tensors.emplace_back(prefix + "down.weight", layers.down_weight);
    tensors.emplace_back(prefix + "down.bias", layers.down_bias);
    tensors.emplace_back(prefix + "up.weight", layers.up_weight);
    tensors.emplace_back(prefix + "up.bias", layers.up_bias);
  };
  for (std::size_t i = 0; i < mlp_adapters_.size(); ++i) {
    if (!layers_.contains(std::int64_t(i))) continue;
    const std::string block = "blocks." + std::to_string(i) + ".";
    if (style_ == Style::kHoulsby) add(block + "attn_adapter.", attn_adapters_[i]);
    add(block + "adapter.", mlp_adapters_[i]);
  }
  return tensors;
}

torch::Tensor Adapter::Layers::apply(const torch::Tensor& h, bool gelu) const {
  const torch::Tensor down = torch::linear(h, down_weight, down_bias);
  return torch::linear(gelu ? torch::gelu(down) : torch::relu(down), up_weight, up_bias);
}

torch::Tensor Adapter::linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                              const torch::Tensor& output) {
  if (!layers_.contains(block)) return output;
  const auto i = std::size_t(block);
  switch (style_) {
    case Style::kSequential:
      if (site != model::Site::Mlp) return output;
      return output + scale_ * mlp_adapters_[i].apply(output, false);
    case Style::kParallel:
      if (site != model::Site::Mlp) return output;
      return output + scale_ * mlp_adapters_[i].apply(input, false);
    case Style::kParallelReleased:
      return output;  // block_output() adds it
    case Style::kHoulsby:
      if (site == model::Site::O) return output + attn_adapters_[i].apply(output, true);
      if (site == model::Site::Mlp) return output + mlp_adapters_[i].apply(output, true);
      return output;
  }
  return output;
}

torch::Tensor Adapter::block_output(std::int64_t block, const torch::Tensor& residual,
                                    const torch::Tensor& output) {
  if (style_ != Style::kParallelReleased || !layers_.contains(block)) return output;
  return output + scale_ * mlp_adapters_[std::size_t(block)].apply(residual, false);
}

}  // namespace vpet::peft
