// SSF (Lian et al., NeurIPS 2022, "Scaling & Shifting Your Features: A New
// Baseline for Efficient Model Tuning") on a frozen ViT, placed as the
// released code places it (dongzelian/SSF, models/vision_transformer.py with
// tuning_mode 'ssf'): a per-channel y = γ ⊙ x + β after
//
//   the patch embedding (before the class token and the position embedding),
//   in every block: norm1, the fused qkv (3D channels), the attention's
//   projection, norm2, fc1 (H channels), fc2,
//   and the final norm (for a model without one, on the last block's tokens,
//   where the released code's identity norm is)
//
// with γ drawn N(1, 0.02) and β N(0, 0.02) (init_ssf_scale_shift): unlike
// LoRA, SSF does not start as the frozen model. Every one is linear in the
// feature, so peft-export --merge folds each into the weights before it
// (W ← diag(γ) W, b ← γ ⊙ b + β; a LayerNorm's affine the same; a patch
// embedding without a bias takes β in the position embedding's patch rows).
//
// No config keys. Trainable, under the released code's names:
// "patch_embed.ssf_{scale,shift}_1", "blocks.<i>.ssf_{scale,shift}_{1,2}"
// (norm1, norm2), "blocks.<i>.attn.ssf_{scale,shift}_{1,2}" (qkv, proj),
// "blocks.<i>.mlp.ssf_{scale,shift}_{1,2}" (fc1, fc2), "ssf_{scale,shift}_1"
// (final): 2·(2D + L·(7D + H)) for depth L, width D, MLP width H. All are
// vectors and take no weight decay by default (timm's optimiser factory,
// which the released code uses, exempts them too).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vpet/peft/method.h"

namespace vpet::peft {

class Ssf final : public Method {
 public:
  explicit Ssf(const nlohmann::json& config);

  std::string name() const override { return "ssf"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;

  torch::Tensor patches(const torch::Tensor& x) override;
  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override;
  torch::Tensor norm(std::int64_t block, model::NormSite site, const torch::Tensor& input,
                     const torch::Tensor& output) override;
  torch::Tensor final_tokens(const torch::Tensor& x) override;
  void merge_into(model::VisionTransformer& vit) const override;

 private:
  struct ScaleShift {
    torch::Tensor scale, shift;
    torch::Tensor apply(const torch::Tensor& x) const { return x * scale + shift; }
    // Channels [start, start + count) of it.
    ScaleShift rows(std::int64_t start, std::int64_t count) const;
  };
  struct BlockTuning {
    ScaleShift norm1, qkv, proj, norm2, fc1, fc2;
  };

  std::int64_t width_ = 0;
  bool final_norm_ = true;  // whether the model has a final norm to follow
  ScaleShift patch_, final_;
  std::vector<BlockTuning> blocks_;
};

}  // namespace vpet::peft
