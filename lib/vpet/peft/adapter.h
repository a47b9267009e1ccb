// Bottleneck adapters on the MLP of every block of a frozen ViT:
//
//   a(h)        = up(relu(down(h)))     down [b, D] + bias, up [D, b] + bias
//   sequential  MLP(x) ↦ m + s · a(m),  m = MLP(x)     (Houlsby-style, after
//               the MLP, with its own residual)
//   parallel    MLP(x) ↦ m + s · a(x)                 (AdaptFormer, beside
//               the MLP, reading the MLP's input: the norm2 output)
//
// with s the adapter scale. Initialisation follows AdaptFormer's "lora"
// option, also SPT's adapters (reference/spt-selfprompt-vpt.md §1.3): down
// kaiming_uniform(a=√5), up zeros, biases zeros, so the method starts as
// the identity.
//
// Config keys: bottleneck (8), adapter_style ("sequential" | "parallel";
// sequential), adapter_scale (0.1, AdaptFormer's s). Trainable:
// "blocks.<i>.adapter.{down,up}.{weight,bias}"; 2·D·b + b + D per block.
#pragma once

#include <cstdint>
#include <vector>

#include "vpet/peft/method.h"

namespace vpet::peft {

class Adapter final : public Method {
 public:
  explicit Adapter(const nlohmann::json& config);

  std::string name() const override { return "adapter"; }
  nlohmann::json config() const override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;

  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override;

 private:
  struct Layers {
    torch::Tensor down_weight, down_bias, up_weight, up_bias;
  };

  std::int64_t bottleneck_;
  bool parallel_;
  double scale_;
  std::vector<Layers> blocks_;
};

}  // namespace vpet::peft
