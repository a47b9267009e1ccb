// peft-train's train-time augmentation options (image/augment.h): a preset
// and the options it sets, any of which may be given on its own.
//
//   --augment none|crop-flip|rrc-flip
//   --train-resize N --random-crop N      crop-flip's Resize(N) and RandomCrop
//   --rrc-scale A,B --rrc-ratio A,B       rrc-flip's RandomResizedCrop ranges
//   --hflip P                             the flip probability (presets: 0.5)
#pragma once

#include <cxxopts.hpp>

#include "vpet/image/augment.h"
#include "vpet/image/preprocess.h"

namespace vpet::cli {

void add_augment_options(cxxopts::Options& options);

// The augmentation for images preprocessed as `preprocess` (its size is the
// crop's). Throws vpet::UsageError naming the option for a value that cannot
// apply, or a random crop and a random resized crop asked for together.
image::Augment read_augment_options(const cxxopts::ParseResult& result,
                                    const image::Preprocess& preprocess);

}  // namespace vpet::cli
