#include "vpet/peft/class_token.h"

#include "vpet/error.h"
#include "vpet/peft/parameter_init.h"

namespace vpet::peft {

torch::Tensor embed_class_token(model::VisionTransformer vit, const torch::Tensor& token) {
  torch::Tensor embedded = token;
  if (!vit->config().no_embed_class) embedded = embedded + vit->pos_embed.narrow(1, 0, 1);
  return vit->norm_pre ? vit->norm_pre->forward(embedded) : embedded;
}

void TrainableClassToken::attach(const model::VisionTransformer& vit, const std::string& method) {
  if (!vit->cls_token.defined()) {
    throw Error(method + " trains the class token, and this model has none");
  }
  vit_ = vit;
  token_ = trainable_like(vit->cls_token.detach().clone(), vit->pos_embed);
}

torch::Tensor TrainableClassToken::replace(const torch::Tensor& x) const {
  const torch::Tensor row = embed_class_token(vit_, token_).expand({x.size(0), -1, -1});
  return torch::cat({row.to(x.scalar_type()), x.narrow(1, 1, x.size(1) - 1)}, 1);
}

}  // namespace vpet::peft
