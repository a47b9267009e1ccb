#include "vpet/model/trunc_normal.h"

#include <cmath>

namespace vpet::model {
namespace {

// Standard normal CDF.
double normal_cdf(double x) {
  return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
}

}  // namespace

void trunc_normal_(torch::Tensor& tensor, double std, torch::Generator& generator, double a,
                   double b) {
  torch::NoGradGuard no_grad;
  // timm: uniform in [2·cdf(a/σ)−1, 2·cdf(b/σ)−1], then erfinv maps it back to
  // a normal sample restricted to [a, b].
  const double low = 2.0 * normal_cdf(a / std) - 1.0;
  const double high = 2.0 * normal_cdf(b / std) - 1.0;
  tensor.uniform_(low, high, generator);
  tensor.erfinv_();
  tensor.mul_(std * std::sqrt(2.0));
  tensor.clamp_(a, b);
}

}  // namespace vpet::model
