// New trainable tensors of a method, drawn reproducibly: values are drawn on
// the CPU from the method's generator (so a seed gives the same start on
// every device), then moved to the backbone's device and dtype as leaves
// that require grad.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace vpet::peft {

// `values` as a trainable leaf with the device and dtype of `like`.
torch::Tensor trainable_like(const torch::Tensor& values, const torch::Tensor& like);

// U(-bound, bound).
torch::Tensor uniform(const std::vector<std::int64_t>& shape, double bound,
                      torch::Generator& generator);
// N(0, std²).
torch::Tensor normal(const std::vector<std::int64_t>& shape, double std,
                     torch::Generator& generator);
// An [out, in] weight as torch.nn.Linear (and HF peft's LoRA A) initialise it:
// kaiming_uniform(a=√5), i.e. U(-1/√in, 1/√in).
torch::Tensor linear_weight(std::int64_t out, std::int64_t in, torch::Generator& generator);

}  // namespace vpet::peft
