// safetensors weight files: header, offsets, dtypes, the tensors.
#include "vpet/io/safetensors.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(safetensors) {
  vpet::fuzz::expect_clean_failure(
      [&] { (void)vpet::io::decode_safetensors(data, size, "fuzz.safetensors"); });
  return 0;
}
