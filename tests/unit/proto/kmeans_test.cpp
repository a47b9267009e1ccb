// k-means against a brute-force reference: k-means++ seeding and Lloyd's
// iterations written out point by point in double, from the same seed; the
// chunked nearest-centre search; mini-batch updates; determinism.
#include "vpet/proto/kmeans.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <vector>

namespace vpet::proto {
namespace {

using Matrix = std::vector<std::vector<double>>;

Matrix to_matrix(const torch::Tensor& t) {
  const torch::Tensor d = t.to(torch::kFloat64).contiguous();
  Matrix m(std::size_t(d.size(0)), std::vector<double>(std::size_t(d.size(1))));
  for (std::int64_t i = 0; i < d.size(0); ++i) {
    for (std::int64_t j = 0; j < d.size(1); ++j) {
      m[std::size_t(i)][std::size_t(j)] = d.data_ptr<double>()[i * d.size(1) + j];
    }
  }
  return m;
}

double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (std::size_t j = 0; j < a.size(); ++j) sum += (a[j] - b[j]) * (a[j] - b[j]);
  return sum;
}

std::size_t nearest_centre(const std::vector<double>& point, const Matrix& centres) {
  std::size_t best = 0;
  for (std::size_t c = 1; c < centres.size(); ++c) {
    if (squared_distance(point, centres[c]) < squared_distance(point, centres[best])) best = c;
  }
  return best;
}

// k-means++ as the paper states it, with the library's draw order.
std::vector<std::size_t> direct_seeding(const Matrix& points, std::size_t k, RandomSource& random) {
  std::vector<std::size_t> chosen = {std::size_t(random.below(points.size()))};
  while (chosen.size() < k) {
    std::vector<double> nearest(points.size());
    double total = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      nearest[i] = std::numeric_limits<double>::infinity();
      for (std::size_t c : chosen)
        nearest[i] = std::min(nearest[i], squared_distance(points[i], points[c]));
      total += nearest[i];
    }
    const double target = random.uniform() * total;
    double running = 0;
    std::size_t next = points.size() - 1;
    for (std::size_t i = 0; i < points.size(); ++i) {
      running += nearest[i];
      if (running > target) {
        next = i;
        break;
      }
    }
    chosen.push_back(next);
  }
  return chosen;
}

struct DirectResult {
  Matrix centres;
  std::int64_t iterations = 0;
  bool converged = false;
  double inertia = 0;
};

// Lloyd's algorithm, one point and one centre at a time.
DirectResult direct_lloyd(const Matrix& points, Matrix centres, std::int64_t max_iterations,
                          double tolerance) {
  const std::size_t n = points.size(), d = points[0].size(), k = centres.size();
  double mean_variance = 0;
  for (std::size_t j = 0; j < d; ++j) {
    double mean = 0, square = 0;
    for (const auto& p : points) mean += p[j] / double(n);
    for (const auto& p : points) square += (p[j] - mean) * (p[j] - mean) / double(n);
    mean_variance += square / double(d);
  }
  DirectResult out;
  for (std::int64_t iteration = 1; iteration <= max_iterations; ++iteration) {
    Matrix sums(k, std::vector<double>(d, 0.0));
    std::vector<double> counts(k, 0.0);
    for (const auto& p : points) {
      const std::size_t c = nearest_centre(p, centres);
      for (std::size_t j = 0; j < d; ++j) sums[c][j] += p[j];
      counts[c] += 1;
    }
    double shift = 0;
    for (std::size_t c = 0; c < k; ++c) {
      if (counts[c] == 0) continue;
      for (std::size_t j = 0; j < d; ++j) {
        const double moved = sums[c][j] / counts[c];
        shift += (moved - centres[c][j]) * (moved - centres[c][j]);
        centres[c][j] = moved;
      }
    }
    out.iterations = iteration;
    if (shift <= tolerance * mean_variance) {
      out.converged = true;
      break;
    }
  }
  for (const auto& p : points)
    out.inertia += squared_distance(p, centres[nearest_centre(p, centres)]);
  out.centres = centres;
  return out;
}

std::size_t distinct_count(const torch::Tensor& indices) {
  const torch::Tensor values = indices.contiguous();
  return std::set<std::int64_t>(values.data_ptr<std::int64_t>(),
                                values.data_ptr<std::int64_t>() + values.numel())
      .size();
}

// Four overlapping blobs in 5-D, from a fixed generator.
torch::Tensor blobs(std::int64_t per_blob, double spread, std::uint64_t seed) {
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  const torch::Tensor centres = torch::randn({4, 5}, generator) * 3;
  const torch::Tensor noise = torch::randn({4, per_blob, 5}, generator) * spread;
  return (centres.unsqueeze(1) + noise).reshape({-1, 5});
}

