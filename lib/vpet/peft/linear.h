// Linear probing: the head alone is trained on the frozen backbone's pooled
// feature. The method has no tensors of its own (parameter count 0) and
// leaves the features unchanged, so the trainer computes them once per
// image instead of once per epoch.
#pragma once

#include "vpet/peft/method.h"

namespace vpet::peft {

class LinearProbe : public Method {
 public:
  // No settings; unknown keys are ignored.
  explicit LinearProbe(const nlohmann::json& config = nlohmann::json::object());

  std::string name() const override { return "linear"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override { return {}; }
  bool changes_backbone_features() const override { return false; }
  // Nothing to fold: the head is all there is.
  void merge_into(model::VisionTransformer& vit) const override { (void)vit; }
};

}  // namespace vpet::peft
