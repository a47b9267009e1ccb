// A trainable class token in place of the model's own: the "head + class
// token" baseline of the memory paper (Sandler et al., CVPR 2022, Fig. 1)
// and the learnable class token of its unmasked memory mode. It starts as
// the pretrained class token, so a method with it starts as the frozen
// model, and is embedded as the model embeds its own: + pos_embed[0]
// (unless the model gives prefix tokens no position embedding), then
// norm_pre.
#pragma once

#include <torch/torch.h>

#include "vpet/model/vit.h"

namespace vpet::peft {

// `token` [1, k, D] embedded as the model's class token is (timm _pos_embed):
// the row the sequence holds for it before block 0.
torch::Tensor embed_class_token(model::VisionTransformer vit, const torch::Tensor& token);

class TrainableClassToken {
 public:
  // Starts as vit's class token. Throws vpet::Error, naming `method`, for a
  // model without one.
  void attach(const model::VisionTransformer& vit, const std::string& method);
  const torch::Tensor& token() const { return token_; }  // [1, 1, D]
  // x (the input of block 0) with row 0, the class token's, recomputed from
  // the trained token.
  torch::Tensor replace(const torch::Tensor& x) const;

 private:
  model::VisionTransformer vit_{nullptr};
  torch::Tensor token_;
};

}  // namespace vpet::peft
