// Moving host batches to the compute device without making the host wait.
#pragma once

#include <torch/torch.h>

namespace vpet::model {

// `host` on `device`. On CUDA the copy goes through page-locked memory and
// is queued asynchronously: a plain copy from pageable memory would block the
// host until the GPU has finished all the work queued before it, so the next
// batch could not be prepared while the current step runs. The pinned buffer
// is kept alive by LibTorch's host allocator until the copy is done.
torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device);

}  // namespace vpet::model
