#include "vpet/data/sampling.h"

#include <algorithm>
#include <numeric>

namespace vpet::data {

namespace {

// SplitMix64's output function: a bijection that scatters nearby inputs.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

SeededRandom::SeededRandom(uint64_t seed, uint64_t stream) : engine_(mix(mix(seed) ^ stream)) {}

uint64_t SeededRandom::below(uint64_t n) {
  // Values under 2^64 mod n would make the low residues more likely; skip them.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = engine_();
    if (r >= threshold) return r % n;
  }
}

std::vector<size_t> SeededRandom::choose_range(size_t n, size_t begin, size_t end) {
  std::vector<size_t> positions(n);
  std::iota(positions.begin(), positions.end(), size_t{0});
  if (begin == 0 && end >= n) return positions;
  end = std::min(end, n);
  begin = std::min(begin, end);
  for (size_t i = 0; i < end; ++i) {
    const size_t j = i + static_cast<size_t>(below(n - i));
    std::swap(positions[i], positions[j]);
  }
  positions.resize(end);
  positions.erase(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(begin));
  std::sort(positions.begin(), positions.end());
  return positions;
}

}  // namespace vpet::data
