#include "vpet/data/sampling.h"

#include <algorithm>
#include <numeric>

namespace vpet::data {

uint64_t SeededRandom::below(uint64_t n) {
  // Values under 2^64 mod n would make the low residues more likely; skip them.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = engine_();
    if (r >= threshold) return r % n;
  }
}

std::vector<size_t> SeededRandom::choose(size_t n, size_t k) {
  std::vector<size_t> positions(n);
  std::iota(positions.begin(), positions.end(), size_t{0});
  if (k >= n) return positions;
  for (size_t i = 0; i < k; ++i) {
    const size_t j = i + static_cast<size_t>(below(n - i));
    std::swap(positions[i], positions[j]);
  }
  positions.resize(k);
  std::sort(positions.begin(), positions.end());
  return positions;
}

}  // namespace vpet::data
