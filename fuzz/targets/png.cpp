// PNG decoding (libpng, converted as Pillow's convert() does).
#include "vpet/image/png.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(png) {
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::image::decode_png(data, size, "fuzz.png"); });
  return 0;
}
