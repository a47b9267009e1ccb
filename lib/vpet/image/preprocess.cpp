#include "vpet/image/preprocess.h"

#include <cmath>
#include <cstring>

#include "vpet/error.h"
#include "vpet/image/convert.h"
#include "vpet/image/geometry.h"

namespace vpet::image {

void validate(const Preprocess& p) {
  if (p.size < 1)
    throw UsageError("preprocessing: size must be at least 1, got " + std::to_string(p.size));
  if (!(p.crop_fraction > 0.0 && p.crop_fraction <= 1.0))
    throw UsageError("preprocessing: crop fraction must be in (0, 1], got " +
                     std::to_string(p.crop_fraction));
  for (float s : p.std)
    if (!(s > 0.0f && std::isfinite(s)))
      throw UsageError("preprocessing: std must be positive, got " + std::to_string(s));
  for (float m : p.mean)
    if (!std::isfinite(m)) throw UsageError("preprocessing: mean must be finite");
  if (p.channels != 1 && p.channels != 3)
    throw UsageError("preprocessing: channels must be 1 or 3, got " + std::to_string(p.channels));
}

Image apply_geometry(const Image& image, const Preprocess& p) {
  validate(p);
  // Gray before resizing: resizing RGB then converting would round differently.
  const Image source = p.channels == 1 && image.channels == 3 ? to_gray(image) : Image();
  const Image& in = source.channels ? source : image;
  if (p.resize == ResizeMode::squash) return resize(in, p.size, p.size, p.interp);
  // Python's math.floor(size / crop_pct), as timm computes the scale size. With
  // crop_fraction <= 1 the resized image is never smaller than the crop.
  const int scale_size = static_cast<int>(std::floor(p.size / p.crop_fraction));
  return center_crop(resize_shorter_side(in, scale_size, p.interp), p.size);
}

void normalize(const Image& image, const Preprocess& p, float* out_chw) {
  validate(p);
  const Image source = p.channels == 1 && image.channels == 3 ? to_gray(image) : Image();
  const Image& in = source.channels ? source : image;
  const size_t plane = static_cast<size_t>(in.width) * in.height;
  for (int c = 0; c < p.channels; ++c) {
    const int from = in.channels == 1 ? 0 : c;
    const float mean = p.mean[c], std = p.std[c];
    float* out = out_chw + c * plane;
    for (size_t i = 0; i < plane; ++i) {
      // Kept as separate float operations in torchvision's order: div(255), sub_, div_.
      const float x = static_cast<float>(in.pixels[i * in.channels + from]) / 255.0f;
      out[i] = (x - mean) / std;
    }
  }
}

}  // namespace vpet::image
