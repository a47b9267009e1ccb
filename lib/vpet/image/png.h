// PNG decoding through libpng's low-level API, converting like Pillow's convert().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vpet/image/image.h"

namespace vpet::image {

// Gray and gray+alpha PNGs give 1 channel; RGB, RGBA and palette PNGs give RGB.
Image decode_png(const uint8_t* data, size_t size, const std::string& name);

}  // namespace vpet::image
