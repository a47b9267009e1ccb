// Bottleneck adapters on every block of a frozen ViT, a(h) = up(act(down(h))),
// down [b, D] + bias, up [D, b] + bias, in one of four styles:
//
//   sequential         MLP(x) ↦ m + s · a(m),  m = MLP(x), act ReLU
//                      (AdaptFormer's sequential variant, after the MLP with
//                      its own residual)
//   parallel           MLP(x) ↦ m + s · a(x̂), x̂ the MLP's input (norm2's output),
//                      act ReLU: AdaptFormer's paper (its equation 2)
//   parallel-released  block(x) ↦ r + DropPath(MLP(norm2(r))) + s · a(r), r the
//                      residual stream after attention, act ReLU: AdaptFormer's
//                      released code (models/vision_transformer.py, Block.forward:
//                      adaptmlp(x, add_residual=False) on the raw stream, added
//                      outside drop-path)
//   houlsby            two adapters per block, after the attention's projection
//                      and after the MLP, each h ↦ h + a(h) with act GELU and scale
//                      1 (Houlsby et al. 2019; google-research/adapter-bert's
//                      feedforward_adapter)
//
// with s the adapter scale. Initialisation: AdaptFormer's "lora" option, also
// SPT's adapters (reference/spt-selfprompt-vpt.md §1.3) — down
// kaiming_uniform(a=√5), up zeros, biases zeros, so the method starts as the
// identity; houlsby: adapter-bert's, both weights truncated normal with std
// 1e-3 (cut at ±2σ, TensorFlow's truncated_normal), biases zeros.
//
// Config keys: bottleneck (8), adapter_style (sequential), adapter_scale (0.1,
// AdaptFormer's s; houlsby ignores it), layers (every block; layer_set.h).
// Trainable: "blocks.<i>.adapter.{down,up}.{weight,bias}" (2·D·b + b + D per
// adapted block), and for houlsby also
// "blocks.<i>.attn_adapter.{down,up}.{weight,bias}".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vpet/peft/layer_set.h"
#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"

namespace vpet::peft {

class Adapter final : public Method {
 public:
  enum class Style { kSequential, kParallel, kParallelReleased, kHoulsby };

  explicit Adapter(const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override { return "adapter"; }
  nlohmann::json config() const override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;

  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override;
  torch::Tensor block_output(std::int64_t block, const torch::Tensor& residual,
                             const torch::Tensor& output) override;
  void merge_into(model::VisionTransformer& vit) const override {
    (void)vit;
    refuse_merge("its bottleneck has a GELU between its two linears: the update is not linear");
  }

 private:
  struct Layers {
    torch::Tensor down_weight, down_bias, up_weight, up_bias;
    torch::Tensor apply(const torch::Tensor& h, bool gelu) const;
  };
  Layers make_layers(std::int64_t width, torch::Generator& generator) const;

  std::int64_t bottleneck_;
  Style style_ = Style::kSequential;
  double scale_;
  LayerSet layers_;
  // Per block, empty outside layers_.
  std::vector<Layers> mlp_adapters_;   // every style
  std::vector<Layers> attn_adapters_;  // houlsby
};

}  // namespace vpet::peft