TEST(KMeans, PlusPlusSeedingMatchesTheDirectDefinition) {
  const torch::Tensor points = blobs(40, 1.0, 1);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    RandomSource library(seed), direct(seed);
    const torch::Tensor seeds = kmeans_plus_plus(points, 6, library);
    const std::vector<std::size_t> chosen = direct_seeding(to_matrix(points), 6, direct);
    ASSERT_EQ(seeds.size(0), 6);
    for (std::size_t c = 0; c < chosen.size(); ++c) {
      EXPECT_TRUE(torch::equal(seeds[std::int64_t(c)], points[std::int64_t(chosen[c])]))
          << "seed " << seed << ", centre " << c;
    }
  }
}

TEST(KMeans, LloydMatchesTheDirectAlgorithmFromTheSameSeeds) {
  const torch::Tensor points = blobs(50, 1.5, 2);
  RandomSource random(11);
  const torch::Tensor seeds = kmeans_plus_plus(points, 5, random);
  // Cut short after 1, 2 and 3 iterations, then run to convergence.
  for (std::int64_t iterations : {1, 2, 3, 100}) {
    SCOPED_TRACE("max iterations " + std::to_string(iterations));
    KMeansOptions options;
    options.max_iterations = iterations;
    const KMeansResult result = lloyd(points, seeds, options);
    const DirectResult direct = direct_lloyd(to_matrix(points), to_matrix(seeds), iterations, 1e-4);
    EXPECT_EQ(result.iterations, direct.iterations);
    EXPECT_EQ(result.converged, direct.converged);
    EXPECT_NEAR(result.inertia, direct.inertia, 1e-4 * direct.inertia);
    const Matrix centres = to_matrix(result.centres);
    for (std::size_t c = 0; c < centres.size(); ++c) {
      for (std::size_t j = 0; j < centres[c].size(); ++j) {
        EXPECT_NEAR(centres[c][j], direct.centres[c][j], 1e-5);
      }
    }
  }
}

TEST(KMeans, NearestCentreInChunksEqualsBruteForce) {
  torch::Generator generator = at::detail::createCPUGenerator(3);
  const torch::Tensor points = torch::randn({9000, 4}, generator);  // more than one chunk
  const torch::Tensor centres = torch::randn({7, 4}, generator);
  const Assignment assignment = assign_to_nearest(points, centres);
  const auto [distance, nearest] = torch::cdist(points, centres).square().min(1);
  EXPECT_TRUE(torch::equal(assignment.nearest, nearest));
  EXPECT_TRUE(torch::allclose(assignment.squared_distance, distance, 1e-4, 1e-4));
}

TEST(KMeans, SameSeedSameCentresAndTheBlobsAreFound) {
  const torch::Tensor points = blobs(100, 0.3, 4);
  KMeansOptions options;
  RandomSource a(5), b(5);
  const KMeansResult first = kmeans(points, 4, options, a);
  const KMeansResult second = kmeans(points, 4, options, b);
  EXPECT_TRUE(torch::equal(first.centres, second.centres));
  EXPECT_TRUE(first.converged);
  // Each blob's mean is a centre.
  const torch::Tensor means = points.reshape({4, 100, 5}).mean(1);
  const Assignment match = assign_to_nearest(means, first.centres);
  EXPECT_EQ(distinct_count(match.nearest), 4u);
  EXPECT_TRUE(torch::allclose(first.centres.index_select(0, match.nearest), means, 1e-5, 1e-5));
}

TEST(KMeans, MiniBatchApproachesTheBlobsDeterministically) {
  const torch::Tensor points = blobs(200, 0.3, 6);
  KMeansOptions options;
  options.minibatch = 64;
  options.max_iterations = 200;
  RandomSource a(8), b(8);
  const KMeansResult first = kmeans(points, 4, options, a);
  const KMeansResult second = kmeans(points, 4, options, b);
  EXPECT_TRUE(torch::equal(first.centres, second.centres));
  EXPECT_LE(first.iterations, 200);
  const torch::Tensor means = points.reshape({4, 200, 5}).mean(1);
  const Assignment match = assign_to_nearest(means, first.centres);
  EXPECT_EQ(distinct_count(match.nearest), 4u);
  EXPECT_LT(match.squared_distance.max().item<double>(), 0.05);
  // Its inertia is close to full Lloyd's.
  RandomSource c(8);
  const KMeansResult full = kmeans(points, 4, KMeansOptions{}, c);
  EXPECT_LT(first.inertia, 1.05 * full.inertia);
}

TEST(KMeans, FewerDistinctPointsThanCentres) {
  // Three distinct points, five centres: seeding falls back to uniform draws.
  const torch::Tensor points = torch::tensor({0.0f, 0.0f, 1.0f, 1.0f, 2.0f, 2.0f}).reshape({6, 1});
  RandomSource random(1);
  const KMeansResult result = kmeans(points, 5, KMeansOptions{}, random);
  EXPECT_EQ(result.centres.size(0), 5);
  EXPECT_DOUBLE_EQ(result.inertia, 0.0);
  EXPECT_TRUE(result.converged);
}

}  // namespace
}  // namespace vpet::proto
