// The decoded image every other part of vpet works on: 8-bit samples, rows top to bottom,
// channels interleaved (HWC), so it maps 1:1 onto a numpy array from Pillow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vpet::image {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 (gray, Pillow "L") or 3 (RGB)
  std::vector<uint8_t> pixels;
};

// Decoders refuse larger images before allocating anything, so a hostile header cannot
// exhaust memory. 2^28 pixels (16384 x 16384) is far beyond any ViT dataset image.
constexpr long kMaxPixels = 1L << 28;
constexpr long kMaxSide = 1000000;  // libpng's default per-side limit

// Throws vpet::Error naming `name` unless 1 <= width, height <= kMaxSide and
// width * height <= kMaxPixels.
void check_dimensions(long width, long height, const std::string& name);

// An image with every sample set to zero.
Image make_image(int width, int height, int channels);

}  // namespace vpet::image
