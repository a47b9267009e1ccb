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
  // Stream `stream` of `seed`: independent draws per stream (one per class),
  // so that what one stream draws does not shift another's.
  SeededRandom(uint64_t seed, uint64_t stream);

  // Uniform in [0, n) by rejection, so no residue class is favoured. n > 0.
  uint64_t below(uint64_t n);

  // k distinct positions out of [0, n) (all n when k >= n), in increasing
  // order: a partial Fisher–Yates shuffle, then sorted so that the subset
  // keeps the dataset's order.
  std::vector<size_t> choose(size_t n, size_t k) { return choose_range(n, 0, k); }
  // Draws begin..end-1 of that shuffle (as many as exist), in increasing
  // order. Ranges of one shuffle are disjoint, and the first k draws are
  // choose(n, k)'s: disjoint splits of one seeded draw.
  std::vector<size_t> choose_range(size_t n, size_t begin, size_t end);

 private:
  std::mt19937_64 engine_;
};

}  // namespace vpet::data
