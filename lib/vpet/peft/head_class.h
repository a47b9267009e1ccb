// The memory paper's "head + class token" baseline (Sandler et al., CVPR
// 2022, Fig. 1: 85.8 → 88.6 top-1 over head-only on CIFAR-100): the new head
// and the class token are trained, nothing else. The token starts as the
// pretrained one (class_token.h).
//
// No config keys. Trainable: "class_token" [1, 1, D]; D parameters. It is a
// token (is_prompt(): no weight decay unless --wd-prompts). Mergeable: the
// trained token replaces the checkpoint's.
#pragma once

#include "vpet/peft/class_token.h"
#include "vpet/peft/method.h"

namespace vpet::peft {

class HeadClass final : public Method {
 public:
  explicit HeadClass(const nlohmann::json& config);

  std::string name() const override { return "head-class"; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override { return {{"class_token", class_token_.token()}}; }
  bool is_prompt(const std::string& name) const override { return name == "class_token"; }

  torch::Tensor tokens(const torch::Tensor& x) override { return class_token_.replace(x); }
  void merge_into(model::VisionTransformer& vit) const override;

 private:
  TrainableClassToken class_token_;
};

}  // namespace vpet::peft
