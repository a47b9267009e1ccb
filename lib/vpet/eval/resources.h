// What a run cost: peak memory of the process (and of the GPU, when used).
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vpet::eval {

// Peak resident set size of this process so far, in bytes (getrusage).
std::int64_t peak_rss_bytes();

// The peak memory that matters for `device`: the GPU allocator's peak on
// CUDA where LibTorch exposes it, else the process's peak RSS.
std::int64_t peak_memory_bytes(const torch::Device& device);

}  // namespace vpet::eval
