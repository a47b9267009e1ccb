#include "vpet/image/geometry.h"

#include <cstring>
#include <stdexcept>

namespace vpet::image {
namespace {

// Python's round(d / 2.0) for d >= 0, which rounds halves to even: torchvision's
// CenterCrop computes its offsets with it.
int half_rounded_to_even(int d) {
  const int half = d / 2;
  return d % 2 == 1 && half % 2 == 1 ? half + 1 : half;
}

}  // namespace

Image resize_shorter_side(const Image& image, int short_side, Interp interp) {
  const bool portrait = image.width <= image.height;
  const int shorter = portrait ? image.width : image.height;
  const int longer = portrait ? image.height : image.width;
  const int new_long = static_cast<int>(static_cast<double>(short_side) * longer / shorter);
  return portrait ? resize(image, short_side, new_long, interp)
                  : resize(image, new_long, short_side, interp);
}

Image crop(const Image& image, int top, int left, int height, int width) {
  if (top < 0 || left < 0 || height < 1 || width < 1 || top + height > image.height ||
      left + width > image.width) {
    throw std::invalid_argument("crop: the box is not inside the image");
  }
  Image out = make_image(width, height, image.channels);
  const size_t row = static_cast<size_t>(width) * image.channels;
  for (int y = 0; y < height; ++y) {
    std::memcpy(&out.pixels[y * row],
                &image.pixels[(static_cast<size_t>(top + y) * image.width + left) * image.channels],
                row);
  }
  return out;
}

Image center_crop(const Image& image, int size) {
  return crop(image, half_rounded_to_even(image.height - size),
              half_rounded_to_even(image.width - size), size, size);
}

Image flip_horizontal(const Image& image) {
  Image out = make_image(image.width, image.height, image.channels);
  const int c = image.channels;
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* in_row = &image.pixels[static_cast<size_t>(y) * image.width * c];
    uint8_t* out_row = &out.pixels[static_cast<size_t>(y) * image.width * c];
    for (int x = 0; x < image.width; ++x) {
      std::memcpy(out_row + static_cast<size_t>(image.width - 1 - x) * c, in_row + x * c, c);
    }
  }
  return out;
}

}  // namespace vpet::image
