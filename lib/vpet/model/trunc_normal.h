// timm's trunc_normal_: the initialisation of ViT weights, position
// embeddings and new classification heads.
#pragma once

#include <torch/torch.h>

namespace vpet::model {

// Fills `tensor` in place with N(0, std²) truncated to [-2·std, 2·std], by
// inverse-CDF sampling from `generator` as timm's trunc_normal_ does.
void trunc_normal_(torch::Tensor& tensor, double std, torch::Generator& generator);

}  // namespace vpet::model
