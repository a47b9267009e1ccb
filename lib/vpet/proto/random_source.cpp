#include "vpet/proto/random_source.h"

namespace vpet::proto {

std::uint64_t RandomSource::below(std::uint64_t n) {
  // Draws under 2^64 mod n would make the low residues more likely; skip them.
  const std::uint64_t threshold = (0 - n) % n;
  for (;;) {
    const std::uint64_t r = engine_();
    if (r >= threshold) return r % n;
  }
}

double RandomSource::uniform() {
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

std::uint64_t RandomSource::derive(std::uint64_t seed, std::uint64_t stream) {
  // SplitMix64's finaliser over the seed and the stream number: consecutive
  // streams get unrelated seeds.
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace vpet::proto
