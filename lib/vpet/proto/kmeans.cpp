#include "vpet/proto/kmeans.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace vpet::proto {
namespace {

// Points per distance chunk: a chunk × k matrix at a time.
constexpr std::int64_t kChunkRows = 4096;

void check_points(const torch::Tensor& points, std::int64_t k) {
  if (points.dim() != 2) throw std::invalid_argument("k-means: points must be [N, D]");
  if (k < 1 || k > points.size(0)) {
    throw std::invalid_argument("k-means: k must be in 1..N");
  }
}

// The centre shift below which the iterations stop.
double shift_threshold(const torch::Tensor& points64, double tolerance) {
  if (points64.size(0) < 2) return 0.0;
  return tolerance * points64.var(0, /*unbiased=*/false).mean().item<double>();
}

// Σ_i (points[i] assigned to c) and the count, per centre, in double.
struct CentreSums {
  torch::Tensor sums;    // [k, D] double
  torch::Tensor counts;  // [k] double
};

CentreSums sum_by_centre(const torch::Tensor& points64, const torch::Tensor& nearest,
                         std::int64_t k) {
  CentreSums out;
  out.sums =
      torch::zeros({k, points64.size(1)}, points64.options()).index_add_(0, nearest, points64);
  out.counts = torch::bincount(nearest, /*weights=*/{}, k).to(points64.options());
  return out;
}

double total_shift(const torch::Tensor& before, const torch::Tensor& after) {
  return (after - before).square().sum().item<double>();
}

KMeansResult finished(const torch::Tensor& points, const torch::Tensor& centres64,
                      std::int64_t iterations, bool converged) {
  KMeansResult result;
  result.centres = centres64.to(torch::kFloat32);
  result.inertia = assign_to_nearest(points, result.centres)
                       .squared_distance.sum(0, false, torch::kDouble)
                       .item<double>();
  result.iterations = iterations;
  result.converged = converged;
  return result;
}

}  // namespace

Assignment assign_to_nearest(const torch::Tensor& points, const torch::Tensor& centres) {
  const torch::Tensor centres_like = centres.to(points.options());
  const torch::Tensor centre_norms = centres_like.square().sum(1);  // [k]
  std::vector<torch::Tensor> nearest, distance;
  for (std::int64_t start = 0; start < points.size(0); start += kChunkRows) {
    const torch::Tensor chunk =
        points.narrow(0, start, std::min(kChunkRows, points.size(0) - start));
    // ‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖², clamped: rounding may make it slightly negative.
    const torch::Tensor squared =
        torch::addmm(centre_norms.unsqueeze(0), chunk, centres_like.t(), /*beta=*/1, /*alpha=*/-2)
            .add_(chunk.square().sum(1, true))
            .clamp_min_(0);
    auto [values, indices] = squared.min(1);
    distance.push_back(values);
    nearest.push_back(indices);
  }
  return {torch::cat(nearest), torch::cat(distance)};
}

torch::Tensor kmeans_plus_plus(const torch::Tensor& points, std::int64_t k, RandomSource& random) {
  check_points(points, k);
  const std::int64_t n = points.size(0);
  std::vector<std::int64_t> chosen = {
      static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(n)))};
  auto squared_distance_to = [&](std::int64_t index) {
    return (points - points[index]).square().sum(1, false, torch::kDouble);
  };
  torch::Tensor nearest = squared_distance_to(chosen[0]);  // [N] double
  while (static_cast<std::int64_t>(chosen.size()) < k) {
    const torch::Tensor running = nearest.cumsum(0).cpu().contiguous();
    const double* sums = running.data_ptr<double>();
    const double total = sums[n - 1];
    const double target = random.uniform() * total;
    std::int64_t next = 0;
    if (total > 0) {
      // The first point whose running sum passes the target; points at
      // distance 0 (the centres themselves) are never picked.
      next = std::upper_bound(sums, sums + n, target) - sums;
      next = std::min(next, n - 1);
    } else {
      next = static_cast<std::int64_t>(random.below(static_cast<std::uint64_t>(n)));
    }
    chosen.push_back(next);
    nearest = torch::minimum(nearest, squared_distance_to(next));
  }
  return points.index_select(0, torch::tensor(chosen, torch::kInt64).to(points.device()))
      .to(torch::kFloat32);
}

KMeansResult lloyd(const torch::Tensor& points, const torch::Tensor& centres,
                   const KMeansOptions& options) {
  check_points(points, centres.size(0));
  const std::int64_t k = centres.size(0);
  const torch::Tensor points64 = points.to(torch::kDouble);
  const double threshold = shift_threshold(points64, options.tolerance);
  torch::Tensor current = centres.to(points.device(), torch::kDouble);
  for (std::int64_t iteration = 1; iteration <= options.max_iterations; ++iteration) {
    const Assignment assignment = assign_to_nearest(points, current.to(torch::kFloat32));
    const CentreSums by_centre = sum_by_centre(points64, assignment.nearest, k);
    const torch::Tensor occupied = by_centre.counts.gt(0).unsqueeze(1);
    const torch::Tensor next = torch::where(
        occupied, by_centre.sums / by_centre.counts.clamp_min(1).unsqueeze(1), current);
    const double shift = total_shift(current, next);
    current = next;
    if (shift <= threshold) return finished(points, current, iteration, true);
  }
  return finished(points, current, options.max_iterations, false);
}

KMeansResult minibatch_kmeans(const torch::Tensor& points, const torch::Tensor& centres,
                              const KMeansOptions& options, RandomSource& random) {
  check_points(points, centres.size(0));
  if (options.minibatch < 1) throw std::invalid_argument("minibatch_kmeans: minibatch must be > 0");
  const std::int64_t k = centres.size(0);
  const std::uint64_t n = static_cast<std::uint64_t>(points.size(0));
  const double threshold = shift_threshold(points.to(torch::kDouble), options.tolerance);
  torch::Tensor current = centres.to(points.device(), torch::kDouble);
  // Points assigned to each centre over all steps so far: each step moves a
  // centre to the running mean of them, i.e. with rate 1/count per point.
  torch::Tensor counts = torch::zeros({k}, current.options());
  std::vector<std::int64_t> drawn(static_cast<std::size_t>(options.minibatch));
  for (std::int64_t step = 1; step <= options.max_iterations; ++step) {
    for (auto& index : drawn) index = static_cast<std::int64_t>(random.below(n));
    const torch::Tensor batch =
        points.index_select(0, torch::tensor(drawn, torch::kInt64).to(points.device()));
    const Assignment assignment = assign_to_nearest(batch, current.to(torch::kFloat32));
    const CentreSums by_centre = sum_by_centre(batch.to(torch::kDouble), assignment.nearest, k);
    const torch::Tensor total = counts + by_centre.counts;
    const torch::Tensor moved =
        (current * counts.unsqueeze(1) + by_centre.sums) / total.clamp_min(1).unsqueeze(1);
    const torch::Tensor next = torch::where(by_centre.counts.gt(0).unsqueeze(1), moved, current);
    const double shift = total_shift(current, next);
    current = next;
    counts = total;
    if (shift <= threshold) return finished(points, current, step, true);
  }
  return finished(points, current, options.max_iterations, false);
}

KMeansResult kmeans(const torch::Tensor& points, std::int64_t k, const KMeansOptions& options,
                    RandomSource& random) {
  const torch::Tensor seeds = kmeans_plus_plus(points, k, random);
  if (options.minibatch > 0) return minibatch_kmeans(points, seeds, options, random);
  return lloyd(points, seeds, options);
}

}  // namespace vpet::proto
