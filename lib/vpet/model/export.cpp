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
    if (item.key().rfind("head.", 0) == 0 || item.key().rfind("head_dist.", 0) == 0) continue;
    map.add(item.key(), stored(item.value()));
  }
  if (head_weight.defined()) {
    map.add("head.weight", stored(head_weight));
    map.add("head.bias", stored(head_bias));
    // A distilled DeiT averages head(class token) and head_dist(its token);
    // the new head was trained on their mean, so the same head twice gives
    // its logits exactly (a linear map of the mean is the mean of the maps).
    if (vit->dist_token.defined()) {
      map.add("head_dist.weight", stored(head_weight));
      map.add("head_dist.bias", stored(head_bias));
    }
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
