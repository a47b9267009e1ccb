// Stochastic depth (timm DropPath): a residual branch dropped per sample.
// The backbone uses it on its blocks; SPT's modules on their own outputs.
#pragma once

#include <torch/torch.h>

namespace vpet::model {

// While training, zeroes whole samples (dimension 0) of `branch` with
// probability `rate` and scales the survivors by 1/(1-rate), so the
// expectation is unchanged. Otherwise `branch` itself.
torch::Tensor drop_path(const torch::Tensor& branch, double rate, bool training);

// The per-sample factor drop_path applies, [B, 1, ...] (0 or 1/(1-rate)),
// drawn as drop_path draws it; undefined when nothing is dropped.
torch::Tensor drop_path_scale(const torch::Tensor& branch, double rate, bool training);
// `branch` times a drop_path_scale (itself where `scale` is undefined).
torch::Tensor scaled_branch(const torch::Tensor& branch, const torch::Tensor& scale);

}  // namespace vpet::model
