#include "vpet/proto/window_pool.h"

#include <stdexcept>

namespace vpet::proto {
namespace {

torch::Tensor pool_over(const torch::Tensor& tokens, std::int64_t dim, Pooling pooling) {
  return pooling == Pooling::Mean ? tokens.mean(dim) : tokens.amax(dim);
}

}  // namespace

std::optional<WindowLayout> window_layout(std::int64_t patches, std::int64_t prompts) {
  if (patches < 1 || prompts < 1) {
    throw std::invalid_argument("window_layout: patches and prompts must be positive");
  }
  if (prompts == 1) return WindowLayout{patches, 1, 0};
  const std::int64_t width = patches / (prompts - 1);
  if (width == 0) return std::nullopt;
  return WindowLayout{width, patches / width, patches % width};
}

torch::Tensor pool_windows(const torch::Tensor& patches, const WindowLayout& layout,
                           Pooling pooling) {
  if (patches.dim() != 3 || patches.size(1) != layout.full * layout.width + layout.remainder) {
    throw std::invalid_argument("pool_windows: patches must be [B, N, D] with the layout's N");
  }
  const std::int64_t batch = patches.size(0);
  const std::int64_t width = patches.size(2);
  const torch::Tensor full = patches.narrow(1, 0, layout.full * layout.width)
                                 .reshape({batch, layout.full, layout.width, width});
  torch::Tensor pooled = pool_over(full, 2, pooling);
  if (layout.remainder == 0) return pooled;
  const torch::Tensor rest = patches.narrow(1, layout.full * layout.width, layout.remainder);
  return torch::cat({pooled, pool_over(rest, 1, pooling).unsqueeze(1)}, 1);
}

}  // namespace vpet::proto
