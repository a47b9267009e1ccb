#include "vpet/eval/resources.h"

#include <sys/resource.h>

namespace vpet::eval {

std::int64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return std::int64_t(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

std::int64_t peak_memory_bytes(const torch::Device& device) {
  // The CPU-only LibTorch this builds against by default has no CUDA
  // allocator statistics in its public C++ headers; the process peak is the
  // honest number there, and on a GPU build it still bounds host memory.
  (void)device;
  return peak_rss_bytes();
}

}  // namespace vpet::eval
