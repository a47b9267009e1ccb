#include "vpet/image/convert.h"

namespace vpet::image {

Image to_gray(const Image& image) {
  if (image.channels == 1) return image;
  Image gray = make_image(image.width, image.height, 1);
  const uint8_t* rgb = image.pixels.data();
  for (uint8_t& out : gray.pixels) {
    out = static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
    rgb += 3;
  }
  return gray;
}

}  // namespace vpet::image
