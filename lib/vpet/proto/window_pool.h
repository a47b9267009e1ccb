// Self-Prompt Tuning's pooled candidates (reference/spt-selfprompt-vpt.md
// §2.2, mean_pooling and max_pooling): an image's N patch tokens are cut into
// windows, and each window is averaged (or max-pooled, element-wise) into
// one row; prompts are then drawn among these rows. Two rules:
//
//   reference (the default): the released code's (train.py, train_MAE.py,
//     prompt_sample_type mean_pooling/max_pooling): w = ⌊N / (P−1)⌋, windows
//     p·w .. (p+1)·w − 1 for p < P−1, then one of the last N mod w tokens —
//     or of the whole image when N mod w is 0 (x[:, -0:] is all of x). Always
//     P rows; tokens between (P−1)·w and N − (N mod w) are pooled by no window
//     but the last.
//   cover: consecutive windows of w tokens over all N, and one shorter window
//     of what is left: ⌈N / w⌉ rows (more than P when w is small). vpet's
//     rule before the reference's was read; kept as the documented
//     alternative.
//
// For the paper's N = 196, P = 20 both give nineteen windows of 10 tokens and
// one of the last 6. They part where P−1 divides N (16 tokens, P = 5:
// reference 4 windows of 4 plus the whole image; cover 4 windows) and where w
// is small (196 tokens, P = 100: reference 99 single tokens plus the whole
// image; cover all 196 tokens). P = 1 has no w (the reference divides by
// zero): the whole image is one window under both. P−1 > N would give
// w = 0 and is refused.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace vpet::proto {

enum class Pooling { Mean, Max };
enum class WindowRule { Reference, Cover };

// "reference" or "cover"; throws vpet::UsageError naming --windows otherwise.
WindowRule parse_window_rule(const std::string& name);
const char* window_rule_name(WindowRule rule);

struct WindowLayout {
  std::int64_t patches = 0;  // N
  std::int64_t width = 0;    // w: tokens per full window
  std::int64_t full = 0;     // full windows, from token 0
  // One more window: tokens last_start .. last_start + last_length − 1
  // (last_length 0: none).
  std::int64_t last_start = 0;
  std::int64_t last_length = 0;

  std::int64_t windows() const { return full + (last_length > 0 ? 1 : 0); }
};

// The windows of `patches` tokens for `prompts` prompts; nothing when
// prompts − 1 > patches (a window would hold no token). patches, prompts ≥ 1.
std::optional<WindowLayout> window_layout(std::int64_t patches, std::int64_t prompts,
                                          WindowRule rule = WindowRule::Reference);

// Pools patch tokens [B, N, D] into [B, layout.windows(), D], the full
// windows in token order, then the last. N must be the layout's.
torch::Tensor pool_windows(const torch::Tensor& patches, const WindowLayout& layout,
                           Pooling pooling);

}  // namespace vpet::proto
