// DoRA (Liu et al., ICML 2024, "Weight-Decomposed Low-Rank Adaptation") on a
// frozen ViT, as Hugging Face peft computes it with use_dora
// (src/peft/tuners/lora/dora.py, DoraLinearLayer; tuners/lora/variants.py,
// DoraLinearVariant). At each LoRA target the weight is split into a
// magnitude and a direction, LoRA adapts the direction:
//
//   W' = g ⊙ (W + s·B·A),  g = m / ‖W + s·B·A‖_r,  y = W' x + b
//
// where ‖·‖_r is each output row's L2 norm and m [out] is trained, starting
// at ‖W‖_r (B starts at zero, so the method starts as the identity). The
// norm is a constant in the backward pass (the paper's §4.3; peft detaches
// it). With LoRA dropout while training, peft feeds the dropped-out input
// x̃ to the whole adapted part, y = W x + b + (g − 1)·W x̃ + g·s·B·A x̃, and so
// does this; at inference both are W' x + b.
//
// Config keys: LoRA's (lora.h: rank, alpha, lora_scale, lora_dropout,
// targets, layers). Trainable: LoRA's factors and
// "blocks.<i>.lora_<site>.magnitude" [out]: r·(in + out) + out per target
// per adapted block. The magnitudes are vectors and, like norm weights,
// take no weight decay by default. Mergeable: peft-export --merge writes W'.
#pragma once

#include <map>
#include <utility>

#include "vpet/peft/lora.h"

namespace vpet::peft {

class DoRA final : public LoRA {
 public:
  explicit DoRA(const nlohmann::json& config) : LoRA(config) {}

  std::string name() const override { return "dora"; }
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;

  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override;
  // W ← g ⊙ (W + s·B·A) at every target; the biases stay.
  void merge_into(model::VisionTransformer& vit) const override;

 private:
  // g at a target of `vit`: m / ‖W + s·B·A‖_r, the norm detached.
  torch::Tensor gain(const model::VisionTransformer& vit, std::int64_t block,
                     model::Site site) const;

  model::VisionTransformer vit_{nullptr};  // whose frozen weights W are
  std::map<std::pair<std::int64_t, model::Site>, torch::Tensor> magnitudes_;
};

}  // namespace vpet::peft
