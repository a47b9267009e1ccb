// The random numbers of train-time augmentation: one SplitMix64 stream per
// (seed, epoch, index), so that no draw depends on another — not on the
// thread count, the batch order or a --resume. A sample's crop and flip use
// its dataset index; a batch's MixUp/CutMix (train/mixup.h) uses −1 − its
// step in the epoch, which no sample's index is.
//
// The generator and the distributions are vpet's own, not <random>'s, whose
// distributions the standard leaves to each library: the same --seed gives
// the same draws with libstdc++ and libc++.
#pragma once

#include <cstdint>

namespace vpet::image {

class AugmentRandom {
 public:
  AugmentRandom(std::uint64_t seed, std::int64_t epoch, std::int64_t index);

  // Uniform in [low, high).
  double uniform(double low, double high);
  // Uniform integer in [low, high), as torch.randint(low, high) or
  // numpy.random.randint(low, high). high > low.
  int integer(int low, int high);
  // Beta(alpha, alpha), alpha > 0 (numpy.random.beta(alpha, alpha)'s law).
  double symmetric_beta(double alpha);

 private:
  std::uint64_t next();
  double standard_normal();
  double log_gamma_variate(double shape);

  std::uint64_t state_;
};

}  // namespace vpet::image
