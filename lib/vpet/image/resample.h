// Resizing bit-identical to Pillow's Image.resize (ImagingResample, Pillow 9.4) on 8-bit
// images, which is what torchvision's Resize does to PIL images.
#pragma once

#include <string>

#include "vpet/image/image.h"

namespace vpet::image {

enum class Interp { bilinear, bicubic };

std::string to_string(Interp interp);

// Resizes to out_width x out_height (both >= 1) with Pillow's antialiasing convolution:
// the filter widens with the downscale factor. Same size returns a copy.
Image resize(const Image& image, int out_width, int out_height, Interp interp);

}  // namespace vpet::image
