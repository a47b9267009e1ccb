// Ordered parallel processing of a dataset's samples: a pool of threads runs
// work(sample, slot) for samples 0..n-1, at most `window` samples ahead of the
// consumer, and the consumer takes the results strictly in sample order.
// Results therefore never depend on thread timing, and memory stays bounded
// by the window however slow the consumer is. Internal to vpet::data.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vpet::data {

class SamplePipeline {
 public:
  // Writes its result into the caller's storage for `slot` (sample % window).
  // An exception it throws is handed to the consumer by wait().
  using Work = std::function<void(size_t sample, size_t slot)>;

  // threads <= 0 means all cores. Starts the threads at once.
  SamplePipeline(size_t count, size_t window, int threads, Work work);
  // Stops claiming new samples and joins the threads (each finishes the
  // sample it is on), so destroying a pipeline mid-stream never hangs.
  ~SamplePipeline();
  SamplePipeline(const SamplePipeline&) = delete;
  SamplePipeline& operator=(const SamplePipeline&) = delete;

  size_t window() const { return window_; }

  // Blocks until `sample` is done and returns its slot, or rethrows the
  // exception its work threw. Samples are waited for and released in order.
  size_t wait(size_t sample);
  // Gives the sample's slot back for sample + window.
  void release(size_t sample);

 private:
  void run();

  const size_t count_;
  const size_t window_;
  const Work work_;
  std::mutex mutex_;
  std::condition_variable claimable_;  // a slot was released, or stop
  std::condition_variable finished_;   // a sample was done
  size_t next_ = 0;                    // next sample to claim
  size_t released_ = 0;                // samples the consumer is done with
  bool stop_ = false;
  std::vector<char> done_;                  // per slot
  std::vector<std::exception_ptr> errors_;  // per slot
  std::vector<std::thread> threads_;
};

}  // namespace vpet::data
