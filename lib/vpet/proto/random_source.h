// The seeded random numbers behind every choice prompt-init-proto makes:
// which tokens a reservoir keeps, which tokens k-means samples, k-means++
// seeding and mini-batches.
//
// The engine is std::mt19937_64, whose sequence the C++ standard fixes; the
// integer and real distributions are our own because the standard library's
// are not fixed, so the same --seed gives the same prompts with libstdc++ and
// libc++.
#pragma once

#include <cstdint>
#include <random>

namespace vpet::proto {

class RandomSource {
 public:
  explicit RandomSource(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n), by rejection so that no residue is favoured. n > 0.
  std::uint64_t below(std::uint64_t n);
  // Uniform in [0, 1), with the 53 bits a double holds.
  double uniform();

  // A seed for the independent stream `stream` of `seed` (SplitMix64 of the
  // pair): each layer, and each use within a layer, draws from its own
  // stream, so one layer's draws never shift another's.
  static std::uint64_t derive(std::uint64_t seed, std::uint64_t stream);

 private:
  std::mt19937_64 engine_;
};

}  // namespace vpet::proto
