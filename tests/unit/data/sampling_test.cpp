#include "vpet/data/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace vpet::data {
namespace {

TEST(SeededRandom, BelowStaysInRangeAndCoversIt) {
  SeededRandom random(7);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t v = random.below(5);
    ASSERT_LT(v, 5u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);
}

TEST(SeededRandom, FirstDrawsArePinned) {
  // std::mt19937_64's sequence is fixed by the standard (its 10000th output
  // from the default seed is 9981545732273789042). The draws below were
  // checked against an independent Python MT19937-64 running the same
  // rejection + partial Fisher–Yates; pinning them keeps subsets identical
  // across standard libraries and releases.
  std::mt19937_64 engine;
  engine.discard(9999);
  EXPECT_EQ(engine(), 9981545732273789042ull);
  SeededRandom random(0);
  EXPECT_EQ(random.choose(10, 3), (std::vector<size_t>{3, 4, 6}));
}

TEST(SeededRandom, ChooseIsSortedDistinctAndSeeded) {
  const std::vector<size_t> a = SeededRandom(1).choose(100, 10);
  const std::vector<size_t> b = SeededRandom(1).choose(100, 10);
  const std::vector<size_t> c = SeededRandom(2).choose(100, 10);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_EQ(a.size(), 10u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 10u);
  EXPECT_LT(a.back(), 100u);
}

TEST(SeededRandom, ChooseAllWhenAskedForMore) {
  EXPECT_EQ(SeededRandom(3).choose(4, 10), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_TRUE(SeededRandom(3).choose(0, 2).empty());
}

TEST(SeededRandom, RangesOfOneShuffleAreDisjointSplits) {
  const std::vector<size_t> first = SeededRandom(4).choose_range(50, 0, 8);
  const std::vector<size_t> rest = SeededRandom(4).choose_range(50, 8, 10);
  EXPECT_EQ(first, SeededRandom(4).choose(50, 8));
  ASSERT_EQ(rest.size(), 2u);
  for (size_t r : rest) EXPECT_EQ(std::count(first.begin(), first.end(), r), 0) << r;
  std::vector<size_t> both = first;
  both.insert(both.end(), rest.begin(), rest.end());
  std::sort(both.begin(), both.end());
  EXPECT_EQ(both, SeededRandom(4).choose(50, 10));
  EXPECT_EQ(SeededRandom(4).choose_range(5, 3, 9).size(), 2u);  // only 5 to draw
}

TEST(SeededRandom, StreamsDiffer) {
  EXPECT_NE(SeededRandom(1, 0).choose(100, 10), SeededRandom(1, 1).choose(100, 10));
  EXPECT_EQ(SeededRandom(1, 1).choose(100, 10), SeededRandom(1, 1).choose(100, 10));
}

}  // namespace
}  // namespace vpet::data
