#include "vpet/image/image.h"

#include <atomic>

#include "vpet/error.h"

namespace vpet::image {

namespace {
std::atomic<long> g_max_pixels{kDefaultMaxPixels};
}  // namespace

void set_max_image_pixels(long pixels) {
  g_max_pixels = pixels;
}

long max_image_pixels() {
  return g_max_pixels;
}

void check_dimensions(long width, long height, const std::string& name) {
  if (width < 1 || height < 1)
    throw Error(name + ": image has no pixels (" + std::to_string(width) + "x" +
                std::to_string(height) + ")");
  const long limit = max_image_pixels();
  if (width > kMaxSide || height > kMaxSide)
    throw Error(name + ": image too large (" + std::to_string(width) + "x" +
                std::to_string(height) + "; at most " + std::to_string(kMaxSide) + " per side)");
  if (limit > 0 && width * height > limit)
    throw Error(name + ": image too large (" + std::to_string(width) + "x" +
                std::to_string(height) + " = " + std::to_string(width * height) +
                " pixels; at most " + std::to_string(limit) +
                ", a decompression-bomb guard: raise it with --max-image-pixels)");
}

Image make_image(int width, int height, int channels) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.assign(static_cast<size_t>(width) * height * channels, 0);
  return image;
}

}  // namespace vpet::image
