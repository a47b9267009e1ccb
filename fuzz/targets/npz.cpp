// numpy .npz archives (JAX checkpoints), read with libzip.
#include "vpet/io/npz.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(npz) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::io::read_npz(file.path()); });
  return 0;
}
