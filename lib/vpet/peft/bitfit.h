// BitFit (Ben Zaken et al., 2022): only the backbone's bias terms are
// trained, with the head. As in the paper ("all bias terms", LayerNorm's
// included) and VPT's "Bias" baseline: the biases of q/k/v (the fused qkv
// bias), the attention output projection, fc1, fc2, every LayerNorm (norm1,
// norm2, the final norm, fc_norm and norm_pre where present) and the patch
// embedding. LayerNorm scales (weights) are not biases and stay frozen.
// Parameter count: the number of bias scalars.
#pragma once

#include "vpet/peft/full.h"

namespace vpet::peft {

class BitFit : public FullFineTuning {
 public:
  explicit BitFit(const nlohmann::json& config = nlohmann::json::object())
      : FullFineTuning(config) {}

  std::string name() const override { return "bitfit"; }

 protected:
  bool trains(const std::string& name) const override;
};

}  // namespace vpet::peft
