// One layer's prompt prototypes, built from its patch tokens as they stream
// by, in memory that does not grow with the number of images:
//
//   random   P distinct patch tokens, uniformly drawn (a reservoir of P rows)
//   mean     P distinct rows drawn uniformly among every image's window means
//   max      the same with window maxima (window_pool.h has the windows)
//   kmeans   k-means (k = P) over a uniform sample of the tokens: each token
//            enters with probability sample_fraction, and a reservoir keeps
//            at most max_tokens of those
//
// Each layer draws from its own random streams, derived from the seed and
// the layer number, so the prompts of one layer do not depend on which other
// layers were built.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "vpet/proto/kmeans.h"
#include "vpet/proto/window_pool.h"

namespace vpet::proto {

enum class Method { Random, Mean, Max, KMeans };

// "random", "mean", "max", "kmeans".
std::string method_name(Method method);
std::optional<Method> parse_method(const std::string& name);

struct PrototypeOptions {
  Method method = Method::Random;
  std::int64_t prompts = 20;  // P
  std::uint64_t seed = 0;
  WindowRule windows = WindowRule::Reference;  // mean and max only
  // k-means only.
  double sample_fraction = 1.0;
  std::int64_t max_tokens = 10000;  // per layer; ≥ P
  KMeansOptions kmeans;
  torch::Device device = torch::kCPU;  // where k-means runs
};

struct LayerSummary {
  std::int64_t layer = 0;
  std::int64_t tokens_seen = 0;  // patch tokens offered
  // Rows the prompts were chosen among: tokens (random), pooled windows
  // (mean, max) or sampled tokens (kmeans).
  std::int64_t candidates = 0;
  std::optional<KMeansResult> kmeans;  // its centres are the prompts
};

class LayerPrototypes {
 public:
  virtual ~LayerPrototypes() = default;
  // One batch of the layer's patch tokens, [B, N, D] (prefix tokens removed).
  virtual void add(const torch::Tensor& patches) = 0;
  // Rows the prompts would be chosen among so far; finish() needs P of them.
  virtual std::int64_t candidates() const = 0;
  // The layer's P prototypes, [P, D] float32 on the CPU, and what went into
  // them.
  virtual torch::Tensor finish(LayerSummary& summary) = 0;
};

// A builder of `options.method` for layer number `layer`, whose images have
// `patches` tokens each. For mean and max, window_layout(patches, P) must
// exist (std::invalid_argument otherwise).
std::unique_ptr<LayerPrototypes> make_layer_prototypes(const PrototypeOptions& options,
                                                       std::int64_t layer, std::int64_t patches);

}  // namespace vpet::proto
