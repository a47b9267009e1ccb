#include "vpet/eval/resources.h"

#include <sys/resource.h>

#ifdef VPET_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace vpet::eval {

std::int64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return std::int64_t(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

std::int64_t peak_memory_bytes(const torch::Device& device) {
#ifdef VPET_CUDA
  if (device.is_cuda()) {
    // What torch.cuda.max_memory_allocated() reports: the peak of the bytes
    // in live tensors (index 0 of the stat array: all pools together), not
    // the allocator's reserved cache.
    const c10::DeviceIndex index =
        device.has_index() ? device.index() : c10::cuda::current_device();
    return c10::cuda::CUDACachingAllocator::getDeviceStats(index).allocated_bytes[0].peak;
  }
#endif
  // On the CPU (and in a CPU-only LibTorch) the process peak is the honest
  // number: tensors live in the process's own memory.
  (void)device;
  return peak_rss_bytes();
}

}  // namespace vpet::eval
