// The thread count of the BLAS library LibTorch multiplies matrices with.
#pragma once

namespace vpet::cli {

// torch::set_num_threads sizes LibTorch's OpenMP pool (and MKL's), not the
// pthread pool of OpenBLAS, which Debian's LibTorch calls for its matrix
// products: without this, -t 1 still multiplies on every core, and -t N
// runs N OpenMP threads beside as many BLAS threads as there are cores.
// Does nothing when the process has no OpenBLAS (a LibTorch built with MKL).
void set_blas_threads(int threads);

}  // namespace vpet::cli
