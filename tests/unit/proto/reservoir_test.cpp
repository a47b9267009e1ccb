// RowReservoir: keeps distinct rows, all of them while not full, and every
// row (and every subset) with equal probability however the stream is cut
// into offers; a chi-square test with fixed seeds, so it never flakes.
#include "vpet/proto/reservoir.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <set>
#include <vector>

namespace vpet::proto {
namespace {

// Rows whose single value is their position in the stream.
torch::Tensor numbered_rows(std::int64_t n) {
  return torch::arange(n, torch::kFloat32).unsqueeze(1);
}

std::vector<std::int64_t> held_numbers(const RowReservoir& reservoir) {
  const torch::Tensor rows = reservoir.rows().squeeze(1).to(torch::kInt64).contiguous();
  return std::vector<std::int64_t>(rows.data_ptr<std::int64_t>(),
                                   rows.data_ptr<std::int64_t>() + rows.numel());
}

// Offers rows 0..n-1 in pieces cut at `cuts` (which include 0 and n).
void offer_in_pieces(RowReservoir& reservoir, const torch::Tensor& rows,
                     const std::vector<std::int64_t>& cuts) {
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    reservoir.offer(rows.narrow(0, cuts[i], cuts[i + 1] - cuts[i]));
  }
}

TEST(RowReservoir, HoldsEverythingUntilFull) {
  RowReservoir reservoir(10, 1);
  EXPECT_FALSE(reservoir.rows().defined());
  reservoir.offer(numbered_rows(4));
  EXPECT_EQ(held_numbers(reservoir), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(reservoir.seen(), 4);
}

TEST(RowReservoir, AHugeCapacityCostsOnlyTheRowsHeld) {
  // Storage grows as rows come: a billion float rows up front would be 4 GB.
  RowReservoir reservoir(1'000'000'000, 1);
  offer_in_pieces(reservoir, numbered_rows(40), {0, 1, 3, 7, 15, 40});
  std::vector<std::int64_t> all(40);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(held_numbers(reservoir), all);
}

TEST(RowReservoir, HoldsDistinctRowsOnceFull) {
  RowReservoir reservoir(8, 2);
  const torch::Tensor rows = numbered_rows(1000);
  offer_in_pieces(reservoir, rows, {0, 3, 3, 500, 1000});
  const std::vector<std::int64_t> held = held_numbers(reservoir);
  ASSERT_EQ(held.size(), 8u);
  EXPECT_EQ(std::set<std::int64_t>(held.begin(), held.end()).size(), 8u);
  EXPECT_EQ(reservoir.seen(), 1000);
}

TEST(RowReservoir, SameSeedSameSample) {
  RowReservoir a(5, 7), b(5, 7), c(5, 8);
  const torch::Tensor rows = numbered_rows(200);
  for (RowReservoir* r : {&a, &b, &c}) r->offer(rows);
  EXPECT_EQ(held_numbers(a), held_numbers(b));
  EXPECT_NE(held_numbers(a), held_numbers(c));
}

// Σ (observed − expected)² / expected.
double chi_square(const std::vector<double>& observed, double expected) {
  double sum = 0;
  for (double o : observed) sum += (o - expected) * (o - expected) / expected;
  return sum;
}

TEST(RowReservoir, EveryRowEquallyLikelyToBeKept) {
  constexpr std::int64_t kRows = 40, kCapacity = 6, kTrials = 6000;
  const torch::Tensor rows = numbered_rows(kRows);
  std::vector<double> kept(kRows, 0.0);
  for (std::int64_t trial = 0; trial < kTrials; ++trial) {
    RowReservoir reservoir(kCapacity, RandomSource::derive(1234, std::uint64_t(trial)));
    // Uneven pieces, an empty one and one that straddles the filling point.
    offer_in_pieces(reservoir, rows, {0, 1, 1, 5, 13, 29, kRows});
    for (std::int64_t number : held_numbers(reservoir)) kept[std::size_t(number)] += 1;
  }
  // 39 degrees of freedom: P(χ² > 72.05) = 0.001 for a uniform sampler.
  EXPECT_LT(chi_square(kept, double(kTrials * kCapacity) / kRows), 72.05);
  // And not suspiciously perfect either: P(χ² < 17.9) = 0.001.
  EXPECT_GT(chi_square(kept, double(kTrials * kCapacity) / kRows), 17.9);
}

TEST(RowReservoir, EverySubsetEquallyLikely) {
  // 2 of 5 rows: 10 subsets, each with probability 1/10.
  constexpr std::int64_t kTrials = 10000;
  const torch::Tensor rows = numbered_rows(5);
  std::map<std::set<std::int64_t>, double> counts;
  for (std::int64_t trial = 0; trial < kTrials; ++trial) {
    RowReservoir reservoir(2, RandomSource::derive(99, std::uint64_t(trial)));
    offer_in_pieces(reservoir, rows, {0, 3, 5});
    const std::vector<std::int64_t> held = held_numbers(reservoir);
    counts[std::set<std::int64_t>(held.begin(), held.end())] += 1;
  }
  ASSERT_EQ(counts.size(), 10u);
  std::vector<double> observed;
  for (const auto& [subset, count] : counts) observed.push_back(count);
  // 9 degrees of freedom: P(χ² > 27.88) = 0.001.
  EXPECT_LT(chi_square(observed, kTrials / 10.0), 27.88);
}

}  // namespace
}  // namespace vpet::proto
