// Self-Prompt Tuning's pooled candidates (reference/spt-selfprompt-vpt.md
// §2.2, mean_pooling and max_pooling): an image's N patch tokens are cut into
// consecutive windows of w = ⌊N / (P−1)⌋ tokens, and each window is averaged
// (or max-pooled, element-wise) into one row. The N mod w tokens left over
// form one last, shorter window. Prompts are then drawn among these rows.
//
// For the paper's N = 196, P = 20: w = 10, nineteen windows of 10 tokens and
// a last one of 6, so 20 rows per image. In general there are ⌈N / w⌉
// windows: P−1 when P−1 divides N (no remainder, and no empty window is
// pooled), and possibly more than P when w is small (N = 196, P = 100:
// w = 1, every token is its own window). P = 1 has no w: the whole image is
// one window. P−1 > N would give w = 0 and is refused.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace vpet::proto {

enum class Pooling { Mean, Max };

struct WindowLayout {
  std::int64_t width = 0;      // w: tokens per full window
  std::int64_t full = 0;       // full windows
  std::int64_t remainder = 0;  // tokens of the last, shorter window (0: none)

  std::int64_t windows() const { return full + (remainder > 0 ? 1 : 0); }
};

// The windows of `patches` tokens for `prompts` prompts; nothing when
// prompts − 1 > patches (a window would hold no token). patches, prompts ≥ 1.
std::optional<WindowLayout> window_layout(std::int64_t patches, std::int64_t prompts);

// Pools patch tokens [B, N, D] into [B, layout.windows(), D], windows in
// token order. N must be the one the layout was made for.
torch::Tensor pool_windows(const torch::Tensor& patches, const WindowLayout& layout,
                           Pooling pooling);

}  // namespace vpet::proto
