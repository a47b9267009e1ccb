#include "vpet/model/drop_path.h"

#include <vector>

namespace vpet::model {

torch::Tensor drop_path_scale(const torch::Tensor& branch, double rate, bool training) {
  if (!training || rate <= 0.0) return {};
  const double keep = 1.0 - rate;
  std::vector<std::int64_t> shape(std::size_t(branch.dim()), 1);
  shape[0] = branch.size(0);
  return torch::empty(shape, branch.options()).bernoulli_(keep) / keep;
}

torch::Tensor scaled_branch(const torch::Tensor& branch, const torch::Tensor& scale) {
  return scale.defined() ? branch * scale : branch;
}

torch::Tensor drop_path(const torch::Tensor& branch, double rate, bool training) {
  return scaled_branch(branch, drop_path_scale(branch, rate, training));
}

}  // namespace vpet::model
