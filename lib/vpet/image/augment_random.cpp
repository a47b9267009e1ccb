#include "vpet/image/augment_random.h"

#include <cmath>

namespace vpet::image {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

AugmentRandom::AugmentRandom(std::uint64_t seed, std::int64_t epoch, std::int64_t index)
    : state_(seed) {
  std::uint64_t key = splitmix64(state_) ^ static_cast<std::uint64_t>(epoch);
  state_ = splitmix64(key) ^ static_cast<std::uint64_t>(index);
  splitmix64(state_);
}

std::uint64_t AugmentRandom::next() {
  return splitmix64(state_);
}

double AugmentRandom::uniform(double low, double high) {
  const double unit = double(next() >> 11) * 0x1.0p-53;
  return low + (high - low) * unit;
}

int AugmentRandom::integer(int low, int high) {
  const std::uint64_t span = std::uint64_t(high - low);
  return low + int(next() % span);
}

// Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
double AugmentRandom::standard_normal() {
  const double radius = std::sqrt(-2.0 * std::log(1.0 - uniform(0.0, 1.0)));
  return radius * std::cos(2.0 * M_PI * uniform(0.0, 1.0));
}

// The logarithm of a Gamma(shape, 1) draw: Marsaglia and Tsang's method
// (ACM TOMS 26(3), 2000) for shape ≥ 1; below 1 their boost
// Gamma(a) = Gamma(a + 1)·U^(1/a), kept in logarithms so that a small shape
// (draws far below the smallest double) still gives a finite Beta.
double AugmentRandom::log_gamma_variate(double shape) {
  if (shape < 1.0) {
    const double boost = std::log(1.0 - uniform(0.0, 1.0)) / shape;
    return log_gamma_variate(shape + 1.0) + boost;
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = standard_normal();
    const double t = 1.0 + c * x;
    if (t <= 0.0) continue;
    const double v = t * t * t;
    const double u = 1.0 - uniform(0.0, 1.0);
    if (u < 1.0 - 0.0331 * x * x * x * x ||
        std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
      return std::log(d) + std::log(v);
    }
  }
}

// X / (X + Y) for X, Y ~ Gamma(alpha), as 1 / (1 + exp(log Y − log X)).
double AugmentRandom::symmetric_beta(double alpha) {
  const double log_x = log_gamma_variate(alpha);
  const double log_y = log_gamma_variate(alpha);
  return 1.0 / (1.0 + std::exp(log_y - log_x));
}

}  // namespace vpet::image
