#include "vpet/peft/parameter_init.h"

#include <cmath>

namespace vpet::peft {

torch::Tensor trainable_like(const torch::Tensor& values, const torch::Tensor& like) {
  return values.to(like.options()).detach().requires_grad_(true);
}

torch::Tensor uniform(const std::vector<std::int64_t>& shape, double bound,
                      torch::Generator& generator) {
  return torch::empty(shape).uniform_(-bound, bound, generator);
}

torch::Tensor normal(const std::vector<std::int64_t>& shape, double std,
                     torch::Generator& generator) {
  return torch::empty(shape).normal_(0.0, std, generator);
}

torch::Tensor linear_weight(std::int64_t out, std::int64_t in, torch::Generator& generator) {
  // gain = sqrt(2 / (1 + a²)) with a = √5 gives bound = gain·sqrt(3 / in) = 1/√in.
  return uniform({out, in}, 1.0 / std::sqrt(double(in)), generator);
}

}  // namespace vpet::peft
