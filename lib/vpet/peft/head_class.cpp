#include "vpet/peft/head_class.h"

namespace vpet::peft {

HeadClass::HeadClass(const nlohmann::json& config) {
  (void)config;  // no settings
}

void HeadClass::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  (void)generator;  // the token starts as the pretrained one
  class_token_.attach(vit, name());
}

void HeadClass::merge_into(model::VisionTransformer& vit) const {
  torch::NoGradGuard no_grad;
  vit->cls_token.copy_(class_token_.token());
}

}  // namespace vpet::peft
