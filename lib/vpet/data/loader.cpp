#include "vpet/data/loader.h"

#include <algorithm>
#include <cstring>

#include "vpet/data/sample_pipeline.h"
#include "vpet/error.h"
#include "vpet/io/fault_point.h"

namespace vpet::data {

void validate(const LoaderOptions& options) {
  if (options.batch < 1) {
    throw UsageError("batch size must be at least 1, got " + std::to_string(options.batch));
  }
  if (options.prefetch < 1) {
    throw UsageError("prefetch must be at least 1 batch, got " + std::to_string(options.prefetch));
  }
  if (options.threads < 0) {
    throw UsageError("threads must be 0 (all cores) or more, got " +
                     std::to_string(options.threads));
  }
}

BatchLoader::BatchLoader(const Dataset& dataset, const image::Preprocess& preprocess,
                         LoaderOptions options)
    : BatchLoader(dataset, preprocess, std::move(options), image::Augment{}, 0, 0) {}

BatchLoader::BatchLoader(const Dataset& dataset, const image::Preprocess& preprocess,
                         LoaderOptions options, const image::Augment& augment, std::uint64_t seed,
                         std::int64_t epoch)
    : dataset_(dataset),
      preprocess_(preprocess),
      options_(std::move(options)),
      sample_floats_(static_cast<size_t>(preprocess.channels) * preprocess.size * preprocess.size),
      augment_(augment) {
  validate(options_);
  first_ = std::min(options_.first, dataset_.size());
  end_ = first_ + std::min(options_.count, dataset_.size() - first_);
  cursor_ = first_;
  image::validate(preprocess_);
  image::validate(augment_, preprocess_);
  const size_t window = static_cast<size_t>(options_.batch * options_.prefetch);
  slots_.resize(window);
  if (augment_.active()) draws_.resize(window);
  // The pipeline counts from 0: its sample k is the dataset's first_ + k.
  pipeline_ = std::make_unique<SamplePipeline>(
      end_ - first_, window, options_.threads, [this, seed, epoch](size_t k, size_t slot) {
        const size_t sample = first_ + k;
        std::vector<float>& out = slots_[slot];
        out.resize(sample_floats_);
        if (!augment_.active()) {
          image::normalize(image::apply_geometry(dataset_.image(sample), preprocess_), preprocess_,
                           out.data());
          return;
        }
        const image::Image base =
            image::augment_base(dataset_.image(sample), augment_, preprocess_);
        draws_[slot] = image::draw_augment(augment_, preprocess_, base.height, base.width, seed,
                                           epoch, dataset_.sample(sample).index);
        image::normalize(image::apply_augment(base, draws_[slot], augment_, preprocess_),
                         preprocess_, out.data());
      });
}

BatchLoader::~BatchLoader() = default;

bool BatchLoader::next(Batch& batch) {
  if (failure_) std::rethrow_exception(failure_);
  if (cursor_ >= end_) return false;
  const int64_t size = preprocess_.size;
  torch::Tensor images = torch::empty({options_.batch, preprocess_.channels, size, size});
  torch::Tensor labels = torch::empty({options_.batch}, torch::kInt64);
  torch::Tensor index = torch::empty({options_.batch}, torch::kInt64);
  torch::Tensor draws =
      augment_.active() ? torch::empty({options_.batch, 5}, torch::kInt64) : torch::Tensor();
  float* image_data = images.data_ptr<float>();
  int64_t* label_data = labels.data_ptr<int64_t>();
  int64_t* index_data = index.data_ptr<int64_t>();
  int64_t rows = 0;
  while (rows < options_.batch && cursor_ < end_) {
    const size_t sample = cursor_++;
    const size_t k = sample - first_;  // the pipeline's number for it
    size_t slot = 0;
    try {
      slot = pipeline_->wait(k);
    } catch (const Error& e) {
      if (!options_.skip_bad) {
        failure_ = std::current_exception();
        pipeline_.reset();  // stop decoding: the run is over
        throw;
      }
      pipeline_->release(k);
      ++skipped_;
      if (options_.warn) options_.warn(std::string(e.what()) + " (skipped)");
      continue;
    } catch (...) {
      failure_ = std::current_exception();
      pipeline_.reset();
      throw;
    }
    std::memcpy(image_data + rows * sample_floats_, slots_[slot].data(),
                sample_floats_ * sizeof(float));
    label_data[rows] = dataset_.sample(sample).label;
    index_data[rows] = dataset_.sample(sample).index;
    if (draws.defined()) {
      const image::AugmentDraw& d = draws_[slot];
      int64_t* row = draws.data_ptr<int64_t>() + rows * 5;
      row[0] = d.top, row[1] = d.left, row[2] = d.height, row[3] = d.width, row[4] = d.flip;
    }
    pipeline_->release(k);
    ++rows;
  }
  if (rows == 0) return false;
  io::fault_point("batch");
  batch.images = images.narrow(0, 0, rows);
  batch.labels = labels.narrow(0, 0, rows);
  batch.index = index.narrow(0, 0, rows);
  batch.augment = draws.defined() ? draws.narrow(0, 0, rows) : torch::Tensor();
  return true;
}

}  // namespace vpet::data
