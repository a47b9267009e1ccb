#include "vpet/image/augment.h"

#include <cmath>

#include "vpet/error.h"
#include "vpet/image/augment_random.h"
#include "vpet/image/convert.h"
#include "vpet/image/geometry.h"

namespace vpet::image {
namespace {

// Python's round(): halves to even.
int python_round(double x) {
  return static_cast<int>(std::nearbyint(x));
}

Image gray_if_needed(const Image& image, const Preprocess& preprocess) {
  return preprocess.channels == 1 && image.channels == 3 ? to_gray(image) : image;
}

// torchvision's RandomResizedCrop.get_params.
AugmentDraw random_resized_box(const Augment& a, int height, int width, AugmentRandom& random) {
  const double area = double(height) * double(width);
  const double log_low = std::log(a.ratio[0]), log_high = std::log(a.ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * random.uniform(a.scale[0], a.scale[1]);
    const double aspect = std::exp(random.uniform(log_low, log_high));
    const int w = python_round(std::sqrt(target_area * aspect));
    const int h = python_round(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      AugmentDraw draw;
      draw.top = random.integer(0, height - h + 1);
      draw.left = random.integer(0, width - w + 1);
      draw.height = h;
      draw.width = w;
      return draw;
    }
  }
  // The fallback: a centre crop at the nearest allowed aspect ratio.
  const double in_ratio = double(width) / double(height);
  int w = width, h = height;
  if (in_ratio < a.ratio[0]) {
    h = python_round(w / a.ratio[0]);
  } else if (in_ratio > a.ratio[1]) {
    w = python_round(h * a.ratio[1]);
  }
  AugmentDraw draw;
  draw.top = (height - h) / 2;
  draw.left = (width - w) / 2;
  draw.height = h;
  draw.width = w;
  return draw;
}

const char* crop_name(Augment::Crop crop) {
  switch (crop) {
    case Augment::Crop::kNone:
      return "none";
    case Augment::Crop::kRandom:
      return "random";
    case Augment::Crop::kRandomResized:
      return "random-resized";
  }
  return "?";
}

}  // namespace

void validate(const Augment& a, const Preprocess& p) {
  if (!(a.hflip >= 0.0 && a.hflip <= 1.0)) throw UsageError("--hflip must be in [0, 1]");
  if (a.crop == Augment::Crop::kRandom && a.resize < p.size) {
    throw UsageError("--random-crop " + std::to_string(p.size) +
                     " is larger than the --train-resize " + std::to_string(a.resize) +
                     " image it is cut from");
  }
  if (a.crop == Augment::Crop::kRandomResized) {
    if (!(a.scale[0] > 0.0 && a.scale[0] <= a.scale[1] && a.scale[1] <= 1.0)) {
      throw UsageError("--rrc-scale must be A,B with 0 < A <= B <= 1");
    }
    if (!(a.ratio[0] > 0.0 && a.ratio[0] <= a.ratio[1] && std::isfinite(a.ratio[1]))) {
      throw UsageError("--rrc-ratio must be A,B with 0 < A <= B");
    }
  }
}

nlohmann::json to_json(const Augment& a) {
  nlohmann::json out = {{"crop", crop_name(a.crop)}, {"hflip", a.hflip}};
  if (a.crop == Augment::Crop::kRandom) out["resize"] = a.resize;
  if (a.crop == Augment::Crop::kRandomResized) {
    out["scale"] = a.scale;
    out["ratio"] = a.ratio;
  }
  return out;
}

Image augment_base(const Image& decoded, const Augment& a, const Preprocess& p) {
  switch (a.crop) {
    case Augment::Crop::kNone:
      return apply_geometry(decoded, p);
    case Augment::Crop::kRandom:
      return resize_shorter_side(gray_if_needed(decoded, p), a.resize, p.interp);
    case Augment::Crop::kRandomResized:
      return gray_if_needed(decoded, p);
  }
  return decoded;
}

AugmentDraw draw_augment(const Augment& a, const Preprocess& p, int base_height, int base_width,
                         std::uint64_t seed, std::int64_t epoch, std::int64_t index) {
  AugmentRandom random(seed, epoch, index);
  AugmentDraw draw;
  switch (a.crop) {
    case Augment::Crop::kNone:
      draw.height = base_height;
      draw.width = base_width;
      break;
    case Augment::Crop::kRandom:  // torchvision's RandomCrop.get_params
      draw.top = random.integer(0, base_height - p.size + 1);
      draw.left = random.integer(0, base_width - p.size + 1);
      draw.height = draw.width = p.size;
      break;
    case Augment::Crop::kRandomResized:
      draw = random_resized_box(a, base_height, base_width, random);
      break;
  }
  // RandomHorizontalFlip: torch.rand(1) < p.
  draw.flip = a.hflip > 0.0 && random.uniform(0.0, 1.0) < a.hflip;
  return draw;
}

Image apply_augment(const Image& base, const AugmentDraw& draw, const Augment& a,
                    const Preprocess& p) {
  Image out = a.crop == Augment::Crop::kNone
                  ? base
                  : crop(base, draw.top, draw.left, draw.height, draw.width);
  if (a.crop == Augment::Crop::kRandomResized) out = resize(out, p.size, p.size, p.interp);
  return draw.flip ? flip_horizontal(out) : out;
}

}  // namespace vpet::image
