// timm's trunc_normal_ (timm/layers/weight_init.py; torch.nn.init.trunc_normal_
// is the same): the initialisation of ViT weights, position embeddings and
// new classification heads.
#pragma once

#include <torch/torch.h>

namespace vpet::model {

// Fills `tensor` in place with N(0, std²) truncated to [a, b], by inverse-CDF
// sampling from `generator` as timm does. The bounds are absolute values, as
// timm's are: its trunc_normal_(std=.02) keeps the default [-2, 2], 100σ, so
// the draw is in effect an untruncated normal.
void trunc_normal_(torch::Tensor& tensor, double std, torch::Generator& generator, double a = -2.0,
                   double b = 2.0);

}  // namespace vpet::model
