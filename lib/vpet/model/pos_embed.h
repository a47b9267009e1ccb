// Resampling an absolute position embedding to another patch grid, as timm
// does when a model runs at a size other than its checkpoint's
// (timm/layers/pos_embed.py, resample_abs_pos_embed).
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace vpet::model {

// pos_embed: [1, prefix + gh*gw, D], the first `prefix` entries belonging to
// prefix tokens (0 for a no_embed_class model). Prefix entries are kept; the
// grid part is reshaped to [1, D, gh, gw], resized with bicubic interpolation,
// antialias on, align_corners off, in float32, and flattened back row-major.
// Returns pos_embed itself when the grids are equal.
torch::Tensor resample_pos_embed(const torch::Tensor& pos_embed, std::int64_t prefix,
                                 std::array<std::int64_t, 2> old_grid,
                                 std::array<std::int64_t, 2> new_grid);

}  // namespace vpet::model
