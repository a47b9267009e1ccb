#include "vpet/model/drop_path.h"

#include <vector>

namespace vpet::model {

torch::Tensor drop_path(const torch::Tensor& branch, double rate, bool training) {
  if (!training || rate <= 0.0) return branch;
  const double keep = 1.0 - rate;
  std::vector<std::int64_t> shape(std::size_t(branch.dim()), 1);
  shape[0] = branch.size(0);
  torch::Tensor mask = torch::empty(shape, branch.options()).bernoulli_(keep);
  return branch * mask / keep;
}

}  // namespace vpet::model
