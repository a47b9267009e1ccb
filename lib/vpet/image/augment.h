// Train-time augmentation, as the papers' training transforms do it to PIL
// images (torchvision 0.14):
//
//   crop-flip  Resize(R) (the shorter side) → RandomCrop(S) → RandomHorizontalFlip(p):
//              VPT's FGVC training transform (src/data/transforms.py,
//              R = 256 for S = 224; SPT's FGVC code is VPT's)
//   rrc-flip   RandomResizedCrop(S, scale, ratio) → RandomHorizontalFlip(p):
//              Self-Prompt's FGVC transform (Dataset/FGVC.py, interpolation 3)
//   flip       RandomHorizontalFlip(p) after the evaluation geometry
//
// Each sample's draw in each epoch (its crop box and whether it is flipped)
// comes from (seed, epoch, sample index) alone — not from a shared stream —
// so it does not depend on the thread count, the batch order or a --resume.
// The draws follow torchvision's rules (RandomCrop's uniform offsets;
// RandomResizedCrop's ten tries of a uniform area fraction and a log-uniform
// aspect ratio, then its centre-crop fallback; Python's round(), halves to
// even), from vpet's own random numbers.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "vpet/image/image.h"
#include "vpet/image/preprocess.h"

namespace vpet::image {

struct Augment {
  enum class Crop { kNone, kRandom, kRandomResized };
  Crop crop = Crop::kNone;
  int resize = 0;  // kRandom: the shorter side first resized to this (≥ the crop)
  std::array<double, 2> scale{0.08, 1.0};             // kRandomResized: area fraction
  std::array<double, 2> ratio{3.0 / 4.0, 4.0 / 3.0};  // kRandomResized: aspect w/h
  double hflip = 0.0;                                 // probability

  bool active() const { return crop != Crop::kNone || hflip > 0.0; }
};

// Throws vpet::UsageError naming the option for what cannot apply: a crop
// larger than the resized image, a scale or ratio range upside down or out of
// (0, ∞) (scale within (0, 1]), a flip probability outside [0, 1].
void validate(const Augment& augment, const Preprocess& preprocess);

// {"crop": "none"|"random"|"random-resized", "resize", "scale", "ratio", "hflip"}.
nlohmann::json to_json(const Augment& augment);

// One sample's draw: the box in the base image and the flip.
struct AugmentDraw {
  int top = 0, left = 0, height = 0, width = 0;
  bool flip = false;
};

// What a training cache keeps of a decoded image (made gray first for a
// 1-channel model): kRandom the image resized (shorter side to `resize`);
// kRandomResized the image itself; kNone the evaluation geometry's result.
Image augment_base(const Image& decoded, const Augment& augment, const Preprocess& preprocess);

// The draw of sample `index` in `epoch` on a base image of the given size.
AugmentDraw draw_augment(const Augment& augment, const Preprocess& preprocess, int base_height,
                         int base_width, std::uint64_t seed, std::int64_t epoch,
                         std::int64_t index);

// The box cut from `base` (and for kRandomResized resized to size x size
// with preprocess.interp, as PIL's crop then resize), then flipped.
Image apply_augment(const Image& base, const AugmentDraw& draw, const Augment& augment,
                    const Preprocess& preprocess);

}  // namespace vpet::image
