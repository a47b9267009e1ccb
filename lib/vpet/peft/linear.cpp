#include "vpet/peft/linear.h"

namespace vpet::peft {

LinearProbe::LinearProbe(const nlohmann::json& config) {
  (void)config;
}

void LinearProbe::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  (void)vit, (void)generator;
}

}  // namespace vpet::peft
