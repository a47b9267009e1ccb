// Decoding JPEG and PNG files to the pixels a PyTorch user gets from
// `PIL.Image.open(path).convert("RGB")` (or "L" for gray files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vpet/image/image.h"

namespace vpet::image {

// Decodes a JPEG or PNG held in memory; the format is taken from the magic bytes, never
// from the name. Gray files (and gray+alpha PNGs) give 1 channel, everything else RGB;
// alpha is dropped, as Pillow's convert("RGB") does. `name` (usually the path) is used
// only in error messages. Throws vpet::Error on anything it cannot decode completely.
Image decode_image(const uint8_t* data, size_t size, const std::string& name);

// Reads and decodes the file at `path`; throws vpet::Error naming the path.
Image read_image(const std::string& path);

}  // namespace vpet::image
