#include "vpet/data/sample_pipeline.h"

#include <algorithm>

namespace vpet::data {

namespace {

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

SamplePipeline::SamplePipeline(size_t count, size_t window, int threads, Work work)
    : count_(count),
      window_(std::max<size_t>(1, window)),
      work_(std::move(work)),
      done_(window_, 0),
      errors_(window_) {
  const size_t n = std::min({static_cast<size_t>(resolve_threads(threads)), window_, count_});
  threads_.reserve(n);
  for (size_t t = 0; t < n; ++t) threads_.emplace_back(&SamplePipeline::run, this);
}

SamplePipeline::~SamplePipeline() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  claimable_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void SamplePipeline::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    claimable_.wait(lock, [&] { return stop_ || next_ >= count_ || next_ < released_ + window_; });
    if (stop_ || next_ >= count_) return;
    const size_t sample = next_++;
    const size_t slot = sample % window_;
    lock.unlock();
    std::exception_ptr error;
    try {
      work_(sample, slot);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    done_[slot] = 1;
    errors_[slot] = error;
    finished_.notify_all();
  }
}

size_t SamplePipeline::wait(size_t sample) {
  const size_t slot = sample % window_;
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [&] { return done_[slot] != 0; });
  if (errors_[slot]) std::rethrow_exception(errors_[slot]);
  return slot;
}

void SamplePipeline::release(size_t sample) {
  const size_t slot = sample % window_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_[slot] = 0;
    errors_[slot] = nullptr;
    released_ = sample + 1;
  }
  claimable_.notify_all();
}

}  // namespace vpet::data
