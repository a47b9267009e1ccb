#include "vpet/proto/layer_prototypes.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "vpet/proto/reservoir.h"
#include "vpet/proto/window_pool.h"

namespace vpet::proto {
namespace {

// The random streams of one layer (RandomSource::derive of the layer's seed).
enum Stream : std::uint64_t { kReservoirStream = 0, kThinningStream = 1, kClusteringStream = 2 };

std::uint64_t layer_seed(const PrototypeOptions& options, std::int64_t layer) {
  return RandomSource::derive(options.seed, static_cast<std::uint64_t>(layer));
}

torch::Tensor as_rows(const torch::Tensor& patches) {
  return patches.reshape({-1, patches.size(-1)});
}

// random: the reservoir holds P patch tokens.
class RandomTokenPrototypes final : public LayerPrototypes {
 public:
  RandomTokenPrototypes(const PrototypeOptions& options, std::int64_t layer)
      : reservoir_(options.prompts,
                   RandomSource::derive(layer_seed(options, layer), kReservoirStream)) {}

  void add(const torch::Tensor& patches) override { reservoir_.offer(as_rows(patches)); }
  std::int64_t candidates() const override { return reservoir_.seen(); }
  torch::Tensor finish(LayerSummary& summary) override {
    summary.tokens_seen = summary.candidates = reservoir_.seen();
    return reservoir_.rows().clone();
  }

 private:
  RowReservoir reservoir_;
};

// mean, max: every image's windows are pooled, the reservoir holds P pooled rows.
class PooledWindowPrototypes final : public LayerPrototypes {
 public:
  PooledWindowPrototypes(const PrototypeOptions& options, std::int64_t layer, std::int64_t patches)
      : pooling_(options.method == Method::Max ? Pooling::Max : Pooling::Mean),
        reservoir_(options.prompts,
                   RandomSource::derive(layer_seed(options, layer), kReservoirStream)) {
    const std::optional<WindowLayout> layout =
        window_layout(patches, options.prompts, options.windows);
    if (!layout) throw std::invalid_argument("PooledWindowPrototypes: no windows for these sizes");
    layout_ = *layout;
  }

  void add(const torch::Tensor& patches) override {
    tokens_seen_ += patches.size(0) * patches.size(1);
    reservoir_.offer(as_rows(pool_windows(patches, layout_, pooling_)));
  }
  std::int64_t candidates() const override { return reservoir_.seen(); }
  torch::Tensor finish(LayerSummary& summary) override {
    summary.tokens_seen = tokens_seen_;
    summary.candidates = reservoir_.seen();
    return reservoir_.rows().clone();
  }

 private:
  Pooling pooling_;
  WindowLayout layout_;
  RowReservoir reservoir_;
  std::int64_t tokens_seen_ = 0;
};

// kmeans: a bounded uniform sample of the tokens, clustered at the end.
class KMeansPrototypes final : public LayerPrototypes {
 public:
  KMeansPrototypes(const PrototypeOptions& options, std::int64_t layer)
      : options_(options),
        thinning_(RandomSource::derive(layer_seed(options, layer), kThinningStream)),
        clustering_(RandomSource::derive(layer_seed(options, layer), kClusteringStream)),
        sample_(options.max_tokens,
                RandomSource::derive(layer_seed(options, layer), kReservoirStream)) {}

  void add(const torch::Tensor& patches) override {
    const torch::Tensor rows = as_rows(patches);
    tokens_seen_ += rows.size(0);
    if (options_.sample_fraction >= 1.0) {
      sample_.offer(rows);
      return;
    }
    // Bernoulli thinning before the reservoir: a token enters with
    // probability sample_fraction, whatever the stream's length.
    std::vector<std::int64_t> kept;
    for (std::int64_t r = 0; r < rows.size(0); ++r) {
      if (thinning_.uniform() < options_.sample_fraction) kept.push_back(r);
    }
    if (kept.empty()) return;
    sample_.offer(rows.index_select(0, torch::tensor(kept, torch::kInt64).to(rows.device())));
  }
  std::int64_t candidates() const override { return std::min(sample_.seen(), sample_.capacity()); }
  torch::Tensor finish(LayerSummary& summary) override {
    const torch::Tensor points = sample_.rows().to(options_.device);
    KMeansResult result = kmeans(points, options_.prompts, options_.kmeans, clustering_);
    result.centres = result.centres.cpu();
    summary.tokens_seen = tokens_seen_;
    summary.candidates = points.size(0);
    summary.kmeans = result;
    return result.centres;
  }

 private:
  PrototypeOptions options_;
  RandomSource thinning_;
  RandomSource clustering_;
  RowReservoir sample_;
  std::int64_t tokens_seen_ = 0;
};

}  // namespace

std::string method_name(Method method) {
  switch (method) {
    case Method::Random:
      return "random";
    case Method::Mean:
      return "mean";
    case Method::Max:
      return "max";
    case Method::KMeans:
      return "kmeans";
  }
  return "?";
}

std::optional<Method> parse_method(const std::string& name) {
  for (Method method : {Method::Random, Method::Mean, Method::Max, Method::KMeans}) {
    if (method_name(method) == name) return method;
  }
  return std::nullopt;
}

std::unique_ptr<LayerPrototypes> make_layer_prototypes(const PrototypeOptions& options,
                                                       std::int64_t layer, std::int64_t patches) {
  switch (options.method) {
    case Method::Random:
      return std::make_unique<RandomTokenPrototypes>(options, layer);
    case Method::Mean:
    case Method::Max:
      return std::make_unique<PooledWindowPrototypes>(options, layer, patches);
    case Method::KMeans:
      return std::make_unique<KMeansPrototypes>(options, layer);
  }
  throw std::invalid_argument("make_layer_prototypes: unknown method");
}

}  // namespace vpet::proto
