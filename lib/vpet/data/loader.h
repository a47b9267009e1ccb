// Batches of decoded, preprocessed images for one pass over a dataset.
//
// Decoding, geometry and normalisation run on a pool of threads a bounded
// number of batches ahead of the consumer, so the model works on batch k
// while batches k+1.. are decoded. Batches come in dataset order whatever
// the thread count or timing.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "vpet/data/dataset.h"
#include "vpet/image/augment.h"
#include "vpet/image/preprocess.h"

namespace vpet::data {

class SamplePipeline;

struct Batch {
  torch::Tensor images;  // float32 [B, C, S, S], normalised
  torch::Tensor labels;  // int64 [B]
  torch::Tensor index;   // int64 [B], the samples' positions in the full listing
  // int64 [B, 5] each sample's augmentation draw (top, left, height, width,
  // flip; image/augment.h), where the loader augments; else undefined.
  torch::Tensor augment;
};

struct LoaderOptions {
  int64_t batch = 64;
  int threads = 0;       // decoding threads; 0: all cores
  int64_t prefetch = 2;  // batches decoded ahead of the consumer (at least 1)
  // Drop an image that fails to decode (with a warning) instead of ending
  // the run. Only vpet::Error (bad data) is skipped.
  bool skip_bad = false;
  // Receives the warning for each skipped image, on the consumer's thread
  // and in dataset order. Unset: warnings are dropped.
  std::function<void(const std::string&)> warn;
  // The samples of the pass: [first, first + count) of the dataset, clipped
  // to its end (vit-extract --shard); the default is every sample.
  size_t first = 0;
  size_t count = static_cast<size_t>(-1);
};

class BatchLoader {
 public:
  // The dataset must outlive the loader. Throws vpet::UsageError for a batch
  // size or prefetch below 1.
  BatchLoader(const Dataset& dataset, const image::Preprocess& preprocess, LoaderOptions options);
  // The same with every image augmented as drawn for (seed, epoch, sample).
  BatchLoader(const Dataset& dataset, const image::Preprocess& preprocess, LoaderOptions options,
              const image::Augment& augment, std::uint64_t seed, std::int64_t epoch);
  // Joins the decoding threads, also mid-stream.
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch (full-size except possibly the last; skipped images are
  // made up from the following samples), or false at the end of the pass.
  // Throws the vpet::Error of an image that failed to decode (naming the
  // file) unless skip_bad; after an error every call throws it again.
  bool next(Batch& batch);

  size_t skipped() const { return skipped_; }
  // The samples this pass hands out (options' first/count, clipped),
  // skipped ones included.
  size_t samples() const { return end_ - first_; }

 private:
  const Dataset& dataset_;
  const image::Preprocess preprocess_;
  const LoaderOptions options_;
  const size_t sample_floats_;             // C × S × S
  std::vector<std::vector<float>> slots_;  // one normalised image per pipeline slot
  const image::Augment augment_;
  std::vector<image::AugmentDraw> draws_;  // per slot, when augmenting
  std::unique_ptr<SamplePipeline> pipeline_;
  size_t first_ = 0, end_ = 0;  // the pass's samples, [first_, end_)
  size_t cursor_ = 0;           // next sample to hand out, from first_
  size_t skipped_ = 0;
  std::exception_ptr failure_;
};

// LoaderOptions checks shared by the loader and the image cache.
void validate(const LoaderOptions& options);

}  // namespace vpet::data
