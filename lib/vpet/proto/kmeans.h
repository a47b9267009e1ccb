// k-means on the rows of a points tensor [N, D]: k-means++ seeding (Arthur
// and Vassilvitskii, 2007), then Lloyd iterations or mini-batch updates
// (Sculley, 2010). Deterministic for a RandomSource's seed (and, as every
// float computation, for a thread count and device).
//
// Distances come from ‖x‖² − 2·x·c + ‖c‖² over chunks of points, so no
// matrix larger than a chunk × k exists; centre sums are accumulated in
// double. Runs on the device the points are on.
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "vpet/proto/random_source.h"

namespace vpet::proto {

struct KMeansOptions {
  std::int64_t max_iterations = 100;  // Lloyd iterations, or mini-batch steps
  // Stop once the centres moved, in all, less than this times the mean
  // per-feature variance of the points (Σ‖c_new − c_old‖², scikit-learn's
  // convention): a tolerance independent of the data's scale.
  double tolerance = 1e-4;
  // 0: full Lloyd iterations over every point. B > 0: each step updates the
  // centres from B points drawn with replacement, each centre moving to the
  // running mean of every point ever assigned to it.
  std::int64_t minibatch = 0;
};

struct KMeansResult {
  torch::Tensor centres;        // [k, D] float32
  double inertia = 0;           // Σ over the points of the squared distance to the nearest centre
  std::int64_t iterations = 0;  // Lloyd iterations or mini-batch steps run
  bool converged = false;       // stopped by the tolerance, not by max_iterations
};

struct Assignment {
  torch::Tensor nearest;           // [N] int64: index of the nearest centre (first on ties)
  torch::Tensor squared_distance;  // [N] float32: squared distance to it
};

// Each point's nearest centre. points [N, D], centres [k, D].
Assignment assign_to_nearest(const torch::Tensor& points, const torch::Tensor& centres);

// k centres drawn from the points: the first uniformly, each next one with
// probability proportional to its squared distance to the nearest centre
// so far (uniformly again when every point sits on a centre). Draw order:
// random.below(N) for the first, then one random.uniform() per centre,
// scaled by the total of the squared distances and looked up in their
// running sum. Needs k ≤ N.
torch::Tensor kmeans_plus_plus(const torch::Tensor& points, std::int64_t k, RandomSource& random);

// Lloyd's iterations from `centres` [k, D]: assign every point, move every
// centre to the mean of its points (a centre left without points stays).
KMeansResult lloyd(const torch::Tensor& points, const torch::Tensor& centres,
                   const KMeansOptions& options);

// Mini-batch k-means from `centres` (options.minibatch > 0).
KMeansResult minibatch_kmeans(const torch::Tensor& points, const torch::Tensor& centres,
                              const KMeansOptions& options, RandomSource& random);

// k-means++ seeding, then Lloyd or mini-batch updates as options say.
KMeansResult kmeans(const torch::Tensor& points, std::int64_t k, const KMeansOptions& options,
                    RandomSource& random);

}  // namespace vpet::proto
