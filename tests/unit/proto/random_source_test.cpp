// RandomSource: draws in range, reproducible, pinned to the standard's
// engine; derived streams differ.
#include "vpet/proto/random_source.h"

#include <gtest/gtest.h>

#include <set>

namespace vpet::proto {
namespace {

TEST(RandomSource, SameSeedSameDrawsAndInRange) {
  RandomSource a(5), b(5);
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t x = a.below(7);
    ASSERT_EQ(x, b.below(7));
    ASSERT_LT(x, 7u);
    const double u = a.uniform();
    ASSERT_EQ(u, b.uniform());
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(RandomSource, UniformUsesTheTop53BitsOfTheEngine) {
  std::mt19937_64 engine(9);
  RandomSource random(9);
  EXPECT_EQ(random.uniform(), static_cast<double>(engine() >> 11) / 9007199254740992.0);
}

TEST(RandomSource, DerivedStreamsAreDistinct) {
  std::set<std::uint64_t> seeds;
  for (std::uint64_t seed : {0u, 1u}) {
    for (std::uint64_t stream = 0; stream < 100; ++stream) {
      seeds.insert(RandomSource::derive(seed, stream));
    }
  }
  EXPECT_EQ(seeds.size(), 200u);
  EXPECT_EQ(RandomSource::derive(3, 4), RandomSource::derive(3, 4));
}

}  // namespace
}  // namespace vpet::proto
