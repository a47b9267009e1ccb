// Seeded sampling for dataset subsets (per-class and overall limits).
//
// The generator and the integer distribution are our own on purpose:
// std::mt19937_64's output is fixed by the standard, but std::shuffle and
// std::uniform_int_distribution are not, so a subset chosen with them would
// differ between libstdc++ and libc++ for the same --seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace vpet::data {

class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n) by rejection, so no residue class is favoured. n > 0.
  uint64_t below(uint64_t n);

  // k distinct positions out of [0, n) (all n when k >= n), in increasing
  // order: a partial Fisher–Yates shuffle, then sorted so that the subset
  // keeps the dataset's order.
  std::vector<size_t> choose(size_t n, size_t k);

 private:
  std::mt19937_64 engine_;
};

}  // namespace vpet::data
