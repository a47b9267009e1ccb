#include "vpet/peft/full.h"
#include "vpet/strings.h"

namespace vpet::peft {
namespace {

constexpr const char* kPrefix = "backbone.";

}  // namespace

FullFineTuning::FullFineTuning(const nlohmann::json& config) {
  (void)config;
}

bool FullFineTuning::trains(const std::string& name) const {
  return !starts_with(name, "head.");
}

void FullFineTuning::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  (void)generator;
  trainable_.clear();
  for (auto& item : vit->named_parameters()) {
    if (!trains(item.key())) continue;
    item.value().set_requires_grad(true);
    trainable_.emplace_back(kPrefix + item.key(), item.value());
  }
}

bool FullFineTuning::is_prompt(const std::string& name) const {
  return name == "backbone.cls_token" || name == "backbone.reg_token" ||
         name == "backbone.pos_embed";
}

}  // namespace vpet::peft
