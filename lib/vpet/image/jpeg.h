// JPEG decoding through the TurboJPEG API (libjpeg-turbo, the library Pillow links).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vpet/image/image.h"

namespace vpet::image {

// Gray JPEGs give 1 channel; YCbCr, RGB, CMYK and YCCK JPEGs give RGB.
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name);

}  // namespace vpet::image
