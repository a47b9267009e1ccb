// A dataset decoded once and kept as uint8 after geometry (DESIGN §7:
// "decode images once per run; keep uint8 in memory when the set fits"), for
// training that visits every image each epoch. Normalisation is cheap and is
// done per batch. With train-time augmentation (image/augment.h) the cache
// keeps each image's augmentation base (resized for a random crop, or as
// decoded for a random resized crop) and every batch draws each sample's crop
// and flip from (seed, epoch, sample index).
#pragma once

#include <cstdint>
#include <vector>

#include "vpet/data/dataset.h"
#include "vpet/data/loader.h"
#include "vpet/image/augment.h"
#include "vpet/image/preprocess.h"

namespace vpet::data {

class ImageCache {
 public:
  // Decodes every sample on options.threads threads (batch and prefetch are
  // not used). skip_bad and warn behave as in BatchLoader; otherwise the
  // first bad image (in dataset order) throws its vpet::Error.
  ImageCache(const Dataset& dataset, const image::Preprocess& preprocess,
             const LoaderOptions& options, const image::Augment& augment = {},
             std::uint64_t seed = 0);

  // Pixel bytes an ImageCache of this dataset would hold, at most: decide
  // with it whether the set fits before building one.
  static size_t estimate_bytes(const Dataset& dataset, const image::Preprocess& preprocess);

  size_t size() const { return images_.size(); }
  const image::Image& image(size_t row) const { return images_[row]; }
  int64_t label(size_t row) const { return labels_[row]; }
  int64_t index(size_t row) const { return index_[row]; }
  size_t bytes() const;
  size_t skipped() const { return skipped_; }

  // The given rows normalised into a batch, in the order given (a shuffled
  // epoch passes a permutation's slice), augmented as drawn for `epoch`.
  // `pinned`: in page-locked memory, ready for an asynchronous copy to a GPU.
  Batch batch(const std::vector<int64_t>& rows, bool pinned = false, int64_t epoch = 0) const;
  bool augments() const { return augment_.active(); }

 private:
  image::Preprocess preprocess_;
  image::Augment augment_;
  std::uint64_t seed_;
  std::vector<image::Image> images_;
  std::vector<int64_t> labels_;
  std::vector<int64_t> index_;
  size_t skipped_ = 0;
};

}  // namespace vpet::data
