// LoRA (Hu et al., 2021) on a frozen ViT, as the PEFT-for-ViT papers use it
// (reference/spt-selfprompt-vpt.md §1.3): at each targeted linear of every
// block,
//
//   y = W x + b + s · B · A · dropout(x),  s = alpha / rank
//                                            (lora_scale "rs": alpha / √rank,
//                                            rsLoRA, Kalajdzievski 2023)
//   A [rank, in]: kaiming_uniform(a=√5), i.e. U(−1/√in, 1/√in) (nn.Linear's
//                 and HF peft's default); B [out, rank]: zeros
//
// so the method starts as the identity. q, k and v are adapted separately
// (Site::Q/K/V) although the checkpoint fuses them into one qkv weight.
//
// Config keys: rank (8), alpha (= rank, i.e. no scaling, as SPT's LoRA),
// lora_scale ("standard" or "rs"; a bundle without it is standard),
// lora_dropout (0.1, SPT §1.3; HF peft draws one sample per adapted linear,
// and so does this), targets (["q", "v"], from q, k, v, o, fc1, fc2),
// layers (every block; layer_set.h).
// Trainable: "blocks.<i>.lora_<site>.A" and ".B"; r·(in + out) per target
// per adapted block.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vpet/peft/layer_set.h"
#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"

namespace vpet::peft {

class LoRA : public Method {
 public:
  explicit LoRA(const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override { return "lora"; }
  nlohmann::json config() const override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;
  bool is_lora_b(const std::string& name) const override;

  torch::Tensor linear(std::int64_t block, model::Site site, const torch::Tensor& input,
                       const torch::Tensor& output) override;
  // W += s · B · A at every target.
  void merge_into(model::VisionTransformer& vit) const override;
  // s: alpha / rank, or alpha / √rank with lora_scale "rs".
  double scale() const;
  // The bundle name of a tensor of the LoRA at `site` of `block`:
  // "blocks.<block>.lora_<site>.<part>" (part "A", "B"; DoRA's "magnitude").
  static std::string tensor_name(std::int64_t block, model::Site site, const std::string& part);

 protected:
  struct Factors {
    torch::Tensor a, b;  // undefined where the site is not targeted
  };
  // The factors at `site` of `block`, or nullptr where LoRA is not (Site::Mlp,
  // an untargeted linear, a block outside --layers).
  const Factors* factors(std::int64_t block, model::Site site) const;
  // The adapted (block, site) pairs in model order.
  std::vector<std::pair<std::int64_t, model::Site>> adapted() const;
  double dropout() const { return dropout_; }

 private:
  // The linears LoRA can target: Site::Q .. Site::Fc2, indexed by the enum.
  static constexpr std::size_t kSites = 6;

  std::int64_t rank_;
  double alpha_;
  bool rank_stabilised_;
  double dropout_;
  std::array<bool, kSites> targeted_{};
  LayerSet layers_;
  std::vector<std::array<Factors, kSites>> blocks_;
};

}  // namespace vpet::peft
