#include "vpet/image/image.h"

#include "vpet/error.h"

namespace vpet::image {

void check_dimensions(long width, long height, const std::string& name) {
  if (width < 1 || height < 1)
    throw Error(name + ": image has no pixels (" + std::to_string(width) + "x" +
                std::to_string(height) + ")");
  if (width > kMaxSide || height > kMaxSide || width * height > kMaxPixels)
    throw Error(name + ": image too large (" + std::to_string(width) + "x" +
                std::to_string(height) + "; at most " + std::to_string(kMaxPixels) +
                " pixels and " + std::to_string(kMaxSide) + " per side)");
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
