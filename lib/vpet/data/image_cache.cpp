#include "vpet/data/image_cache.h"

#include <ATen/Parallel.h>

#include <stdexcept>

#include "vpet/data/sample_pipeline.h"
#include "vpet/error.h"

namespace vpet::data {

ImageCache::ImageCache(const Dataset& dataset, const image::Preprocess& preprocess,
                       const LoaderOptions& options, const image::Augment& augment,
                       std::uint64_t seed)
    : preprocess_(preprocess), augment_(augment), seed_(seed) {
  validate(options);
  image::validate(preprocess);
  image::validate(augment, preprocess);
  const size_t n = dataset.size();
  // The results are the cache itself, so the window spans the whole set.
  std::vector<image::Image> decoded(n);
  SamplePipeline pipeline(n, n, options.threads, [&](size_t sample, size_t slot) {
    decoded[slot] = augment.active()
                        ? image::augment_base(dataset.image(sample), augment, preprocess)
                        : image::apply_geometry(dataset.image(sample), preprocess);
  });
  images_.reserve(n);
  labels_.reserve(n);
  index_.reserve(n);
  for (size_t sample = 0; sample < n; ++sample) {
    try {
      pipeline.wait(sample);
    } catch (const Error& e) {
      if (!options.skip_bad) throw;
      ++skipped_;
      if (options.warn) options.warn(std::string(e.what()) + " (skipped)");
      continue;
    }
    images_.push_back(std::move(decoded[sample]));
    labels_.push_back(dataset.sample(sample).label);
    index_.push_back(dataset.sample(sample).index);
  }
}

size_t ImageCache::estimate_bytes(const Dataset& dataset, const image::Preprocess& preprocess) {
  // apply_geometry keeps at most preprocess.channels channels (a gray image
  // may stay 1 channel for a 3-channel model, never the reverse).
  return dataset.size() * static_cast<size_t>(preprocess.channels) * preprocess.size *
         preprocess.size;
}

size_t ImageCache::bytes() const {
  size_t total = 0;
  for (const image::Image& im : images_) total += im.pixels.size();
  return total;
}

Batch ImageCache::batch(const std::vector<int64_t>& rows, bool pinned, int64_t epoch) const {
  const int64_t b = static_cast<int64_t>(rows.size());
  const int64_t size = preprocess_.size;
  const int64_t floats = preprocess_.channels * size * size;
  const auto memory = torch::TensorOptions().pinned_memory(pinned);
  Batch out;
  out.images = torch::empty({b, preprocess_.channels, size, size}, memory);
  out.labels = torch::empty({b}, memory.dtype(torch::kInt64));
  out.index = torch::empty({b}, torch::kInt64);
  float* images = out.images.data_ptr<float>();
  int64_t* labels = out.labels.data_ptr<int64_t>();
  int64_t* index = out.index.data_ptr<int64_t>();
  for (int64_t r = 0; r < b; ++r) {
    if (rows[r] < 0 || static_cast<size_t>(rows[r]) >= images_.size()) {
      throw std::out_of_range("image cache row " + std::to_string(rows[r]) + " of " +
                              std::to_string(images_.size()));
    }
    labels[r] = labels_[rows[r]];
    index[r] = index_[rows[r]];
  }
  at::parallel_for(0, b, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const image::Image& base = images_[rows[r]];
      if (!augment_.active()) {
        image::normalize(base, preprocess_, images + r * floats);
        continue;
      }
      const image::AugmentDraw draw = image::draw_augment(augment_, preprocess_, base.height,
                                                          base.width, seed_, epoch, index[r]);
      image::normalize(image::apply_augment(base, draw, augment_, preprocess_), preprocess_,
                       images + r * floats);
    }
  });
  return out;
}

}  // namespace vpet::data
