// numpy .npy arrays.
#include "vpet/io/npy.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(npy) {
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::io::decode_npy(data, size, "fuzz.npy"); });
  return 0;
}
