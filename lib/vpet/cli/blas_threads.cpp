#include "vpet/cli/blas_threads.h"

#include <dlfcn.h>

namespace vpet::cli {

void set_blas_threads(int threads) {
  // Looked up at run time: linking OpenBLAS directly would tie vpet to it.
  using SetThreads = void (*)(int);
  auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set) set(threads);
}

}  // namespace vpet::cli
