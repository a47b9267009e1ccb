#include "vpet/model/export.h"

#include <sstream>

namespace vpet::model {
namespace {

torch::Tensor stored(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
}

}  // namespace

io::TensorMap timm_checkpoint(const VisionTransformer& vit, const torch::Tensor& head_weight,
                              const torch::Tensor& head_bias) {
  io::TensorMap map;
  for (const auto& item : vit->named_parameters()) {
    if (item.key().rfind("head.", 0) == 0) continue;
    map.add(item.key(), stored(item.value()));
  }
  if (head_weight.defined()) {
    map.add("head.weight", stored(head_weight));
    map.add("head.bias", stored(head_bias));
  }
  const VitConfig& c = vit->config();
  map.metadata["format"] = "pt";
  map.metadata["num_heads"] = std::to_string(c.heads);
  if (c.ln_eps != 1e-6) {
    std::ostringstream eps;
    eps.precision(17);
    eps << c.ln_eps;
    map.metadata["layer_norm_eps"] = eps.str();
  }
  if (c.act != Activation::Gelu) map.metadata["act"] = activation_name(c.act);
  return map;
}

}  // namespace vpet::model
