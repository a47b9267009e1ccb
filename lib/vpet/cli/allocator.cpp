#include "vpet/cli/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace vpet::cli {

void keep_freed_memory() {
#if defined(__GLIBC__)
  // Setting either turns off glibc's dynamic thresholds, so both are set.
  constexpr int kLargestHeapBlock = 32 * 1024 * 1024;
  mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock);
  mallopt(M_TRIM_THRESHOLD, -1);  // -1: never trim the top of the heap
#endif
}

}  // namespace vpet::cli
