// Colour conversions with Pillow's integer arithmetic.
#pragma once

#include "vpet/image/image.h"

namespace vpet::image {

// RGB to gray with Pillow's convert("L"): L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16,
// ITU-R 601-2 luma in 16-bit fixed point. A gray image is returned unchanged.
Image to_gray(const Image& image);

}  // namespace vpet::image
