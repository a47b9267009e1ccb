// vit-extract's features streams, as peft-train --features reads them.
#include "fuzz/fuzz.h"
#include "vpet/train/examples.h"

VPET_FUZZ_TARGET(features) {
  const vpet::fuzz::InputFile file(data, size);
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::train::read_features(file.path()); });
  return 0;
}
