// Visual Prompt Tuning (Jia et al., ECCV 2022; reference/spt-selfprompt-vpt.md
// §3): P learned prompt tokens inserted after the prefix tokens (the class
// token and any registers), before the patches, with no position embedding:
//
//   shallow  [prefix, P_0, patches] enters block 0; the prompts then flow on
//   deep     the same, and before each block i ≥ 1 the previous block's
//            outputs at the prompt positions are overwritten with P_i
//
// Prompt dropout (training only) is applied to the prompts each time they are
// inserted. After the last block the prompt positions are removed, so the
// final norm and the pooling (token or average) see the model's own layout
// — unless prompts_in_pool, which keeps them for an averaging pool (MAE's
// avg-norm readout as Self-Prompt's Models/MAE_vpt_deep.py computes it: the
// mean of tokens 1:, prompts and patches, then the norm).
//
// Prompts start U(−v, v), v = sqrt(6 / (3·patch² + D)) (VPT: Xavier-uniform
// with fan_in = 3·patch², fan_out = D), or as given by an `init_prompts`
// file (Self-Prompt Tuning, same spec §2).
//
// With layers (vpt-deep only; layer_set.h) the prompts are inserted before
// the first of those blocks and replaced before each later one; the blocks
// in between pass the previous block's prompt outputs on (VPT's
// NUM_DEEP_LAYERS is layers 0..k−1).
//
// Config keys: prompts (P; 10, or the init file's), prompt_dropout (0),
// prompts_in_pool (false), layers (every block),
// init_prompts (a vpet file of kind "prompts": one record whose tensor
// "prompts" is [L, P, D] for deep or [1, P, D] for shallow; read when the
// method is built; check_backbone() refuses one made for another backbone).
// With layers, the file holds the adapted blocks' prompts or every block's.
// init_prompts only initialises: it is not part of config(), and a method
// rebuilt from a bundle does not need the file. Trainable: "prompts", [1, P,
// D] shallow or [L, P, D] deep (L the adapted blocks).
#pragma once

#include <cstdint>
#include <vector>

#include "vpet/peft/layer_set.h"
#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"

namespace vpet::peft {

class Vpt final : public Method {
 public:
  enum class Depth { Shallow, Deep };
  Vpt(Depth depth, const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override { return deep() ? "vpt-deep" : "vpt-shallow"; }
  nlohmann::json config() const override;
  void check_backbone(const std::string& fingerprint) const override;
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override { return {{"prompts", prompts_}}; }
  bool is_prompt(const std::string& name) const override { return name == "prompts"; }

  torch::Tensor tokens(const torch::Tensor& x) override;
  torch::Tensor block_input(std::int64_t block, const torch::Tensor& x) override;
  torch::Tensor final_tokens(const torch::Tensor& x) override;
  bool reads_all_final_tokens() const override { return prompts_in_pool_; }
  void merge_into(model::VisionTransformer& vit) const override {
    (void)vit;
    refuse_merge(
        "its prompts are extra tokens in the sequence, which no weight of the plain ViT holds");
  }

 private:
  bool deep() const { return depth_ == Depth::Deep; }
  // Layer `layer`'s prompts, dropped out when training, for a batch of `batch`.
  torch::Tensor inserted(std::int64_t layer, std::int64_t batch) const;
  // x with layer `layer`'s prompts after the prefix, in place of the old
  // ones where `replace`.
  torch::Tensor with_prompts(std::int64_t layer, const torch::Tensor& x, bool replace) const;

  Depth depth_;
  std::int64_t count_;  // P
  double dropout_;
  bool prompts_in_pool_ = false;
  std::string init_path_;
  torch::Tensor init_;         // from init_prompts, or undefined
  std::string init_made_for_;  // the backbone fingerprint init_prompts names
  torch::Tensor prompts_;      // [1 or L, P, D]
  std::int64_t prefix_ = 0;
  LayerSet layers_;
  std::vector<std::int64_t> blocks_;  // where the prompts go in: layer l's before blocks_[l]
};

}  // namespace vpet::peft
