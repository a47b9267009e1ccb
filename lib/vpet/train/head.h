// The new classification head every method trains (DESIGN §1): Linear(D,
// classes), initialised as the papers initialise it (timm reset_classifier,
// VPT, SPT): weight truncated normal with std 0.02 cut at ±2σ, bias 0. The
// head belongs to the trainer, not to the method, so every method gets the
// same head for the same seed.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vpet::train {

// Fills `tensor` in place with N(0, std²) truncated to [-2·std, 2·std], by
// inverse-CDF sampling from `generator` as timm's trunc_normal_ does.
void trunc_normal_(torch::Tensor& tensor, double std, torch::Generator& generator);

// Linear(features, classes) on the CPU: weight trunc-normal(0.02), bias 0.
torch::nn::Linear make_head(std::int64_t features, std::int64_t classes,
                            torch::Generator& generator);

}  // namespace vpet::train
