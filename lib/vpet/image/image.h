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
// exhaust memory: more than max_image_pixels() pixels (a decompression bomb, as Pillow's
// guard calls it) or a side over kMaxSide.
constexpr long kDefaultMaxPixels = 178956970;  // Pillow's Image.MAX_IMAGE_PIXELS
constexpr long kMaxSide = 1000000;             // libpng's default per-side limit

// The pixel limit of every decode in this process (--max-image-pixels; 0: none
// but kMaxSide). Set it before decoding starts; loader threads read it.
void set_max_image_pixels(long pixels);
long max_image_pixels();

// Throws vpet::Error naming `name` unless 1 <= width, height <= kMaxSide and
// width * height <= max_image_pixels() (when it is not 0).
void check_dimensions(long width, long height, const std::string& name);

// An image with every sample set to zero.
Image make_image(int width, int height, int channels);

}  // namespace vpet::image
