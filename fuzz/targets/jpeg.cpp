// JPEG decoding (libjpeg-turbo's TurboJPEG API).
#include "vpet/image/jpeg.h"
#include "fuzz/fuzz.h"

VPET_FUZZ_TARGET(jpeg) {
  vpet::fuzz::expect_clean_failure([&] { (void)vpet::image::decode_jpeg(data, size, "fuzz.jpg"); });
  return 0;
}
