// Stochastic depth (timm DropPath): a residual branch dropped per sample.
// The backbone uses it on its blocks; SPT's modules on their own outputs.
#pragma once

#include <torch/torch.h>

namespace vpet::model {

// While training, zeroes whole samples (dimension 0) of `branch` with
// probability `rate` and scales the survivors by 1/(1-rate), so the
// expectation is unchanged. Otherwise `branch` itself.
torch::Tensor drop_path(const torch::Tensor& branch, double rate, bool training);

}  // namespace vpet::model
