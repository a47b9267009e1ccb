#include "vpet/model/pos_embed.h"

#include <vector>

namespace vpet::model {

torch::Tensor resample_pos_embed(const torch::Tensor& pos_embed, std::int64_t prefix,
                                 std::array<std::int64_t, 2> old_grid,
                                 std::array<std::int64_t, 2> new_grid) {
  if (old_grid == new_grid) return pos_embed;
  const std::int64_t dim = pos_embed.size(2);
  const torch::Tensor prefix_part = pos_embed.narrow(1, 0, prefix);
  torch::Tensor grid = pos_embed.narrow(1, prefix, pos_embed.size(1) - prefix)
                           .to(torch::kFloat32)
                           .reshape({1, old_grid[0], old_grid[1], dim})
                           .permute({0, 3, 1, 2});
  // F.interpolate(mode='bicubic', antialias=True) lowers to this operator in
  // LibTorch 1.13 and 2.x alike; the 3-argument form names one overload in both.
  const std::vector<std::int64_t> size{new_grid[0], new_grid[1]};
  grid = at::_upsample_bicubic2d_aa(grid.contiguous(), at::IntArrayRef(size),
                                    /*align_corners=*/false);
  grid = grid.permute({0, 2, 3, 1}).reshape({1, -1, dim}).to(pos_embed.scalar_type());
  return torch::cat({prefix_part, grid}, 1);
}

}  // namespace vpet::model
