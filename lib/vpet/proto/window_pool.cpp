#include "vpet/proto/window_pool.h"

#include <stdexcept>

#include "vpet/error.h"

namespace vpet::proto {
namespace {

torch::Tensor pool_over(const torch::Tensor& tokens, std::int64_t dim, Pooling pooling) {
  return pooling == Pooling::Mean ? tokens.mean(dim) : tokens.amax(dim);
}

}  // namespace

WindowRule parse_window_rule(const std::string& name) {
  if (name == "reference") return WindowRule::Reference;
  if (name == "cover") return WindowRule::Cover;
  throw UsageError("--windows: '" + name + "' is not one of reference, cover");
}

const char* window_rule_name(WindowRule rule) {
  return rule == WindowRule::Reference ? "reference" : "cover";
}

std::optional<WindowLayout> window_layout(std::int64_t patches, std::int64_t prompts,
                                          WindowRule rule) {
  if (patches < 1 || prompts < 1) {
    throw std::invalid_argument("window_layout: patches and prompts must be positive");
  }
  if (prompts == 1) return WindowLayout{patches, patches, 1, 0, 0};
  const std::int64_t width = patches / (prompts - 1);
  if (width == 0) return std::nullopt;
  const std::int64_t left_over = patches % width;
  if (rule == WindowRule::Reference) {
    return WindowLayout{patches, width, prompts - 1, left_over > 0 ? patches - left_over : 0,
                        left_over > 0 ? left_over : patches};
  }
  const std::int64_t full = patches / width;
  return WindowLayout{patches, width, full, full * width, left_over};
}

torch::Tensor pool_windows(const torch::Tensor& patches, const WindowLayout& layout,
                           Pooling pooling) {
  if (patches.dim() != 3 || patches.size(1) != layout.patches) {
    throw std::invalid_argument("pool_windows: patches must be [B, N, D] with the layout's N");
  }
  const std::int64_t batch = patches.size(0);
  const std::int64_t width = patches.size(2);
  const torch::Tensor full = patches.narrow(1, 0, layout.full * layout.width)
                                 .reshape({batch, layout.full, layout.width, width});
  torch::Tensor pooled = pool_over(full, 2, pooling);
  if (layout.last_length == 0) return pooled;
  const torch::Tensor last = patches.narrow(1, layout.last_start, layout.last_length);
  return torch::cat({pooled, pool_over(last, 1, pooling).unsqueeze(1)}, 1);
}

}  // namespace vpet::proto
