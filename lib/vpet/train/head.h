// The new classification head every method trains (DESIGN §1): Linear(D,
// classes), initialised as the papers initialise it (timm reset_classifier,
// VPT, SPT): weight truncated normal with std 0.02 cut at ±2σ, bias 0. The
// head belongs to the trainer, not to the method, so every method gets the
// same head for the same seed. The draw is model::trunc_normal_ (timm's).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vpet::train {

// Linear(features, classes) on the CPU: weight trunc-normal(0.02), bias 0.
torch::nn::Linear make_head(std::int64_t features, std::int64_t classes,
                            torch::Generator& generator);

}  // namespace vpet::train
