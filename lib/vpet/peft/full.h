// Full fine-tuning: every backbone weight the pooled feature depends on is
// trained — patch embedding, tokens, position embedding, every block, the
// final norm — under the names "backbone.<parameter>" (timm's names). The
// checkpoint's own classifier (head.*) is not: the trainer's new head
// replaces it. Parameter count: the backbone's parameters less its head.
//
// Tokens (cls_token, reg_token, pos_embed) count as prompts for weight decay
// (timm's no_weight_decay), so they decay only with --wd-prompts.
//
// BitFit (bitfit.h) is this method restricted to the bias terms.
#pragma once

#include <string>

#include "vpet/peft/method.h"

namespace vpet::peft {

class FullFineTuning : public Method {
 public:
  // No settings; unknown keys are ignored.
  explicit FullFineTuning(const nlohmann::json& config = nlohmann::json::object());

  std::string name() const override { return "full"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  // Unfreezes the selected backbone parameters (requires_grad on).
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override { return trainable_; }
  bool is_prompt(const std::string& name) const override;
  // Nothing to fold: the trained tensors are the backbone's own, loaded in place.
  void merge_into(model::VisionTransformer& vit) const override { (void)vit; }

 protected:
  // Whether the backbone parameter `name` (timm's name) is trained.
  virtual bool trains(const std::string& name) const;

 private:
  NamedTensors trainable_;
};

}  // namespace vpet::peft
